"""Per-token rate limits over a sliding minute, from counts kept per fixed minute. Pure: no I/O.

The table keeps, on the token's usage row, the counts of the current minute and of the one
before (see functions/auth/usage.py). What a token used "in the last minute" is estimated as

    previous minute's count x (share of the previous minute still inside the last 60 s)
    + current minute's count

(the sliding-window estimate): a bucket of one minute's limit refilled continuously, like a
token bucket, with no double burst at minute boundaries. Exact when traffic is even within the
previous minute; it can be off by at most the previous minute's count otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

WINDOW_S = 60
KINDS = ("requests", "texts")


@dataclass(frozen=True)
class RateLimits:
    """Per-token limits per minute; 0 means no limit."""

    requests_per_minute: int = 0
    texts_per_minute: int = 0

    def of(self, kind: str) -> int:
        return self.requests_per_minute if kind == "requests" else self.texts_per_minute


@dataclass(frozen=True)
class Windows:
    """(requests, texts) of minute ``minute`` (epoch minutes) and of the minute before it."""

    minute: int = -1
    current: tuple[int, int] = (0, 0)
    previous: tuple[int, int] = (0, 0)

    def at(self, now: float) -> tuple[tuple[int, int], tuple[int, int]]:
        """(current, previous) counts as seen from ``now``'s minute."""
        minute = int(now // WINDOW_S)
        if minute == self.minute:
            return self.current, self.previous
        if minute == self.minute + 1:
            return (0, 0), self.current
        return (0, 0), (0, 0)

    def used(self, now: float, pending: tuple[int, int] = (0, 0)) -> tuple[float, float]:
        """Estimated (requests, texts) in the 60 s before ``now``, plus ``pending``."""
        current, previous = self.at(now)
        weight = 1.0 - (now % WINDOW_S) / WINDOW_S
        return (previous[0] * weight + current[0] + max(0, pending[0]),
                previous[1] * weight + current[1] + max(0, pending[1]))

    def seconds_to_empty(self, now: float) -> int:
        """Until the estimate is back to zero (OpenAI's ``x-ratelimit-reset-*``)."""
        current, previous = self.at(now)
        to_minute_end = WINDOW_S - (now % WINDOW_S)
        if any(current):
            return math.ceil(to_minute_end + WINDOW_S)
        return math.ceil(to_minute_end) if any(previous) else 0


def over(windows: Windows, limits: RateLimits, now: float, texts: int,
         pending: tuple[int, int] = (0, 0)) -> str | None:
    """Which limit one more request of ``texts`` texts would break, or None."""
    if not (limits.requests_per_minute or limits.texts_per_minute):
        return None  # no limit is on
    used = windows.used(now, pending)
    for i, (kind, cost) in enumerate(zip(KINDS, (1, texts))):
        limit = limits.of(kind)
        if limit and used[i] + cost > limit:
            return f"{limit} {kind} per minute"
    return None


def retry_after(windows: Windows, limits: RateLimits, now: float, texts: int) -> int:
    """Whole seconds until a request of ``texts`` texts fits (counted from the table's view)."""
    for wait in range(1, 2 * WINDOW_S + 1):
        if over(windows, limits, now + wait, texts) is None:
            return wait
    return 2 * WINDOW_S  # a request larger than the limit itself never fits


def status(windows: Windows, limits: RateLimits, now: float,
           pending: tuple[int, int] = (0, 0)) -> dict[str, tuple[int, int, int]]:
    """{"requests"|"texts": (limit, remaining, seconds to reset)} for the limits that are on."""
    if not (limits.requests_per_minute or limits.texts_per_minute):
        return {}
    used = windows.used(now, pending)
    reset = windows.seconds_to_empty(now)
    return {kind: (limits.of(kind), max(0, math.floor(limits.of(kind) - used[i])), reset)
            for i, kind in enumerate(KINDS) if limits.of(kind)}


__all__ = ["RateLimits", "Windows", "over", "retry_after", "status", "WINDOW_S"]
