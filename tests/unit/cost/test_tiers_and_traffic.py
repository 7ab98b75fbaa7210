"""Volume tiers, costs that move with traffic, and the cold-start model (traffic.py)."""
from __future__ import annotations

import math

import pytest

from infra.cost.errors import BadInputError, MissingPriceError
from infra.cost.model import Deployment, Workload, estimate
from infra.cost.pricing import load_prices, parse_prices
from infra.cost.traffic import TrafficShape, cold_start_share, cold_starts_per_s, environments
from tests.unit.cost.test_cost_arithmetic import ONE_PER_SECOND, profile


def tiered_book(make_price_doc):
    doc = make_price_doc()
    doc["prices"]["lambda"]["gb_second_x86_64"] = {"usd": 0.00001, "per": "GB-s",
                                                   "tiers": [[1000, 0.00001], [3000, 0.000005], [None, 0.000001]]}
    return parse_prices(doc, "tiered.yml")


def test_each_tier_prices_only_its_own_slice(make_price_doc):
    price = tiered_book(make_price_doc).price("lambda.gb_second_x86_64")
    assert price.cost(500) == pytest.approx(500 * 1e-5)
    assert price.cost(1000) == pytest.approx(1000 * 1e-5)
    # 1,000 at the first price, 2,000 at the second, 1,000 at the last
    assert price.cost(4000) == pytest.approx(1000 * 1e-5 + 2000 * 5e-6 + 1000 * 1e-6)


@pytest.mark.parametrize("tiers", [[[1000, 1.0], [500, 0.5], [None, 0.1]], [[1000, 1.0], [2000, 0.5]],
                                   [[None, 1.0], [1000, 0.5]]])
def test_tiers_must_rise_and_end_open(make_price_doc, tiers):
    doc = make_price_doc()
    doc["prices"]["lambda"]["request"] = {"usd": 1.0, "per": "request", "tiers": tiers}
    with pytest.raises(MissingPriceError, match="tiers must rise"):
        parse_prices(doc, "bad.yml")


def test_shipped_tiers_lower_the_price_per_request_at_volume():
    book = load_prices("us-east-1")
    p = profile(memory_mb=1024, warm_ms=50, init_ms=1, first_ms=1, log_bytes=0, cold_log_bytes=0,
                response_bytes=0)
    w = Workload(1e6, cold_start_share=0.0)
    d = Deployment("m", "int8", 1024, "x86_64", "http")
    small, huge = estimate(p, d, w, book), estimate(p, d, Workload(2e11, cold_start_share=0.0), book)
    assert huge.per_request["lambda_compute"] < small.per_request["lambda_compute"]
    assert huge.per_request["api_gateway"] < small.per_request["api_gateway"] == pytest.approx(1e-6)
    # 2e11 requests x 50 ms x 1 GB = 1e10 GB-s: 6e9 at the first price, 4e9 at the second
    assert huge.per_request["lambda_compute"] * 2e11 == pytest.approx(6e9 * 0.0000166667 + 4e9 * 0.000015)


def test_monthly_cost_is_recomputed_at_each_traffic_level(prices, make_price_doc):
    book = tiered_book(make_price_doc)
    c = estimate(profile(), Deployment("m", "int8", 1024, "x86_64"), Workload(ONE_PER_SECOND), book)
    at_100x = c.monthly(100 * ONE_PER_SECOND)
    assert at_100x == pytest.approx(c.at(100 * ONE_PER_SECOND).monthly())
    assert at_100x < 100 * (c.monthly() - c.fixed_usd_month) + c.fixed_usd_month  # tiers + fewer cold starts
    assert c.monthly(ONE_PER_SECOND) == pytest.approx(c.monthly())


def test_cold_start_share_falls_with_traffic_and_rises_with_burstiness():
    shape = TrafficShape()
    rates = [1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0]
    shares = [cold_start_share(r, 10, shape) for r in rates]
    assert shares == sorted(shares, reverse=True)
    assert shares[0] > 0.5 and shares[-1] < 1e-4
    calm, bursty = TrafficShape(peak_to_mean=1.0), TrafficShape(peak_to_mean=10.0, bursts_per_day=24)
    assert cold_start_share(100.0, 100, bursty) > cold_start_share(100.0, 100, calm)


def test_cold_start_model_terms_by_hand():
    shape = TrafficShape(peak_to_mean=2.0, bursts_per_day=4, idle_gaps_per_day=1, keep_alive_s=600, env_lifetime_s=3600)
    r, ms = 10.0, 200.0  # 2 requests in flight on average, 4 environments kept for the peak
    assert environments(r, ms, shape) == 4.0
    alive = 1 - math.exp(-r * 600)
    expected = r * (1 - alive) + 4.0 / 3600 * alive ** (r * 3600) + 4 / 86400 * 2.0 * 1.0 + 1 / 86400 * 2.0
    assert cold_starts_per_s(r, ms, shape) == pytest.approx(expected)
    assert cold_start_share(r, ms, shape) == pytest.approx(expected / r)


def test_a_lone_request_after_a_long_gap_is_cold():
    # one request an hour, environments reclaimed after 10 minutes: nearly every one is cold
    share = cold_start_share(1 / 3600, 10, TrafficShape(idle_gaps_per_day=0))
    assert share == pytest.approx(math.exp(-600 / 3600), rel=2e-2)  # P(gap > keep-alive) = 0.85, + a little recycling


def test_the_derived_share_feeds_the_estimate_and_a_fixed_one_overrides_it(prices):
    d = Deployment("m", "int8", 1024, "x86_64")
    derived = estimate(profile(), d, Workload(ONE_PER_SECOND), prices)
    assert derived.cold_start_share == pytest.approx(cold_start_share(1.0, 9.2, TrafficShape()))
    fixed = estimate(profile(), d, Workload(ONE_PER_SECOND, cold_start_share=0.5), prices)
    assert fixed.cold_start_share == 0.5 and fixed.per_request["lambda_compute"] > derived.per_request["lambda_compute"]


@pytest.mark.parametrize("changes", [{"peak_to_mean": 0.5}, {"keep_alive_s": 0}, {"bursts_per_day": -1}])
def test_bad_traffic_shapes(changes):
    with pytest.raises(BadInputError):
        TrafficShape(**changes)
