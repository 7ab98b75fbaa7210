"""Small pure numpy post-processing functions (the graph usually does these; users' graphs may not)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = logits - np.max(logits, axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / np.sum(exp, axis=axis, keepdims=True)


def mean_pool(token_embeddings: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """Average token vectors where the mask is 1: [B, S, D], [B, S] -> [B, D]."""
    mask = attention_mask[..., None].astype(token_embeddings.dtype)
    summed = np.sum(token_embeddings * mask, axis=1)
    counts = np.clip(np.sum(mask, axis=1), 1e-9, None)
    return summed / counts


def l2_normalize(vectors: np.ndarray, axis: int = -1, eps: float = 1e-12) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=axis, keepdims=True)
    return vectors / np.maximum(norms, eps)


def pool_windows(outputs: np.ndarray, owner: np.ndarray, weights: np.ndarray, n_texts: int) -> np.ndarray:
    """One row per text from its windows' rows: the mean weighted by each window's tokens.

    [W, K] rows, [W] owning text, [W] weights -> [n_texts, K]. Probabilities stay a
    distribution; embeddings are re-normalised by the caller when the model normalises."""
    w = weights.astype(np.float64)
    summed = np.zeros((n_texts, outputs.shape[1]), dtype=np.float64)
    np.add.at(summed, owner, outputs.astype(np.float64) * w[:, None])
    totals = np.bincount(owner, weights=w, minlength=n_texts)
    return (summed / np.maximum(totals, 1e-12)[:, None]).astype(np.float32)


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of a against every row of b: [N, D], [M, D] -> [N, M]."""
    return l2_normalize(a.astype(np.float32)) @ l2_normalize(b.astype(np.float32)).T


def label_row(labels: Sequence[str], scores: Sequence[float], best: int) -> dict[str, Any]:
    """One text's classification as the API and the batch results give it: {"label", "score", "scores"}."""
    return {"label": labels[best], "score": scores[best], "scores": dict(zip(labels, scores))}


__all__ = ["softmax", "mean_pool", "l2_normalize", "cosine_matrix", "pool_windows", "label_row"]
