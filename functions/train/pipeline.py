"""Rows -> embeddings (micro-batches through the inference core) -> head -> evaluation.

No AWS here: the worker passes a loaded embedding model (functions.nlp.InferenceModel) and a
``report`` callback that writes progress to the job record. The held-out split is fixed
(stratified, seed 0, 20 %); regularisation is chosen by cross-validation on the rest, the head
is fitted on the rest and evaluated on the held-out rows, and that head is the one published:
the published metrics describe exactly the published model.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from functions.nlp.model import InferenceModel

from .data import Rows
from .evaluate import evaluation
from .head import LinearHead, choose_l2, fit, stratified_split, zero_shot_head

EMBED_BATCH = 64  # texts per call into the core (which runs them length-bucketed in its own micro-batches)
HELD_OUT = 0.2
# regularisation is chosen on at most this many rows (stratified): 50,000 rows x 5 folds x 7 values would
# not fit in a 15-minute Lambda after embedding; the final fit still uses every training row. The cap is
# for 384 features: a wider head (the layered features: 1,536) gets proportionally fewer rows, since a
# gradient step costs rows x features
CV_MAX_ROWS = 10_000
CV_WIDTH = 384
Report = Callable[[dict[str, Any]], None]


@dataclass
class Outcome:
    head: LinearHead
    evaluation: dict[str, Any] | None  # None: zero-shot without a labelled sample
    texts_embedded: int
    tokens: int
    details: dict[str, Any] = field(default_factory=dict)  # cv losses, split sizes, timings


class Clock:
    """Progress with an ETA: embedding rate so far, then the mean time per fold."""

    def __init__(self, report: Report | None, now: Callable[[], float] = time.monotonic) -> None:
        self.report, self.now, self.t0 = report, now, now()
        self.embed_s = 0.0

    def embedded(self, done: int, total: int, folds: int) -> None:
        elapsed = self.now() - self.t0
        rate = done / elapsed if elapsed > 0 else 0.0
        # fitting 1,000 rows on the layered features took ~5 s a fold on a busy host (bench/train_bench.py)
        eta = (total - done) / rate + 5.0 * folds if rate else None
        self._send({"stage": "embedding", "rows_embedded": done, "rows": total, "eta_s": _round(eta)})
        self.embed_s = elapsed

    def fold(self, done: int, folds: int) -> None:
        spent = self.now() - self.t0 - self.embed_s
        eta = spent / done * (folds - done + 1) if done else None  # + the final fit
        self._send({"stage": "fitting", "fold": done, "folds": folds, "eta_s": _round(eta)})

    def _send(self, progress: dict[str, Any]) -> None:
        if self.report is not None:
            self.report(progress)


def _round(value: float | None) -> float | None:
    return None if value is None else round(max(value, 0.0), 1)


def embed(model: InferenceModel, texts: Sequence[str], *, on_batch: Callable[[int], None] | None = None,
          batch: int = EMBED_BATCH) -> tuple[np.ndarray, int]:
    """[n, dim] embeddings and the tokens run, ``batch`` texts per call."""
    model.require_task("embed")
    parts, tokens = [], 0
    for start in range(0, len(texts), batch):
        result = model.embed(texts[start:start + batch])
        parts.append(result.outputs)
        tokens += result.total_tokens
        if on_batch is not None:
            on_batch(start + len(result.outputs))
    return np.vstack(parts).astype(np.float32), tokens


def train(model: InferenceModel, rows: Rows, *, layers: Sequence[int] = (), report: Report | None = None,
          folds: int = 5, now: Callable[[], float] = time.monotonic) -> Outcome:
    """``model`` outputs the head's features: the base embeddings, or the feature graph of
    functions/train/features.py (``layers``: the encoder layers it reads, kept in the head)."""
    clock = Clock(report, now)
    x, tokens = embed(model, rows.texts, on_batch=lambda done: clock.embedded(done, len(rows.texts), folds))
    t_embed = clock.now() - clock.t0
    y = np.asarray(rows.targets(), dtype=np.int64)
    labels = rows.names
    keep, held = stratified_split(y, HELD_OUT)
    cv, cap = keep, max(1, CV_MAX_ROWS * CV_WIDTH // max(x.shape[1], CV_WIDTH))
    if len(keep) > cap:
        _, sample = stratified_split(y[keep], cap / len(keep), seed=1)
        cv = keep[sample]
    l2, losses = choose_l2(x[cv], y[cv], len(labels), folds=folds, progress=clock.fold)
    w, b = fit(x[keep], y[keep], len(labels), l2)
    head = LinearHead(w, b, labels, l2, tuple(layers))
    held_texts = [rows.texts[i] for i in held]
    result = evaluation(y[held], head.predict_proba(x[held]), labels, held_texts)
    return Outcome(head, result, len(rows.texts), tokens, {
        "l2": l2, "layers": list(layers), "cv_log_loss": losses, "cv_rows": int(len(cv)), "train_rows": int(len(keep)),
        "held_out_rows": int(len(held)),
        "embed_s": round(t_embed, 2), "total_s": round(clock.now() - clock.t0, 2)})


def zero_shot(model: InferenceModel, descriptions: dict[str, str], sample: Rows | None = None, *,
              report: Report | None = None, now: Callable[[], float] = time.monotonic) -> Outcome:
    """A head from the label descriptions alone; evaluated on ``sample`` when one is given."""
    clock = Clock(report, now)
    labels = tuple(descriptions)
    texts = list(descriptions.values()) + (list(sample.texts) if sample else [])
    x, tokens = embed(model, texts, on_batch=lambda done: clock.embedded(done, len(texts), 0))
    head = zero_shot_head(x[:len(labels)], labels)
    result = None
    if sample is not None:
        index = {name: i for i, name in enumerate(labels)}
        y = np.asarray([index[label] for label in sample.labels], dtype=np.int64)
        result = evaluation(y, head.predict_proba(x[len(labels):]), labels, list(sample.texts))
    return Outcome(head, result, len(texts), tokens, {"zero_shot": True, "total_s": round(clock.now() - clock.t0, 2)})


__all__ = ["embed", "train", "zero_shot", "Outcome", "Clock", "EMBED_BATCH", "HELD_OUT", "CV_MAX_ROWS"]
