"""Structured pruning of a BERT-family classifier: whole layers, attention heads, FFN neurons.

Unlike ``prune.py`` (zeros inside dense matrices) this removes rows and columns, so the ONNX
file shrinks and every request does less work. The result keeps a plain Hugging Face config
(``num_hidden_layers``, ``intermediate_size``, ``pruned_heads``), so the pruned checkpoint
saves and reloads with ``from_pretrained`` and exports through ``export.export_onnx``.

Which heads and neurons go is decided by first-order Taylor importance measured on a few
hundred labelled texts: |sum over tokens of activation x gradient of the loss| per head (the
head's slice of the attention context) and per FFN neuron (its intermediate activation).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from functions.nlp.text_encoder import length_buckets

from .tokenization import pad


@dataclass(frozen=True)
class PruneSpec:
    """What to keep. ``None`` keeps everything of that kind."""

    keep_layers: tuple[int, ...] | None = None  # teacher layer indices kept, in order
    heads: int | None = None  # attention heads kept in every layer
    ffn: int | None = None  # FFN neurons kept in every layer (one intermediate_size for all)

    def to_dict(self) -> dict:
        return asdict(self)


def _encoder_layers(model: nn.Module) -> nn.ModuleList:
    return getattr(model, model.base_model_prefix, model).encoder.layer


def count_params(model: nn.Module, encoder_only: bool = False) -> int:
    module = _encoder_layers(model) if encoder_only else model
    return sum(p.numel() for p in module.parameters())


def drop_layers(model: nn.Module, keep: Sequence[int]) -> None:
    """Keep only encoder layers ``keep`` (in that order), in place; the config follows."""
    layers = _encoder_layers(model)
    if not keep or len(set(keep)) != len(keep) or not all(0 <= i < len(layers) for i in keep):
        raise ValueError(f"keep_layers must be distinct indices of the {len(layers)} layers, got {list(keep)}")
    base = getattr(model, model.base_model_prefix, model)
    base.encoder.layer = nn.ModuleList([layers[i] for i in keep])
    model.config.num_hidden_layers = len(keep)
    old = {int(k): v for k, v in (model.config.pruned_heads or {}).items()}
    model.config.pruned_heads = {new: old[i] for new, i in enumerate(keep) if i in old}


def taylor_importance(model: nn.Module, rows: Sequence[np.ndarray], labels: np.ndarray, pid: int,
                      batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(heads [layers, heads], neurons [layers, ffn]) first-order importance of a classifier.

    ``model`` is a bare ``*ForSequenceClassification`` (returns logits); it is left in eval
    mode with no gradients kept.
    """
    layers = _encoder_layers(model)
    captured: dict[tuple[str, int], torch.Tensor] = {}
    hooks = []
    for i, layer in enumerate(layers):
        for kind, module in (("ctx", layer.attention.output.dense), ("ffn", layer.output.dense)):
            def hook(_mod, inputs, _out, key=(kind, i)):
                inputs[0].retain_grad()
                captured[key] = inputs[0]
            hooks.append(module.register_forward_hook(hook))
    n_heads = [layer.attention.self.num_attention_heads for layer in layers]
    head_size = layers[0].attention.self.attention_head_size
    heads = np.zeros((len(layers), max(n_heads)))
    neurons = np.zeros((len(layers), layers[0].intermediate.dense.out_features))
    model.eval()  # no dropout: importance of the model as it will run
    try:
        for idx in length_buckets(np.asarray([len(r) for r in rows]), batch_size):
            batch = {k: torch.from_numpy(v) for k, v in pad([rows[i] for i in idx], pid).items()}
            mask = batch["attention_mask"].unsqueeze(-1).float()
            logits = model(**batch).logits
            nn.functional.cross_entropy(logits, torch.from_numpy(labels[idx])).backward()
            for i in range(len(layers)):
                ctx, ffn = captured[("ctx", i)], captured[("ffn", i)]
                per_dim = ((ctx * ctx.grad) * mask).sum(dim=1)  # [batch, heads*head_size]
                heads[i, :n_heads[i]] += per_dim.view(len(idx), n_heads[i], head_size).sum(-1).abs().sum(0) \
                    .detach().numpy()
                neurons[i] += ((ffn * ffn.grad) * mask).sum(dim=1).abs().sum(0).detach().numpy()
            model.zero_grad(set_to_none=True)
    finally:
        for h in hooks:
            h.remove()
    return heads, neurons


def prune_heads(model: nn.Module, scores: np.ndarray, keep: int) -> dict[int, list[int]]:
    """Keep the ``keep`` most important heads of every layer (HF ``prune_heads``); returns the dropped."""
    layers = _encoder_layers(model)
    dropped = {}
    for i, layer in enumerate(layers):
        n = layer.attention.self.num_attention_heads
        if not 0 < keep <= n:
            raise ValueError(f"cannot keep {keep} of {n} heads in layer {i}")
        # HF numbers heads as in the unpruned layer: map the live ones back before asking
        live = [h for h in range(n + len(layer.attention.pruned_heads)) if h not in layer.attention.pruned_heads]
        order = np.argsort(-scores[i, :n], kind="stable")
        dropped[i] = sorted(live[j] for j in order[keep:])
    model.prune_heads({i: d for i, d in dropped.items() if d})
    return dropped


def prune_ffn(model: nn.Module, scores: np.ndarray, keep: int) -> None:
    """Keep the ``keep`` most important FFN neurons of every layer by slicing the two Linears."""
    layers = _encoder_layers(model)
    for i, layer in enumerate(layers):
        size = layer.intermediate.dense.out_features
        if not 0 < keep <= size:
            raise ValueError(f"cannot keep {keep} of {size} FFN neurons in layer {i}")
        idx = torch.from_numpy(np.sort(np.argsort(-scores[i, :size], kind="stable")[:keep]))
        layer.intermediate.dense = _slice_linear(layer.intermediate.dense, idx, dim=0)
        layer.output.dense = _slice_linear(layer.output.dense, idx, dim=1)
    model.config.intermediate_size = keep


def _slice_linear(linear: nn.Linear, idx: torch.Tensor, dim: int) -> nn.Linear:
    weight = linear.weight.detach().index_select(dim, idx).clone()
    bias = linear.bias.detach().clone() if linear.bias is not None else None
    if dim == 0 and bias is not None:
        bias = bias.index_select(0, idx)
    out = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        out.weight.copy_(weight)
        if bias is not None:
            out.bias.copy_(bias)
    return out


def apply_spec(model: nn.Module, spec: PruneSpec, rows: Sequence[np.ndarray] = (),
               labels: np.ndarray | None = None, pid: int = 0) -> dict:
    """Prune ``model`` in place: layers first, then heads and FFN neurons by Taylor importance.

    ``rows``/``labels`` (a few hundred labelled texts) are needed only for heads or FFN.
    Returns the facts the manifest and report carry.
    """
    before = count_params(model)
    before_encoder = count_params(model, encoder_only=True)
    if spec.keep_layers is not None:
        drop_layers(model, spec.keep_layers)
    facts: dict = {"method": "structured", "spec": spec.to_dict()}
    if spec.heads is not None or spec.ffn is not None:
        if labels is None or not len(rows):
            raise ValueError("head or FFN pruning needs labelled texts to rank importance")
        head_scores, neuron_scores = taylor_importance(model, rows, labels, pid)
        if spec.heads is not None:
            facts["dropped_heads"] = prune_heads(model, head_scores, spec.heads)
        if spec.ffn is not None:
            prune_ffn(model, neuron_scores, spec.ffn)
    after = count_params(model)
    facts |= {"params_before": before, "params_after": after,
              "encoder_params_before": before_encoder,
              "encoder_params_after": count_params(model, encoder_only=True),
              "fraction": round(1.0 - after / before, 4)}
    return facts


__all__ = ["PruneSpec", "apply_spec", "count_params", "drop_layers", "taylor_importance", "prune_heads",
           "prune_ffn"]
