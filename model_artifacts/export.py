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
from .serving import onnx_session, run_onnx
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


class TaskWrapper(nn.Module):
    """A Hugging Face model with the graph contract's inputs (token_type_ids only when it takes them)."""

    def __init__(self, model: nn.Module, use_token_types: bool) -> None:
        super().__init__()
        self.model = model
        self.use_token_types = use_token_types

    def encoder_output(self, input_ids, attention_mask, token_type_ids=None):
        kwargs = {"token_type_ids": token_type_ids} if self.use_token_types else {}
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)


class ClassifyWrapper(TaskWrapper):
    """Sequence classifier -> softmax probabilities."""

    def forward(self, input_ids, attention_mask, token_type_ids=None):  # noqa: D401
        logits = self.encoder_output(input_ids, attention_mask, token_type_ids).logits
        return torch.softmax(logits, dim=-1)


class EmbedWrapper(TaskWrapper):
    """Encoder -> masked mean pooling -> L2 normalisation (sentence-transformers recipe)."""

    def forward(self, input_ids, attention_mask, token_type_ids=None):  # noqa: D401
        hidden = self.encoder_output(input_ids, attention_mask, token_type_ids).last_hidden_state
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


def parity_check(loaded: LoadedModel, tokenizer, path: str | Path, texts: Sequence[str] = PARITY_TEXTS,
                 atol: float | None = None) -> float:
    """Max abs difference ONNX vs PyTorch on padded batches and single texts; raise ParityError.

    The ONNX side runs as the runtime runs it (its session, encoder, padding and micro-batches)."""
    atol = PARITY_ATOL[loaded.task] if atol is None else atol
    session = onnx_session(path)
    pid = pad_id(tokenizer)
    rows = encode(tokenizer, texts)
    worst = 0.0
    for group in ([rows], [[r] for r in rows]):  # one padded batch, then each text alone
        for chunk in group:
            with torch.no_grad():
                expected = loaded.wrapper(*torch_batch(pad(chunk, pid), loaded.input_names)).numpy()
            got = run_onnx(session, chunk, pid, batch_size=len(chunk))
            if got.shape != expected.shape:
                raise ParityError(f"ONNX output shape {got.shape} != PyTorch {expected.shape}")
            worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - expected))))
    if not worst <= atol:
        raise ParityError(f"ONNX export of {loaded.task} model fails parity with PyTorch: "
                          f"max abs diff {worst:.3g} > tolerance {atol:g}")
    return worst


__all__ = ["ParityError", "TaskWrapper", "ClassifyWrapper", "EmbedWrapper", "LoadedModel", "load_torch", "export_onnx",
           "parity_check", "onnx_session", "run_onnx", "PARITY_ATOL", "PARITY_TEXTS", "TASKS"]
