"""The model's arithmetic against examples worked out by hand (see each comment)."""
from __future__ import annotations

import pytest

from infra.cost.errors import BadInputError, BadTrafficError, MissingPriceError
from infra.cost.measurements import Profile
from infra.cost.model import Deployment, Workload, billed_ms, estimate, requests_per_usage_write, s3_storage_month
from infra.cost.pricing import load_prices, parse_prices

GIB = 2**30


def profile(**changes) -> Profile:
    values = dict(model="m", variant="int8", memory_mb=1024, warm_ms=9.2, init_ms=800.4, first_ms=199.1,
                  artifact_bytes=GIB, cold_s3_gets=4, log_bytes=700, cold_log_bytes=5000, response_bytes=100,
                  request_bytes=80, ddb_reads_on_miss=1.0, ddb_write_units_per_flush=1.0, peak_rss_mb=200)
    values.update(changes)
    return Profile(**values)


# 2,628,000 requests = one per second over a 730-hour month
ONE_PER_SECOND = 2_628_000


def workload(**changes) -> Workload:
    values = dict(requests_per_month=ONE_PER_SECOND, texts_per_request=2, cold_start_share=0.02,
                  token_cache_hit_rate=0.9, versions_kept=3, usage_flush_requests=25, usage_flush_interval_s=5.0)
    values.update(changes)
    return Workload(**values)


@pytest.mark.parametrize("measured, billed", [(0.2, 1), (1.0, 1), (1.0000000001, 1), (3.2, 4), (12.0, 12),
                                              (12.001, 13), (0.0, 1), (799.999, 800)])
def test_billed_duration_rounds_up_to_the_next_millisecond(measured, billed):
    assert billed_ms(measured) == billed


def test_a_negative_duration_is_an_error():
    with pytest.raises(BadInputError):
        billed_ms(-1)


def test_all_in_cost_matches_the_hand_worked_example(prices):
    cost = estimate(profile(), Deployment("m", "int8", 1024, "x86_64", "http"), workload(), prices)
    # billed: warm 9.2 -> 10 ms; cold 800.4 -> 801 + 199.1 -> 200 = 1001 ms
    assert (cost.warm_billed_ms, cost.cold_billed_ms) == (10, 1001)
    ingest = (0.98 * 700 + 0.02 * 5000 + 300 + 230) / 1e9  # function lines + platform lines + HTTP API access log
    expected = {
        "lambda_compute": 1.0 * (0.98 * 10 + 0.02 * 1001) / 1000 * 1e-5,  # 29.82 ms at 1 GB
        "lambda_requests": 2e-7,
        "lambda_ephemeral": 0.0,
        "api_gateway": 1e-6,
        "xray": 0.0,  # tracing off
        "cold_start_s3": 0.02 * 4 * 4e-7,  # same-region transfer priced 0
        "logs_ingest": ingest * 0.5,
        "logs_storage": ingest * 0.15 * 30 / (730 / 24) * 0.03,  # 30 days kept, compressed to 15 %
        "dynamodb": 0.1 * 1 * 1e-7 + (1 / 5) * 1e-6,  # 1 req/s: a usage write every 5 s = every 5 requests
        # a KMS call per cold start + one per 5 minutes for the one environment
        "kms": (0.02 + (ONE_PER_SECOND / 300) / ONE_PER_SECOND) * 3e-6,
        "snapstart_restore": 0.0,
        "data_out": 100 / 1e9 * 0.1,
    }
    assert set(cost.per_request) == set(expected)
    for key, value in expected.items():
        assert cost.per_request[key] == pytest.approx(value, rel=1e-12), key
    total = sum(expected.values()) * 1e6
    assert cost.per_million_requests == pytest.approx(total, rel=1e-12)
    assert cost.per_million_texts == pytest.approx(total / 2, rel=1e-12)
    assert cost.per_month_fixed == {"s3_storage": pytest.approx(0.06)}  # 1 GiB x 3 versions x $0.02
    assert cost.monthly() == pytest.approx(0.06 + 2.628 * total, rel=1e-9)
    assert cost.cold_start_share == 0.02


def test_arm64_changes_only_the_gb_second_price(prices):
    x86 = estimate(profile(), Deployment("m", "int8", 1024, "x86_64"), workload(), prices)
    arm = estimate(profile(), Deployment("m", "int8", 1024, "arm64"), workload(), prices)
    assert arm.per_request["lambda_compute"] == pytest.approx(0.8 * x86.per_request["lambda_compute"])
    assert arm.request_usd - arm.per_request["lambda_compute"] == pytest.approx(
        x86.request_usd - x86.per_request["lambda_compute"])


def test_rest_api_costs_the_rest_price(prices):
    rest = estimate(profile(), Deployment("m", "int8", 1024, api="rest"), workload(), prices)
    assert rest.per_request["api_gateway"] == 3.5e-6


def test_provisioned_concurrency_is_fixed_per_month_and_removes_cold_starts(prices):
    cost = estimate(profile(), Deployment("m", "int8", 1024, "x86_64", provisioned_concurrency=2), workload(), prices)
    assert cost.per_month_fixed["provisioned_concurrency"] == pytest.approx(2 * 1.0 * ONE_PER_SECOND * 4e-6)
    assert cost.per_request["lambda_compute"] == pytest.approx(0.010 * 9e-6)  # warm 10 ms only
    assert cost.per_request["cold_start_s3"] == 0 and cost.cold_start_share == 0


def test_snapstart_turns_cold_starts_into_restores_and_caches_all_month(prices):
    cost = estimate(profile(), Deployment("m", "int8", 2048, "x86_64", snapstart=True), workload(), prices)
    assert cost.cold_billed_ms == cost.warm_billed_ms == 10  # models are in the snapshot
    assert cost.per_request["snapstart_restore"] == pytest.approx(0.02 * 2.0 * 0.00014)
    assert cost.per_month_fixed["snapstart_cache"] == pytest.approx(2.0 * ONE_PER_SECOND * 0.0000015)
    with pytest.raises(BadInputError, match="SnapStart"):
        Deployment("m", "int8", 2048, snapstart=True, provisioned_concurrency=1)


def test_xray_traces_the_reservoir_then_the_sampling_rate(prices):
    on = estimate(profile(), Deployment("m", "int8", 1024, tracing=True), workload(requests_per_month=3 * ONE_PER_SECOND),
                  prices)
    # 3 req/s: 1 from the reservoir + 5 % of the other 2 = 1.1 traces/s, per 3 requests
    assert on.per_request["xray"] == pytest.approx(1.1 / 3 * 5e-6)
    half = estimate(profile(), Deployment("m", "int8", 1024, api="rest", tracing=True, xray_sampling_rate=0.5,
                                          xray_reservoir_per_s=0), workload(), prices)
    assert half.per_request["xray"] == pytest.approx(0.5 * 5e-6)  # the REST stage's sampling rule
    ignored = estimate(profile(), Deployment("m", "int8", 1024, api="http", tracing=True, xray_sampling_rate=0.5,
                                             xray_reservoir_per_s=0), workload(), prices)
    assert ignored.per_request["xray"] == pytest.approx(1.0 * 5e-6)  # 1 req/s: all in Lambda's own reservoir


def test_function_url_has_no_front_door_fee_and_no_gateway_log(prices):
    url = estimate(profile(), Deployment("m", "int8", 1024, api="url"), workload(), prices)
    http = estimate(profile(), Deployment("m", "int8", 1024, api="http"), workload(), prices)
    assert url.per_request["api_gateway"] == 0
    assert url.per_request["logs_ingest"] == pytest.approx(http.per_request["logs_ingest"] - 230 / 1e9 * 0.5)


def test_quiet_log_format_drops_the_platform_lines(prices):
    loud = estimate(profile(), Deployment("m", "int8", 1024), workload(), prices)
    quiet = estimate(profile(), Deployment("m", "int8", 1024, platform_log_lines=False), workload(), prices)
    assert loud.per_request["logs_ingest"] - quiet.per_request["logs_ingest"] == pytest.approx(300 / 1e9 * 0.5)


def test_custom_metrics_are_metric_months(prices):
    cost = estimate(profile(), Deployment("m", "int8", 1024, custom_metrics=20), workload(), prices)
    assert cost.per_month_fixed["custom_metrics"] == pytest.approx(20 * 0.3)


def test_ephemeral_storage_above_512_mb_is_charged(prices):
    cost = estimate(profile(), Deployment("m", "int8", 1024, "x86_64", ephemeral_mb=1024), workload(), prices)
    assert cost.per_request["lambda_ephemeral"] == pytest.approx(0.5 * 29.82 / 1000 * 3e-8)


def test_free_tiers_are_not_subtracted():
    book = load_prices("us-east-1")
    # 1M requests/month is entirely inside Lambda's free tier, yet its request fee is charged
    cost = estimate(profile(memory_mb=128, warm_ms=1, init_ms=1, first_ms=1), Deployment("m", "int8", 128),
                    Workload(1e6), book)
    assert cost.per_request["lambda_requests"] * 1e6 == pytest.approx(0.20)
    assert cost.per_request["api_gateway"] * 1e6 == pytest.approx(1.00)
    assert cost.per_request["lambda_compute"] > 0


def test_storage_is_per_variant_per_version_kept(prices):
    assert s3_storage_month(GIB // 2, 4, prices) == pytest.approx(0.5 * 4 * 0.02)


@pytest.mark.parametrize("rate_per_s, warm_ms, expected", [
    (0.1, 10, 1.0),     # a request every 10 s: each one flushes
    (1.0, 10, 5.0),     # 5 requests per 5-second window
    (100.0, 10, 25.0),  # busy: every 25 requests
    # 1000 req/s at 500 ms: 500 in flight, 1,500 environments kept for the 3x peak: 2/3 req/s each
    (1000.0, 500, 1000 / 1500 * 5),
])
def test_requests_per_usage_write(rate_per_s, warm_ms, expected):
    w = workload(requests_per_month=rate_per_s * ONE_PER_SECOND)
    assert requests_per_usage_write(w, warm_ms) == pytest.approx(expected)


@pytest.mark.parametrize("field, value", [("requests_per_month", 0), ("requests_per_month", -5e6),
                                          ("texts_per_request", 0), ("texts_per_request", -1)])
def test_zero_or_negative_traffic_is_rejected(field, value):
    with pytest.raises(BadTrafficError, match="must be positive"):
        workload(**{field: value})


@pytest.mark.parametrize("changes, match", [({"arch": "sparc"}, "architecture"), ({"api": "grpc"}, "API type"),
                                            ({"memory_mb": 64}, "128..10240"), ({"ephemeral_mb": 100}, "ephemeral"),
                                            ({"provisioned_concurrency": -1}, "provisioned")])
def test_bad_deployment_values(changes, match):
    with pytest.raises(BadInputError, match=match):
        Deployment(**{"model": "m", "variant": "int8", "memory_mb": 1024, **changes})


@pytest.mark.parametrize("changes", [{"cold_start_share": 1.5}, {"token_cache_hit_rate": -0.1}, {"versions_kept": 0}])
def test_bad_workload_shares(changes):
    with pytest.raises(BadInputError):
        workload(**changes)


def test_a_missing_price_fails_the_estimate(make_price_doc):
    book = parse_prices(make_price_doc(apigateway__http_request=None), "test-1.yml")
    with pytest.raises(MissingPriceError, match="http_request"):
        estimate(profile(), Deployment("m", "int8", 1024), workload(), book)
