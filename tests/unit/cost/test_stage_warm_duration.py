"""Each priced stage's warm duration under its own overhead levers (issue 19): the sweep splits out
the usage writes and runs the lean stage's levers, the model adds writes back at the stage's flush
rate, and the stamp names the levers each stage was measured under so a report warns when a stage
deploys others."""
from __future__ import annotations

import json

import pytest

from infra.cost import stamp
from infra.cost.measurements import Measurements
from infra.cost.model import Deployment, estimate, mean_warm_billed_ms, requests_per_usage_write
from infra.cost.sweep import plan_seconds
from infra.cost.sweep_worker import write_split
from tests.unit.cost.test_cost_arithmetic import profile, workload

PROD_LEVERS = {"access_log_sample_rate": "1.0", "access_log_fields": "full", "metrics_per_model": "True",
               "metrics_flush_requests": "1", "usage_flush_requests": "1"}
LEAN_LEVERS = {"access_log_sample_rate": "0.1", "access_log_fields": "lean", "metrics_per_model": "False",
               "metrics_flush_requests": "10", "usage_flush_requests": "10"}
NOW = {"commit": "abc", "stage": "prod", "build_key": "k1", "models": {"sentiment": {"prod": "v2", "int8": "v2"}},
       "settings": {"micro_batch_size": "8"}, "levers": {"prod": PROD_LEVERS, "lean": LEAN_LEVERS}}


# --- pricing -----------------------------------------------------------------------------------
def test_one_request_in_n_pays_the_write_each_billed_on_its_own():
    p = profile(warm_ms=15.2, warm_ms_no_write=10.2, usage_write_ms=5.0)
    busy = workload(requests_per_month=1e9, usage_flush_requests=10)
    assert requests_per_usage_write(busy, p.warm_ms) == 10
    # 9 in 10 requests bill ceil(10.2) = 11 ms, 1 in 10 bills ceil(15.2) = 16 ms
    assert mean_warm_billed_ms(p, busy) == pytest.approx(0.9 * 11 + 0.1 * 16)
    assert mean_warm_billed_ms(p, workload(requests_per_month=1e9, usage_flush_requests=1)) == 16
    cost = estimate(p, Deployment("m", "int8", 1024, arch="x86_64"), busy, _prices())
    assert cost.warm_billed_ms == pytest.approx(11.5)


def test_a_file_without_the_split_prices_its_median_as_measured():
    p = profile(warm_ms=15.2)
    assert mean_warm_billed_ms(p, workload(usage_flush_requests=10)) == 16


def test_lean_compute_is_below_prod_compute_from_the_same_run(sample_doc):
    meas = Measurements(sample_doc)
    prod, lean = (meas.profile("sentiment", "int8", 1769, stage=s) for s in ("prod", "lean"))
    assert prod.warm_ms_no_write == pytest.approx(12.0) and lean.warm_ms_no_write == pytest.approx(11.0)
    assert prod.usage_write_ms == lean.usage_write_ms == pytest.approx(6.0)  # the write: prod's run, every request
    assert "stage lean's overhead levers" in lean.warm_source and "own were not run" not in prod.warm_source
    p_cost = estimate(prod, Deployment("sentiment", "int8", 1769, arch="x86_64"),
                      workload(requests_per_month=1e9, usage_flush_requests=1), _prices())
    l_cost = estimate(lean, Deployment("sentiment", "int8", 1769, arch="x86_64"),
                      workload(requests_per_month=1e9, usage_flush_requests=10), _prices())
    assert p_cost.warm_billed_ms == 18 and l_cost.warm_billed_ms == pytest.approx(0.9 * 11 + 0.1 * 17)
    assert l_cost.per_request["lambda_compute"] < p_cost.per_request["lambda_compute"] * 0.85  # cold starts alike


def test_a_stage_the_sweep_did_not_run_is_priced_from_the_sweeps_run_and_says_so(sample_doc):
    for run in sample_doc["runs"]:
        run.pop("stages", None)
    lean = Measurements(sample_doc).profile("sentiment", "int8", 1769, stage="lean")
    assert lean.warm_ms_no_write == pytest.approx(12.0) and "stage lean's own were not run" in lean.warm_source


# --- the sweep's split -------------------------------------------------------------------------
def test_the_worker_splits_each_request_into_writes_and_the_rest():
    # (ms, ..., (write calls, write ms)) as sweep_worker.timed returns them
    samples = [(20.0, 0, 0, (), 0, {}, (1, 8.0)), (21.0, 0, 0, (), 0, {}, (1, 7.0)), (12.5, 0, 0, (), 0, {}, (0, 0.0))]
    split = write_split(samples)
    assert split == {"median_ms_without_writes": 12.5, "writes": 2, "write_ms_median": 7.5}
    assert "write_ms_median" not in write_split([(12.0, 0, 0, (), 0, {}, (0, 0.0))])


def test_the_plan_counts_the_stage_runs():
    assert plan_seconds(["handler"], 1, 1, 15, stage_runs=1) > plan_seconds(["handler"], 1, 1, 15)
    assert plan_seconds(["pytorch"], 1, 1, 15, stage_runs=1) == plan_seconds(["pytorch"], 1, 1, 15)


# --- the stamp ---------------------------------------------------------------------------------
def test_matching_levers_are_no_difference():
    assert stamp.differences(json.loads(json.dumps(NOW)), NOW) == []


def test_a_stage_that_deploys_other_levers_than_measured_is_named():
    measured = {**NOW, "levers": {"prod": PROD_LEVERS, "lean": {**LEAN_LEVERS, "usage_flush_requests": "1"}}}
    (found,) = stamp.differences(measured, NOW)
    assert found.startswith("stage lean: usage_flush_requests measured '1', deploys '10'")


def test_a_stage_not_measured_and_a_file_without_levers_are_named():
    only_prod = {**NOW, "levers": {"prod": PROD_LEVERS}}
    (found,) = stamp.differences(only_prod, NOW)
    assert "stage lean was not measured under its own overhead levers" in found and "stage prod's run" in found
    old = {k: v for k, v in NOW.items() if k != "levers"}
    found = stamp.differences(old, NOW)
    assert len(found) == 2 and all("does not name the overhead levers" in d for d in found)


def test_the_current_stamp_names_each_priced_stages_levers(tmp_path):
    now = stamp.current("prod", tmp_path)
    assert set(now["levers"]) == {"prod", "lean"}
    assert now["levers"]["lean"]["usage_flush_requests"] == "10" and now["levers"]["prod"]["usage_flush_requests"] == "1"
    assert now["levers"]["lean"]["metrics_flush_requests"] == "10"
    assert stamp.levers_of(stamp.lever_env("lean")) == now["levers"]["lean"]


def test_make_cost_strict_refuses_a_file_whose_lean_levers_differ(tmp_path, sample_doc, capsys):
    from infra.cost import cli

    doc = dict(sample_doc, build={**stamp.current("prod"), "levers": {"prod": PROD_LEVERS,
                                                                      "lean": {**LEAN_LEVERS, "usage_flush_requests": "5"}}})
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    assert cli.main(["report", "--measurements", str(path), "--out", str(tmp_path / "out"), "--strict"]) != 0
    err = capsys.readouterr().err
    assert "stage lean: usage_flush_requests measured '5', deploys '10'" in err and "refusing" in err
    assert not (tmp_path / "out").exists()


# --- fixtures ----------------------------------------------------------------------------------
def _prices():
    from infra.cost.pricing import parse_prices
    from tests.unit.cost.conftest import price_doc

    return parse_prices(price_doc(), "test-1.yml")


@pytest.fixture
def sample_doc(sample) -> dict:
    """The sample file with one run split as a current sweep writes it: prod's run writes every
    request (6 ms each), the lean stage's own run (flush 10) is 1 ms faster without its writes."""
    doc = json.loads(json.dumps(sample.doc))
    doc["build"] = {**(doc.get("build") or {}), "stage": "prod", "levers": {"prod": PROD_LEVERS, "lean": LEAN_LEVERS}}
    for run in doc["runs"]:
        if (run["model"], run["variant"], run["memory_mb"]) != ("sentiment", "int8", 1769):
            continue
        for warm in run["warm"].values():
            warm.update(median_ms=18.0, median_ms_without_writes=12.0, write_ms_median=6.0, writes=15)
        run["stages"] = {"lean": {"env": {}, "warm": {n: {"median_ms": 11.0, "median_ms_without_writes": 11.0,
                                                          "writes": 1, "write_ms_median": 6.5}
                                                      for n in run["warm"]}}}
    return doc
