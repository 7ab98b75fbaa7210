"""Timing helpers. Medians over repeated runs; the machine is noisy, so compare within a run."""
from __future__ import annotations

import statistics
import time
from typing import Callable


def time_calls(fn: Callable[[], object], *, repeats: int, warmup: int = 3) -> list[float]:
    """Wall-clock milliseconds of each call after a few warm-up calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    return {"p50": statistics.median(ordered), "p95": pct(95), "p99": pct(99), "n": len(ordered)}


def median(values: list[float]) -> float:
    return statistics.median(values)
