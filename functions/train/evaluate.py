"""What the page shows before anything is published: held-out accuracy, macro-F1, per-label
precision/recall, the confusion matrix and the most confident mistakes. Pure numpy."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

MISTAKES = 10


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> np.ndarray:
    """[true, predicted] counts."""
    matrix = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def evaluation(y_true: np.ndarray, proba: np.ndarray, labels: Sequence[str], texts: Sequence[str],
               *, mistakes: int = MISTAKES) -> dict[str, Any]:
    """The evaluation of ``proba`` ([n, labels]) against ``y_true`` on held-out ``texts``."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.argmax(proba, axis=1)
    matrix = confusion(y_true, y_pred, len(labels))
    hits = np.diag(matrix).astype(np.float64)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(hits), where=denom > 0)
    present = actual > 0  # macro over the labels the held-out set holds
    wrong = np.flatnonzero(y_pred != y_true)
    confidence = proba[wrong, y_pred[wrong]]
    worst = wrong[np.argsort(-confidence, kind="stable")][:mistakes]
    return {
        "held_out": int(len(y_true)),
        "accuracy": round(float(hits.sum() / max(len(y_true), 1)), 4),
        "macro_f1": round(float(f1[present].mean()) if present.any() else 0.0, 4),
        "per_label": {label: {"precision": round(float(p), 4), "recall": round(float(r), 4),
                              "f1": round(float(f), 4), "support": int(s)}
                      for label, p, r, f, s in zip(labels, precision, recall, f1, actual)},
        "labels": list(labels),
        "confusion": matrix.tolist(),  # rows: true label, columns: predicted label
        "mistakes": [{"text": texts[i], "label": labels[y_true[i]], "predicted": labels[y_pred[i]],
                      "confidence": round(float(proba[i, y_pred[i]]), 4)} for i in worst],
    }


__all__ = ["evaluation", "confusion", "MISTAKES"]
