"""Quality, fidelity, size and speed measurements (the numbers the report and manifests carry)."""
from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np


def classify_metrics(probs: np.ndarray, labels: np.ndarray, label_names: Sequence[str]) -> dict:
    from sklearn.metrics import confusion_matrix, f1_score

    pred = probs.argmax(axis=1) if probs.ndim == 2 else probs
    return {
        "accuracy": round(float((pred == labels).mean()), 4),
        "macro_f1": round(float(f1_score(labels, pred, average="macro")), 4),
        "confusion": confusion_matrix(labels, pred, labels=range(len(label_names))).tolist(),
        "n": int(len(labels)),
    }


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a.astype(np.float64) * b).sum(axis=1)


def fidelity(outputs: np.ndarray, reference: np.ndarray) -> dict:
    cos = cosines(outputs, reference)
    return {"cosine_mean": round(float(cos.mean()), 5), "cosine_min": round(float(cos.min()), 5),
            "cosine_p01": round(float(np.percentile(cos, 1)), 5), "n": int(len(cos))}


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return round(float((a.argmax(axis=1) == b.argmax(axis=1)).mean()), 4)


def gzip_size(path: str | Path, level: int = 6) -> int:
    """Bytes after gzip: what pruning's zeros buy for storage and transfer, not for the dense file."""
    compressor = gzip.compress
    with open(path, "rb") as fh:
        return len(compressor(fh.read(), compresslevel=level))


def file_sizes(path: str | Path) -> dict:
    return {"bytes": Path(path).stat().st_size, "gzip_bytes": gzip_size(path)}


def latency_ms(fn: Callable[[], object], repeats: int, warmup: int = 3) -> dict:
    """p50/p95 wall time of ``fn`` in ms (speed lives in the report, never in tests)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return {"p50": round(float(np.percentile(times, 50)), 2), "p95": round(float(np.percentile(times, 95)), 2)}


def throughput(fn: Callable[[], object], n_texts: int) -> float:
    """Texts per second for one pass of ``fn`` over ``n_texts`` texts."""
    start = time.perf_counter()
    fn()
    return round(n_texts / (time.perf_counter() - start), 1)


def pick_vader_thresholds(compound: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Thresholds (neg_below, pos_above) maximising validation macro-F1."""
    from sklearn.metrics import f1_score

    best = (-0.05, 0.05, -1.0)
    grid = np.round(np.arange(-0.6, 0.61, 0.05), 2)
    for lo in grid[grid <= 0]:
        for hi in grid[grid >= lo]:
            f1 = f1_score(labels, vader_classes(compound, lo, hi), average="macro")
            if f1 > best[2]:
                best = (float(lo), float(hi), f1)
    return best[0], best[1]


def vader_classes(compound: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """negative=0 below ``lo``, positive=2 above ``hi``, neutral=1 between."""
    return np.where(compound < lo, 0, np.where(compound > hi, 2, 1))


def vader_compound(texts: Sequence[str]) -> np.ndarray:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return np.array([analyzer.polarity_scores(t)["compound"] for t in texts])


def logistic_baseline(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray,
                      seed: int = 0) -> tuple[object, float]:
    """Logistic regression on frozen embeddings, C picked on validation macro-F1."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    best, best_c, best_f1 = None, 0.0, -1.0
    for c in (0.1, 1.0, 10.0):
        clf = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(train_x, train_y)
        f1 = f1_score(val_y, clf.predict(val_x), average="macro")
        if f1 > best_f1:
            best, best_c, best_f1 = clf, c, f1
    return best, best_c


__all__ = ["classify_metrics", "cosines", "fidelity", "agreement", "gzip_size", "file_sizes", "latency_ms",
           "throughput", "pick_vader_thresholds", "vader_classes", "vader_compound", "logistic_baseline"]
