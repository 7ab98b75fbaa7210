"""Long inputs and embedding encodings: what chunking costs, what quantised embeddings lose.

- ``chunking``: a document of about 2,000 tokens (corpus texts joined) through
  ``on_overflow: chunk`` (all windows in the same bucketed micro-batches, then pooled), against
  the sum of its windows run one call each. Goal: chunk ≤ 1.1× the separate windows.
- ``embedding_types``: int8 / uint8 / binary (functions/nlp/embedding_types.py) against float
  on corpus pairs: cosine of each quantised vector with its float vector, and recall@10 of
  nearest-neighbour search (queries against a corpus) measured against float's own top 10.

Run alone (models built): ``.venv/bin/python -m bench.long_inputs``; ``make bench`` runs it too.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from bench.stats import summary, time_calls
from functions.store.layout import local_aliases

DOC_TOKENS = 2000
TOP_K = 10


def content_tokens(model, text: str) -> int:
    """Tokens of a text without the special tokens (BERT-family: [CLS] and [SEP] per window)."""
    from functions.nlp.overflow import Overflow

    windows = model.windows([text], Overflow("chunk", overlap=0))
    return int(windows.lengths.sum() - 2 * windows.count)


def document(model, texts: list[str], tokens: int = DOC_TOKENS) -> str:
    """Corpus texts joined until the document has ``tokens`` tokens."""
    parts: list[str] = []
    count = 0
    for text in texts:
        parts.append(text)
        count += content_tokens(model, text)
        if count >= tokens:
            break
    return " ".join(parts)


def chunking(directory: Path, texts: list[str], *, repeats: int = 15, threads: int = 1,
             batch_size: int = 8) -> dict:
    """One row: a ~2,000-token document chunked in one call vs its windows run one call each."""
    from functions.nlp import InferenceModel
    from functions.nlp.overflow import Overflow, Windows

    model = InferenceModel.from_dir(directory, threads=threads, batch_size=batch_size)
    doc = document(model, texts)
    overflow = Overflow("chunk")
    windows = model.windows([doc], overflow)
    singles = [Windows(ids=[ids], owner=np.zeros(1, dtype=np.int64), truncated=np.zeros(1, dtype=bool), n_texts=1)
               for ids in windows.ids]
    def together() -> None:
        model.run([doc], overflow=overflow)

    def separately() -> None:
        for single in singles:
            model.run_windows(single)

    # interleaved, so that the machine's drift (2 shared cores) hits both sides alike
    samples: dict[str, list[float]] = {"together": [], "apart": []}
    for _ in range(repeats):
        samples["together"] += time_calls(together, repeats=1, warmup=1)
        samples["apart"] += time_calls(separately, repeats=1, warmup=1)
    chunked, apart = summary(samples["together"])["p50"], summary(samples["apart"])["p50"]
    return {"model": model.manifest.name, "version": model.manifest.version, "threads": threads,
            "doc_tokens": content_tokens(model, doc), "windows": windows.count,
            "window_tokens": model.manifest.max_length, "chunk_ms_p50": round(chunked, 2),
            "windows_apart_ms_p50": round(apart, 2), "chunk_vs_apart": round(chunked / apart, 3),
            "goal": "<= 1.1"}


def embedding_types(directory: Path, texts: list[str], *, queries: int = 200) -> list[dict]:
    """Quantised embeddings vs float on corpus pairs (cosine, and recall@10 against float's top 10)."""
    from functions.nlp import InferenceModel
    from functions.nlp.embedding_types import to_binary, to_int8, to_uint8

    model = InferenceModel.from_dir(directory, threads=1, batch_size=32)
    vectors = model.run(texts).outputs.astype(np.float32)
    q, docs = vectors[:queries], vectors[queries:]
    k = min(TOP_K, len(docs))

    def top(scores: np.ndarray) -> np.ndarray:
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]

    truth = top(q @ docs.T)

    def recall(found: np.ndarray) -> float:
        return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, truth)]))

    def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)

    rows = []
    for name, encode, decode in (("int8", to_int8, lambda x: x.astype(np.float32)),
                                 ("uint8", to_uint8, lambda x: x.astype(np.float32) - 128)):
        dq, dd = decode(encode(q)), decode(encode(docs))
        cos = cosine_rows(decode(encode(vectors)), vectors)
        scores = (dq @ dd.T) / np.outer(np.linalg.norm(dq, axis=1), np.linalg.norm(dd, axis=1))
        rows.append({"type": name, "bytes_per_vector": vectors.shape[1], "cosine_vs_float_mean": round(float(
            cos.mean()), 5), "cosine_vs_float_min": round(float(cos.min()), 5),
            f"recall@{k}_vs_float": round(recall(top(scores)), 4)})
    bq, bd = np.unpackbits(to_binary(q), axis=1), np.unpackbits(to_binary(docs), axis=1)
    hamming = (bq[:, None, :] != bd[None, :, :]).sum(-1)
    rows.append({"type": "binary", "bytes_per_vector": int(to_binary(q).shape[1]), "cosine_vs_float_mean": None,
                 "cosine_vs_float_min": None, f"recall@{k}_vs_float": round(recall(top(-hamming)), 4)})
    rows.insert(0, {"type": "float", "bytes_per_vector": 4 * vectors.shape[1], "cosine_vs_float_mean": 1.0,
                    "cosine_vs_float_min": 1.0, f"recall@{k}_vs_float": 1.0})
    for row in rows:
        row.update({"model": model.manifest.name, "queries": len(q), "corpus": len(docs)})
    return rows


def prod(name: str) -> Path:
    from bench.raw import DIST

    return DIST / name / (local_aliases(DIST, name) or {})["prod"]


def chunking_rows(texts: list[str], repeats: int) -> list[dict]:
    """The chunking row of each default model (prod variant)."""
    return [chunking(prod(name), texts, repeats=repeats) for name in ("minilm-embed", "sentiment")]


def embedding_type_rows(texts: list[str]) -> list[dict]:
    return embedding_types(prod("minilm-embed"), texts[:2000])


def main() -> int:
    from bench.corpus import load_texts
    from bench.raw import DIST

    if local_aliases(DIST, "minilm-embed") is None:
        print("error: the default models are not built: run `make models` first", file=sys.stderr)
        return 2
    texts = load_texts(2000)
    print(json.dumps({"chunking": chunking_rows(texts, repeats=10), "embedding_types": embedding_type_rows(texts)},
                     indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
