"""Global magnitude pruning of linear weights (unstructured, no retraining).

Zeros in a dense weight matrix do not make the ONNX file smaller or faster: the file keeps
every float. They only help compression (gzip), which the report shows next to the raw size.
"""
from __future__ import annotations

import torch
from torch import nn


def prune_linear(model: nn.Module, fraction: float) -> dict:
    """Zero the ``fraction`` of smallest-magnitude weights across all nn.Linear layers, in place."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"prune fraction must be in [0, 1), got {fraction}")
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    if fraction == 0.0 or not weights:
        return {"fraction": fraction, "zeroed": 0, "total": sum(w.numel() for w in weights)}
    with torch.no_grad():
        magnitudes = torch.cat([w.detach().abs().flatten() for w in weights])
        k = int(fraction * magnitudes.numel())
        threshold = torch.kthvalue(magnitudes, max(k, 1)).values
        zeroed = 0
        for w in weights:
            mask = w.abs() <= threshold
            w.masked_fill_(mask, 0.0)
            zeroed += int(mask.sum())
    return {"fraction": fraction, "zeroed": zeroed, "total": int(magnitudes.numel()),
            "layers": len(weights)}


__all__ = ["prune_linear"]
