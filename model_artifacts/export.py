"""PyTorch -> ONNX with post-processing inside the graph, plus a parity check.

The graph contract (functions/nlp/manifest.py): inputs input_ids, attention_mask and, when
the model takes them, token_type_ids (int64 [batch, sequence]); one output, "probabilities"
(softmax in graph) for classify or "embeddings" (masked mean pooling + L2 norm) for embed.
"""
from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .config import OPSET
from .errors import ParityError
from .tokenization import encode, pad, pad_id

TASKS = ("classify", "embed")
# fp32 ONNX vs PyTorch, same weights: only kernel/summation order differs.
PARITY_ATOL = {"classify": 1e-4, "embed": 1e-4}
PARITY_TEXTS = (
    "I love this!",
    "Terrible service, never again.",
    "The meeting is at 3pm on Tuesday in room 204, bring the quarterly numbers please.",
    "ok",
    "Café naïve façade 😀 – mixed scripts: Привет мир, こんにちは",
    "@user RT this is a much longer tweet about self-driving cars and whether anyone would "
    "trust them on a motorway at night in the rain http://t.co/abc #driverless",
)


class ClassifyWrapper(nn.Module):
    """Sequence classifier -> softmax probabilities."""

    def __init__(self, model: nn.Module, use_token_types: bool) -> None:
        super().__init__()
        self.model = model
        self.use_token_types = use_token_types

    def forward(self, input_ids, attention_mask, token_type_ids=None):  # noqa: D401
        kwargs = {"token_type_ids": token_type_ids} if self.use_token_types else {}
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits
        return torch.softmax(logits, dim=-1)


class EmbedWrapper(nn.Module):
    """Encoder -> masked mean pooling -> L2 normalisation (sentence-transformers recipe)."""

    def __init__(self, model: nn.Module, use_token_types: bool) -> None:
        super().__init__()
        self.model = model
        self.use_token_types = use_token_types

    def forward(self, input_ids, attention_mask, token_type_ids=None):  # noqa: D401
        kwargs = {"token_type_ids": token_type_ids} if self.use_token_types else {}
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2.0, dim=-1, eps=1e-12)


@dataclass
class LoadedModel:
    wrapper: nn.Module
    task: str
    labels: tuple[str, ...]
    use_token_types: bool
    dim: int | None

    @property
    def input_names(self) -> list[str]:
        names = ["input_ids", "attention_mask"]
        return names + ["token_type_ids"] if self.use_token_types else names

    @property
    def output_name(self) -> str:
        return "probabilities" if self.task == "classify" else "embeddings"


def load_torch(source: str | Path, task: str, labels: Sequence[str] | None = None) -> LoadedModel:
    """Load a Hugging Face model directory for ``task`` and wrap it for export (eval mode)."""
    from transformers import AutoModel, AutoModelForSequenceClassification

    from .tokenization import SourceError

    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
    source = Path(source)
    if not source.is_dir():
        raise SourceError(f"model source directory not found: {source}")
    if not (source / "config.json").is_file():
        raise SourceError(f"{source} has no config.json: not a Hugging Face model directory")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if task == "classify":
        model = AutoModelForSequenceClassification.from_pretrained(str(source))
        id2label = model.config.id2label
        names = tuple(labels) if labels else tuple(id2label[i] for i in range(len(id2label)))
        if len(names) != model.config.num_labels:
            raise ValueError(f"{len(names)} labels given but the model has {model.config.num_labels} outputs")
        dim = None
    else:
        model = AutoModel.from_pretrained(str(source))
        names, dim = (), int(model.config.hidden_size)
    model.eval()
    base = getattr(model, model.base_model_prefix, model)
    use_tt = "token_type_ids" in inspect.signature(base.forward).parameters and \
        int(getattr(model.config, "type_vocab_size", 0) or 0) > 0
    wrapper = (ClassifyWrapper if task == "classify" else EmbedWrapper)(model, use_tt).eval()
    return LoadedModel(wrapper, task, names, use_tt, dim)


def torch_batch(batch: dict[str, np.ndarray], names: Sequence[str]) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(batch[n]) for n in names)


def export_onnx(loaded: LoadedModel, tokenizer, path: str | Path, opset: int = OPSET) -> None:
    """Legacy (TorchScript) exporter, opset 17, dynamic batch and sequence axes.

    The example batch holds texts of different lengths so it contains padding: without it
    the tracer can specialise the attention-mask path away.
    """
    batch = pad(encode(tokenizer, PARITY_TEXTS[:2]), pad_id(tokenizer))
    assert batch["attention_mask"].min() == 0, "example batch must contain padding"
    names = loaded.input_names
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {loaded.output_name: {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(loaded.wrapper, torch_batch(batch, names), str(path), input_names=names,
                          output_names=[loaded.output_name], dynamic_axes=axes, opset_version=opset,
                          do_constant_folding=True, dynamo=False)


def onnx_session(path: str | Path, threads: int = 2):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def run_onnx(session, rows: Sequence[np.ndarray], pid: int, batch_size: int = 64) -> np.ndarray:
    """Outputs for token rows in input order, batched by similar length."""
    from .tokenization import length_sorted_batches

    wanted = {i.name for i in session.get_inputs()}
    out_name = session.get_outputs()[0].name
    results: list[np.ndarray | None] = [None] * len(rows)
    for idx in length_sorted_batches([len(r) for r in rows], batch_size):
        feed = {k: v for k, v in pad([rows[i] for i in idx], pid).items() if k in wanted}
        out = session.run([out_name], feed)[0]
        for j, i in enumerate(idx):
            results[i] = out[j]
    return np.stack(results).astype(np.float32)  # type: ignore[arg-type]


def parity_check(loaded: LoadedModel, tokenizer, path: str | Path, texts: Sequence[str] = PARITY_TEXTS,
                 atol: float | None = None) -> float:
    """Max abs difference ONNX vs PyTorch on padded batches and single texts; raise ParityError."""
    atol = PARITY_ATOL[loaded.task] if atol is None else atol
    session = onnx_session(path)
    pid = pad_id(tokenizer)
    rows = encode(tokenizer, texts)
    worst = 0.0
    for group in ([rows], [[r] for r in rows]):  # one padded batch, then each text alone
        for chunk in group:
            batch = pad(chunk, pid)
            with torch.no_grad():
                expected = loaded.wrapper(*torch_batch(batch, loaded.input_names)).numpy()
            feed = {n: batch[n] for n in loaded.input_names}
            got = session.run([loaded.output_name], feed)[0]
            if got.shape != expected.shape:
                raise ParityError(f"ONNX output shape {got.shape} != PyTorch {expected.shape}")
            worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - expected))))
    if not worst <= atol:
        raise ParityError(f"ONNX export of {loaded.task} model fails parity with PyTorch: "
                          f"max abs diff {worst:.3g} > tolerance {atol:g}")
    return worst


__all__ = ["ParityError", "ClassifyWrapper", "EmbedWrapper", "LoadedModel", "load_torch", "export_onnx",
           "parity_check", "onnx_session", "run_onnx", "PARITY_ATOL", "PARITY_TEXTS", "TASKS"]
