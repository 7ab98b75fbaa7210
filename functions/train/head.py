"""A multinomial logistic-regression head on frozen embeddings, in numpy alone.

Why not scikit-learn: the head is a [dim, labels] matrix fitted on at most 50,000 x 384 floats;
a strongly convex problem this small needs no solver library, and scikit-learn + scipy would
add ~100 MB to a layer for one function. The fit is Nesterov-accelerated gradient descent on
the mean cross-entropy + ``l2/2 * ||W||^2`` (the intercept is not penalised), with the step
from Böhning's bound on the softmax Hessian (``0.5 * X^T X / n``): no line search, and it
converges the same way on every input. ``tests/unit/train/test_head.py`` checks it against
scikit-learn's ``LogisticRegression`` on the same data.

Regularisation is chosen by stratified k-fold cross-validation over a fixed grid (the mean
held-out log-loss decides; accuracy breaks no ties silently).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from functions.nlp.postprocess import l2_normalize, softmax

L2_GRID = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4)  # l2 per sample: sklearn's C = 1 / (l2 * n)
FOLDS = 5
ZERO_SHOT_SCALE = 50.0  # logits = scale * cosine (CLIP's learned temperature lands near 100)

Progress = Callable[[int, int], None]  # (fold done, folds)


@dataclass(frozen=True)
class LinearHead:
    """probabilities = softmax(x @ weights + bias); ``labels[i]`` names column i."""

    weights: np.ndarray  # [dim, n_labels] float32
    bias: np.ndarray  # [n_labels] float32
    labels: tuple[str, ...]
    l2: float | None = None  # the regularisation chosen (None: not fitted, e.g. zero-shot)
    layers: tuple[int, ...] = ()  # encoder layers in its features (functions/train/features.py); () = embeddings

    def logits(self, x: np.ndarray) -> np.ndarray:
        return x.astype(np.float32) @ self.weights + self.bias

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.logits(x))


def head_to_json(head: LinearHead) -> dict:
    """The head as the job's result.json holds it (publishing reads it back with head_from_json)."""
    return {"labels": list(head.labels), "l2": head.l2, "layers": list(head.layers),
            "weights": head.weights.tolist(), "bias": head.bias.tolist()}


def head_from_json(data: dict) -> LinearHead:
    return LinearHead(np.asarray(data["weights"], dtype=np.float32), np.asarray(data["bias"], dtype=np.float32),
                      tuple(data["labels"]), data.get("l2"), tuple(int(i) for i in data.get("layers") or ()))


def fit(x: np.ndarray, y: np.ndarray, n_labels: int, l2: float, *, max_iter: int = 500,
        tol: float = 1e-6, init: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weights [dim, n_labels] and bias [n_labels] minimising mean cross-entropy + l2/2 ||W||^2.
    ``init``: a start (the fit of a neighbouring l2: a warm start along the grid).

    The features are centred first (their mean folded back into the bias at the end): the same
    optimum, since the bias is not penalised, but the step bound no longer carries the mean's
    large eigenvalue, so it converges ~3x faster (on mean-pooled hidden states 10-60x smaller
    Lipschitz constant)."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    x = x - mean
    if init is not None:
        init = (init[0], init[1] + mean @ init[0])
    n, dim = x.shape
    onehot = np.zeros((n, n_labels))
    onehot[np.arange(n), y] = 1.0
    xb = np.hstack([x, np.ones((n, 1))])  # the last row of theta is the bias
    top = np.linalg.norm(xb, ord=2) ** 2  # largest eigenvalue of Xb^T Xb
    lipschitz = 0.5 * top / n + l2
    step = 1.0 / lipschitz
    mu = l2  # strong convexity (for the weights; the bias rides along)
    momentum = (np.sqrt(lipschitz) - np.sqrt(mu)) / (np.sqrt(lipschitz) + np.sqrt(mu))
    penalty = np.ones((dim + 1, 1))
    penalty[-1] = 0.0
    theta = np.zeros((dim + 1, n_labels)) if init is None else np.vstack([init[0], init[1][None, :]]).astype(np.float64)
    ahead = theta.copy()
    for _ in range(max_iter):
        probs = softmax(xb @ ahead)
        grad = xb.T @ (probs - onehot) / n + l2 * penalty * ahead
        nxt = ahead - step * grad
        change = np.max(np.abs(nxt - theta))
        ahead = nxt + momentum * (nxt - theta)
        theta = nxt
        if change < tol:
            break
    weights, bias = theta[:-1], theta[-1] - mean @ theta[:-1]
    return weights.astype(np.float32), bias.astype(np.float32)


def log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None))))


def stratified_folds(y: np.ndarray, k: int, seed: int = 0) -> list[np.ndarray]:
    """k disjoint index sets, each label spread evenly across them (shuffled with ``seed``)."""
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        for i, index in enumerate(members):
            folds[(i + offset) % k].append(int(index))
        offset += len(members)  # the next label's remainder starts where this one's ended
    return [np.array(sorted(f), dtype=np.int64) for f in folds]


def stratified_split(y: np.ndarray, test_share: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices; every label keeps at least one row in each side when it has two."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        cut = int(round(len(members) * test_share))
        cut = min(max(cut, 1 if len(members) > 1 else 0), len(members) - 1)
        test.extend(members[:cut])
        train.extend(members[cut:])
    return np.array(sorted(train), dtype=np.int64), np.array(sorted(test), dtype=np.int64)


def choose_l2(x: np.ndarray, y: np.ndarray, n_labels: int, *, grid: Sequence[float] = L2_GRID,
              folds: int = FOLDS, progress: Progress | None = None) -> tuple[float, dict[str, float]]:
    """The grid value with the lowest mean held-out log-loss over stratified folds; per value
    its mean loss (keys are the values as strings, for the job record)."""
    smallest = int(np.bincount(y, minlength=n_labels).min())
    k = max(2, min(folds, smallest))
    parts = stratified_folds(y, k)
    losses = {l2: 0.0 for l2 in grid}
    for done, held in enumerate(parts, start=1):
        keep = np.setdiff1d(np.arange(len(y)), held)
        start = None
        for l2 in sorted(grid, reverse=True):  # strong to weak: each fit starts from the last
            w, b = start = fit(x[keep], y[keep], n_labels, l2, init=start)
            losses[l2] += log_loss(softmax(x[held] @ w + b), y[held]) / k
        if progress is not None:
            progress(done, k)
    best = min(grid, key=lambda l2: (losses[l2], -l2))  # ties: the stronger regularisation
    return best, {f"{l2:g}": round(loss, 5) for l2, loss in losses.items()}


def train_head(x: np.ndarray, y: np.ndarray, labels: Sequence[str], *,
               progress: Progress | None = None) -> tuple[LinearHead, dict[str, float]]:
    """Cross-validate the regularisation, then fit on every row given."""
    l2, losses = choose_l2(x, y, len(labels), progress=progress)
    w, b = fit(x, y, len(labels), l2)
    return LinearHead(w, b, tuple(labels), l2), losses


def zero_shot_head(descriptions: np.ndarray, labels: Sequence[str], scale: float = ZERO_SHOT_SCALE) -> LinearHead:
    """Classify by cosine similarity to each label's description embedding (the CLIP idea):
    logits = scale * cos(text, description). Text embeddings are L2-normalised in the graph."""
    w = l2_normalize(np.asarray(descriptions, dtype=np.float32)).T * np.float32(scale)
    return LinearHead(w.astype(np.float32), np.zeros(len(labels), dtype=np.float32), tuple(labels))


__all__ = ["LinearHead", "head_to_json", "head_from_json", "fit", "choose_l2", "train_head", "zero_shot_head", "stratified_folds",
           "stratified_split", "log_loss", "L2_GRID", "FOLDS", "ZERO_SHOT_SCALE"]
