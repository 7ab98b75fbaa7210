"""A tiny, deterministic artifact built with onnx.helper: no torch, builds in milliseconds.

The graph follows the artifact contract (see functions/nlp/manifest.py): embedding lookup,
masked mean pooling, then L2 normalisation (embed) or a linear layer + softmax (classify).
``reference_outputs`` recomputes the same maths in numpy, independent of onnxruntime.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from functions.nlp.manifest import MANIFEST_FILE, MODEL_FILE, TOKENIZER_FILE, Manifest, file_entry
from functions.store.layout import VERSIONS_FILE

WORDS = ("good great love happy fine bad awful hate sad terrible movie food day the a is was "
         "not very really it this that service ok meh average weather café naïve 😀").split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
VOCAB = {tok: i for i, tok in enumerate(SPECIAL + WORDS)}
DIM = 8
LABELS = ("negative", "neutral", "positive")


def build_tokenizer(max_length: int) -> Tokenizer:
    tok = Tokenizer(models.WordLevel(vocab=VOCAB, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", VOCAB["[CLS]"]), ("[SEP]", VOCAB["[SEP]"])]
    )
    # like the packaged MiniLM tokenizer.json: fixed padding that the runtime must turn off
    tok.enable_padding(pad_id=0, pad_token="[PAD]", length=max_length)
    tok.enable_truncation(max_length=max_length)
    return tok


def _weights(task: str, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = {"emb": rng.normal(size=(len(VOCAB), DIM)).astype(np.float32)}
    if task == "classify":
        w["W"] = rng.normal(size=(DIM, len(LABELS))).astype(np.float32)
        w["b"] = rng.normal(size=(len(LABELS),)).astype(np.float32)
    return w


def build_graph(task: str, seed: int = 0) -> onnx.ModelProto:
    w = _weights(task, seed)
    inits = [numpy_helper.from_array(w["emb"], "emb"),
             numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
             numpy_helper.from_array(np.array([-1], dtype=np.int64), "axis_last")]
    nodes = [
        helper.make_node("Gather", ["emb", "input_ids"], ["tok"]),  # [B,S,D]
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axis_last"], ["mask3"]),
        helper.make_node("Mul", ["tok", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "axis1"], ["count"], keepdims=0),
        helper.make_node("Div", ["summed", "count"], ["pooled"]),
    ]
    if task == "embed":
        nodes += [helper.make_node("ReduceL2", ["pooled"], ["norm"], axes=[-1], keepdims=1),
                  helper.make_node("Div", ["pooled", "norm"], ["embeddings"])]
        out = helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", DIM])
    else:
        inits += [numpy_helper.from_array(w["W"], "W"), numpy_helper.from_array(w["b"], "b")]
        nodes += [helper.make_node("MatMul", ["pooled", "W"], ["mm"]),
                  helper.make_node("Add", ["mm", "b"], ["logits"]),
                  helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1)]
        out = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(LABELS)])
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    graph = helper.make_graph(nodes, f"tiny-{task}", inputs, [out], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def reference_outputs(task: str, texts: list[str], max_length: int = 16, seed: int = 0) -> np.ndarray:
    """The same maths in plain numpy, one text at a time (no padding at all)."""
    w = _weights(task, seed)
    tok = build_tokenizer(max_length)
    tok.no_padding()
    rows = []
    for text in texts:
        ids = tok.encode(text).ids
        pooled = w["emb"][ids].mean(axis=0)
        if task == "embed":
            rows.append(pooled / np.linalg.norm(pooled))
        else:
            logits = pooled @ w["W"] + w["b"]
            e = np.exp(logits - logits.max())
            rows.append(e / e.sum())
    return np.stack(rows)


def write_artifact(directory: str | Path, task: str, *, name: str | None = None, version: str = "1-fp32",
                   max_length: int = 16, seed: int = 0) -> Manifest:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(build_graph(task, seed), str(directory / MODEL_FILE))
    build_tokenizer(max_length).save(str(directory / TOKENIZER_FILE))
    manifest = Manifest(
        name=name or f"tiny-{task}",
        version=version,
        task=task,
        max_length=max_length,
        labels=LABELS if task == "classify" else (),
        dim=DIM if task == "embed" else None,
        pooling="mean" if task == "embed" else None,
        normalize=task == "embed",
        quantization="fp32",
        opset=17,
        source={"package": "infra.local.tiny_artifact", "seed": seed},
        metrics={"note": "random weights"},
        created_at="2026-01-01T00:00:00Z",
        files={MODEL_FILE: file_entry(directory / MODEL_FILE),
               TOKENIZER_FILE: file_entry(directory / TOKENIZER_FILE)},
    )
    (directory / MANIFEST_FILE).write_text(manifest.to_json())
    return manifest


def write_registry(root: str | Path) -> dict[str, Manifest]:
    """A local dist-like tree: <root>/<name>/<version>/ + <root>/<name>/{aliases,versions}.json."""
    root = Path(root)
    made = {}
    for task, name in (("classify", "tiny-sentiment"), ("embed", "tiny-embed")):
        for version, seed in (("1-fp32", 0), ("2-fp32", 1)):
            made[f"{name}@{version}"] = write_artifact(root / name / version, task, name=name,
                                                       version=version, seed=seed)
        (root / name / "aliases.json").write_text(json.dumps({"prod": "1-fp32", "candidate": "2-fp32"}))
        (root / name / VERSIONS_FILE).write_text(json.dumps({"1": "1-fp32", "2": "2-fp32"}))  # version numbers
    return made
