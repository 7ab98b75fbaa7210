"""Tokenizer handling shared by training, export and evaluation (same rules as the runtime)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from tokenizers import Tokenizer


class SourceError(ValueError):
    """A model source directory is missing or unusable."""


def load_tokenizer(source: str | Path, max_length: int) -> Tokenizer:
    """The source's fast tokenizer, unpadded, truncating at ``max_length``."""
    path = Path(source) / "tokenizer.json"
    if path.is_file():
        tok = Tokenizer.from_file(str(path))
    else:  # a slow-tokenizer-only directory: let transformers convert it once
        try:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(str(source), use_fast=True).backend_tokenizer
        except Exception as exc:  # noqa: BLE001 - any failure means "no usable tokenizer"
            raise SourceError(f"{source}: no tokenizer.json and no convertible tokenizer ({exc})") from exc
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    return tok


def pad_id(tok: Tokenizer) -> int:
    pid = tok.token_to_id("[PAD]")
    return int(pid if pid is not None else 0)


def save_artifact_tokenizer(tok: Tokenizer, path: str | Path, max_length: int) -> None:
    """Write tokenizer.json with dynamic padding (longest in batch) and manifest truncation.

    The packaged MiniLM tokenizer pads every text to 128 tokens; a served request should
    pay only for the tokens of its longest text.
    """
    pid = pad_id(tok)
    tok.enable_padding(pad_id=pid, pad_token=tok.id_to_token(pid) or "[PAD]")  # length=None: longest
    tok.enable_truncation(max_length=max_length)
    tok.save(str(path))
    tok.no_padding()


def encode(tok: Tokenizer, texts: Sequence[str]) -> list[np.ndarray]:
    return [np.asarray(e.ids, dtype=np.int64) for e in tok.encode_batch(list(texts))]


def pad(rows: Sequence[np.ndarray], pid: int) -> dict[str, np.ndarray]:
    """Right-pad to the longest row: input_ids, attention_mask, token_type_ids (int64)."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pid, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Inference batches of similar length (less padding); callers restore the order."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


__all__ = ["SourceError", "load_tokenizer", "pad_id", "save_artifact_tokenizer", "encode", "pad",
           "length_sorted_batches"]
