"""The sliding-minute estimate behind the per-token rate limits (pure, no I/O)."""
from __future__ import annotations

import pytest

from functions.auth.ratelimit import RateLimits, Windows, over, retry_after, status

M = 29_000_000  # an epoch minute
T0 = M * 60  # its first second


def test_the_previous_minute_slides_out_linearly():
    w = Windows(M, current=(2, 20), previous=(6, 60))
    assert w.used(T0) == (8.0, 80.0)  # all of the previous minute still inside the last 60 s
    assert w.used(T0 + 30) == (5.0, 50.0)  # half of it
    assert w.used(T0 + 60) == (2.0, 20.0)  # next minute: this one is the previous, whole
    assert w.used(T0 + 90) == (1.0, 10.0)
    assert w.used(T0 + 120) == (0.0, 0.0)  # a quiet minute later: nothing
    assert w.used(T0 + 30, pending=(1, 5)) == (6.0, 55.0)  # in flight on this instance counts too


def test_no_double_burst_at_a_minute_boundary():
    limits = RateLimits(requests_per_minute=10)
    full = Windows(M, current=(10, 10))
    assert over(full, limits, T0 + 59, 1) == "10 requests per minute"
    assert over(full, limits, T0 + 61, 1) is not None  # a fixed window would allow 10 more here
    assert over(full, limits, T0 + 66, 1) is None  # 10 x 54/60 + 1 = 10
    assert retry_after(full, limits, T0 + 59, 1) == 7


def test_texts_limit_and_a_request_larger_than_the_limit():
    limits = RateLimits(requests_per_minute=0, texts_per_minute=100)
    w = Windows(M, current=(1, 90))
    assert over(w, limits, T0, 10) is None and over(w, limits, T0, 11) == "100 texts per minute"
    assert retry_after(Windows(), limits, T0, 101) == 120  # never fits: the longest wait


@pytest.mark.parametrize("windows,expected", [
    (Windows(), {"requests": (5, 5, 0), "texts": (50, 50, 0)}),
    (Windows(M, current=(2, 20)), {"requests": (5, 3, 110), "texts": (50, 30, 110)}),
    (Windows(M - 1, current=(4, 40)), {"requests": (5, 1, 50), "texts": (50, 16, 50)}),  # 4 x 50/60 = 3.3
])
def test_status_is_what_the_headers_show(windows, expected):
    assert status(windows, RateLimits(5, 50), T0 + 10) == expected


def test_limits_off_show_no_headers():
    assert status(Windows(M, current=(99, 99)), RateLimits(0, 0), T0) == {}
