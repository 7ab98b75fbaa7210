"""How traffic arrives, and the share of requests that meet a cold start (the model, stated).

Lambda does not publish when it reclaims an idle execution environment or how long one lives,
so both are assumptions here (``TrafficShape``), shown in the report and settable from the CLI.
Cold starts per second are the sum of four causes:

1. **Sparse traffic** (Poisson arrivals at the mean rate ``r``): with one environment, a request
   is cold when the gap since the previous one exceeds the keep-alive ``T``: ``r * exp(-r * T)``.
2. **Recycling**: Lambda replaces each live environment after about ``L`` seconds even when it is
   busy: ``n / L`` for ``n`` environments, counted only for environments that live that long
   (every one of the ``r L`` gaps in ``L`` shorter than ``T``: ``(1 - exp(-r T)) ** (r L)``).
3. **Bursts**: each climb from the mean to the peak rate needs ``c * (peak_to_mean - 1)`` extra
   environments, ``c = r * duration`` being the mean concurrency (Little's law).
4. **Idle gaps**: after a pause longer than ``T`` (a night without traffic) every environment is
   gone: ``max(1, c)`` cold starts per gap.

``n``, the environments kept, is the peak concurrency ``max(1, c * peak_to_mean)``: environments
started for a peak stay warm for ``T`` after it. The share is cold starts / requests, at most 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import BadInputError

DAY_S = 86400.0


@dataclass(frozen=True)
class TrafficShape:
    peak_to_mean: float = 3.0  # burstiness: the busiest hour's rate over the mean rate
    bursts_per_day: float = 1.0  # how often traffic climbs from the mean to the peak
    idle_gaps_per_day: float = 1.0  # pauses longer than the keep-alive (a quiet night)
    keep_alive_s: float = 600.0  # assumed: idle environments are observed to live 5-15 minutes
    env_lifetime_s: float = 7200.0  # assumed: busy environments are observed to be replaced after hours

    def __post_init__(self) -> None:
        if self.peak_to_mean < 1:
            raise BadInputError(f"peak_to_mean must be at least 1, got {self.peak_to_mean}")
        for name in ("bursts_per_day", "idle_gaps_per_day"):
            if getattr(self, name) < 0:
                raise BadInputError(f"{name} cannot be negative")
        for name in ("keep_alive_s", "env_lifetime_s"):
            if getattr(self, name) <= 0:
                raise BadInputError(f"{name} must be positive")

    def describe(self) -> str:
        return (f"peak/mean {self.peak_to_mean:g}, {self.bursts_per_day:g} burst(s)/day, "
                f"{self.idle_gaps_per_day:g} idle gap(s)/day, keep-alive {self.keep_alive_s:g} s (assumed), "
                f"environment lifetime {self.env_lifetime_s / 3600:g} h (assumed)")


def concurrency(rate_per_s: float, duration_ms: float) -> float:
    """Mean requests in flight (Little's law)."""
    return rate_per_s * duration_ms / 1000.0


def environments(rate_per_s: float, duration_ms: float, shape: TrafficShape) -> float:
    """Environments kept alive: the peak concurrency, at least one."""
    return max(1.0, concurrency(rate_per_s, duration_ms) * shape.peak_to_mean)


def cold_starts_per_s(rate_per_s: float, duration_ms: float, shape: TrafficShape) -> float:
    if rate_per_s <= 0:
        return 0.0
    alive = 1.0 - math.exp(-rate_per_s * shape.keep_alive_s)  # chance the next request finds one
    c = concurrency(rate_per_s, duration_ms)
    sparse = rate_per_s * (1.0 - alive)
    survives = alive ** (rate_per_s * shape.env_lifetime_s)  # lives long enough to be recycled
    recycled = environments(rate_per_s, duration_ms, shape) / shape.env_lifetime_s * survives
    bursts = shape.bursts_per_day / DAY_S * c * (shape.peak_to_mean - 1.0)
    gaps = shape.idle_gaps_per_day / DAY_S * max(1.0, c)
    return sparse + recycled + bursts + gaps


def cold_start_share(rate_per_s: float, duration_ms: float, shape: TrafficShape) -> float:
    """Fraction of requests that start a new execution environment."""
    if rate_per_s <= 0:
        return 1.0
    return min(1.0, cold_starts_per_s(rate_per_s, duration_ms, shape) / rate_per_s)


__all__ = ["TrafficShape", "concurrency", "environments", "cold_starts_per_s", "cold_start_share"]
