from __future__ import annotations

import json

import pytest

from infra.cost.errors import BadInputError, NoMeasurementsError
from infra.cost.lambda_cpu import round_up_memory, thread_count, vcpu_share
from infra.cost.measurements import Measurements, interpolate
from infra.cost.model import Workload
from infra.cost.recommend import Candidate, function_memory, pick, recommend
from infra.cost.sweep import _borrow_request_overheads


def test_lambda_cpu_rule():
    assert vcpu_share(1769, host_cpus=2) == 1.0
    assert vcpu_share(512, host_cpus=2) == pytest.approx(512 / 1769)
    assert vcpu_share(4096, host_cpus=2) == 2.0  # capped at the host: 2.32 on Lambda
    # one thread until a second measurably pays (TWO_THREADS_FROM_MB), then one per visible core
    assert [thread_count(m, 2) for m in (512, 1769, 1770, 2048, 3008, 4096)] == [1, 1, 1, 1, 2, 2]
    assert thread_count(4096, 1) == 1 and thread_count(10240, 8) == 6


def test_memory_needed_is_peak_rss_plus_headroom_rounded_up():
    assert round_up_memory(230, [512, 1024]) == 512
    assert round_up_memory(600, [512, 1024, 1769]) == 1024  # 660 MB
    assert round_up_memory(470, [512, 1024]) == 1024  # 517 MB does not fit 512
    with pytest.raises(ValueError):
        round_up_memory(2000, [512, 1024])


def test_interpolates_between_request_sizes_and_extends_the_last_slope():
    points = {1: 3.0, 8: 10.0, 32: 34.0}
    assert interpolate(points, 1) == 3.0
    assert interpolate(points, 4) == pytest.approx(6.0)
    assert interpolate(points, 20) == pytest.approx(22.0)
    assert interpolate(points, 64) == pytest.approx(66.0)


def test_sample_file_lookups(sample):
    assert sample.models() == ["minilm-embed", "sentiment"]
    assert sample.variants("sentiment") == ["fp32", "int8", "pytorch-fp32"]
    assert sample.memories("sentiment", "int8") == [512, 1024, 1769]
    assert sample.required_memory("sentiment", "int8") == 512
    assert sample.required_memory("sentiment", "pytorch-fp32") == 1024
    p = sample.profile("sentiment", "int8", 1024, texts=1)
    run = sample.run("sentiment", "int8", 1024)
    assert p.warm_ms == run["warm"]["1"]["median_ms"]
    assert p.init_ms == run["cold"]["init_ms"] and p.cold_s3_gets == 4


def test_a_variant_without_measurements_says_how_to_measure_it(sample):
    with pytest.raises(NoMeasurementsError) as err:
        sample.profile("sentiment", "pruned", 1024)
    assert "`python -m infra.cost sweep --models sentiment --variants pruned`" in str(err.value)
    assert "fp32, int8, pytorch-fp32" in str(err.value)


def test_an_unmeasured_memory_lists_the_measured_ones(sample):
    with pytest.raises(NoMeasurementsError, match=r"512, 1024, 1769 MB.*--memory 3008"):
        sample.profile("sentiment", "int8", 3008)


def test_no_measurement_files_says_how_to_make_them(tmp_path):
    with pytest.raises(NoMeasurementsError, match="python -m infra.cost sweep"):
        Measurements.latest(tmp_path)
    (tmp_path / "old.json").write_text(json.dumps({"schema": 0, "runs": []}))
    with pytest.raises(NoMeasurementsError, match="schema"):
        Measurements.latest(tmp_path)


def _cand(memory, ms, lambda_usd, all_in=1.0):
    class _Cost:
        lambda_compute_usd = lambda_usd
        request_usd = all_in  # memory-independent fees must not decide anything
    return Candidate(memory, ms, _Cost())  # type: ignore[arg-type]


def test_strategies_pick_like_power_tuning():
    found = [_cand(512, 10.0, 2.0e-6, 9e-6), _cand(1024, 5.0, 2.1e-6, 1e-6), _cand(2048, 4.0, 3.0e-6, 1e-7)]
    assert pick(found, "cost").memory_mb == pick(found, "cheapest").memory_mb == 512
    assert pick(found, "speed").memory_mb == pick(found, "fastest").memory_mb == 2048
    # balanced on Lambda cost: 0.5*cost/3.0e-6 + 0.5*ms/10 -> 512: 0.833, 1024: 0.600, 2048: 0.700
    assert pick(found, "balanced").memory_mb == 1024
    # the weight: 1.0 is cost only, 0.0 speed only (Power Tuning's balancedWeight)
    assert pick(found, "balanced", 1.0).memory_mb == 512 and pick(found, "balanced", 0.0).memory_mb == 2048
    with pytest.raises(BadInputError, match="strategy"):
        pick(found, "greedy")
    with pytest.raises(BadInputError, match="weight"):
        pick(found, "balanced", 1.5)


def test_balanced_ignores_fees_that_do_not_depend_on_memory(sample, prices):
    rec = recommend(sample, prices, Workload(1e6), "sentiment", "int8", "balanced")
    flat = recommend(sample, prices.__class__(prices.region, prices.checked, {
        **prices.prices, "apigateway.http_request": prices.price("apigateway.http_request").__class__(
            "apigateway.http_request", 1.0, "request", "test", "https://example.com", "2026-11")}),
        Workload(1e6), "sentiment", "int8", "balanced")
    assert rec.memory_mb == flat.memory_mb
    out = rec.power_tuning()
    assert out["power"] == rec.memory_mb and out["balancedWeight"] == 0.5
    assert [s["value"] for s in out["stats"]] == [c.memory_mb for c in rec.candidates]
    assert all(s["averagePrice"] > 0 and s["averageDuration"] > 0 for s in out["stats"])


def test_recommendation_never_goes_below_the_memory_a_variant_needs(sample, prices):
    rec = recommend(sample, prices, Workload(1e6), "sentiment", "pytorch-fp32", "cheapest")
    assert rec.required_memory_mb == 1024
    assert min(c.memory_mb for c in rec.candidates) == 1024
    assert function_memory([rec, recommend(sample, prices, Workload(1e6), "sentiment", "int8", "cheapest")]) \
        == rec.memory_mb


def test_pytorch_runs_borrow_the_handler_fees_from_int8_at_the_same_memory():
    handler = {"model": "sentiment", "variant": "int8", "runner": "handler", "memory_mb": 1024,
               "warm": {"1": {"log_bytes": 900, "response_bytes": 120, "ddb_read_units": 0, "ddb_write_units": 0.2}},
               "cold": {"log_bytes": 4000, "ddb_read_units": 1.0, "ddb_write_units": 0}}
    torch = {"model": "sentiment", "variant": "pytorch-fp32", "runner": "pytorch", "memory_mb": 1024,
             "warm": {"1": {"log_bytes": 0, "response_bytes": 80, "ddb_read_units": 0, "ddb_write_units": 0}},
             "cold": {"log_bytes": 300, "ddb_read_units": 0, "ddb_write_units": 0, "s3_get": 6}}
    _borrow_request_overheads([handler, torch])
    assert torch["warm"]["1"]["log_bytes"] == 900 and torch["warm"]["1"]["response_bytes"] == 120
    assert torch["cold"]["ddb_read_units"] == 1.0 and torch["cold"]["s3_get"] == 6  # its own download
    assert "int8" in torch["borrowed_from"]
