"""The per-request overhead levers in the cost model: access-log sampling and fields, per-model
metrics, the usage flush, the custom-metric count, and the goal rows for prod and the lean stage."""
from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from infra.cost.levers import custom_metric_count, deployment, usage_flush_bound, workload
from infra.cost.log_bytes import emf_bytes, function_log_bytes, lean_line_bytes
from infra.cost.model import Deployment, estimate
from infra.cost.pricing import parse_prices
from infra.cost.report_goals import goal_section, what_it_would_take
from infra.cost.stage_config import StageParams, read_stage
from infra.cost.sweep_worker import log_kinds
from functions.api.telemetry import EMF_FORMAT

PROD = StageParams(stage="prod", region="us-east-1", architecture="x86_64", api_type="http", api_memory_mb=1769,
                   api_threads=1, provisioned_concurrency=0, preload_models=("sentiment", "minilm-embed"),
                   reserved_concurrency=20)
LEAN = replace(PROD, stage="lean", api_type="url", preload_models=("sentiment",), lambda_log_format="json_quiet",
               access_log_sample_rate=0.1, access_log_fields="lean", metrics_per_model=False, usage_flush_requests=10,
               metrics_flush_requests=10)


def test_sampling_prices_that_share_of_the_line_and_nothing_else(sample):
    p = sample.profile("sentiment", "int8", 1769)
    full, tenth, none = (function_log_bytes(p, sample_rate=r) for r in (1.0, 0.1, 0.0))
    assert full.total == pytest.approx(p.log_bytes)  # the sweep's own settings give back what it measured
    assert tenth.access == pytest.approx(0.1 * full.access_line)
    assert none.total == pytest.approx(full.emf + full.emf_model)
    assert "sampled: 0.1" in tenth.source and "derived" in full.source


def test_lean_fields_price_the_line_the_api_builds(sample):
    p = sample.profile("sentiment", "int8", 1769)
    lean = function_log_bytes(p, fields="lean")
    assert lean.access_line == lean_line_bytes("sentiment@int8", ms=p.warm_ms)
    assert 120 < lean.access_line < function_log_bytes(p).access_line / 2


def test_per_model_metrics_off_drop_the_emf_copies_the_code_writes(sample):
    p = sample.profile("sentiment", "int8", 1769)
    on, off = function_log_bytes(p), function_log_bytes(p, per_model=False)
    assert on.emf_model == pytest.approx(emf_bytes("sentiment", ms=p.warm_ms)[1]) and off.emf_model == 0
    assert on.total - off.total == pytest.approx(on.emf_model)


def test_a_sweep_that_split_the_bytes_is_priced_from_its_measurement(sample):
    p = replace(sample.profile("sentiment", "int8", 1769), log_bytes=1000.0, log_access_bytes=600.0,
                log_emf_model_bytes=150.0, measured_emf_format=EMF_FORMAT)
    b = function_log_bytes(p)
    assert (b.access_line, b.emf, b.emf_model) == (600.0, 250.0, 150.0)
    assert "measured by the sweep" in b.source and "format" not in b.source


def test_emf_measured_in_an_older_format_is_priced_as_the_code_writes_it(sample):
    p = replace(sample.profile("sentiment", "int8", 1769), log_bytes=1300.0, log_access_bytes=632.0,
                log_emf_model_bytes=347.0, measured_emf_format=1)
    b = function_log_bytes(p)
    service, per_model = emf_bytes("sentiment", ms=p.warm_ms)
    assert (b.emf, b.emf_model) == (service, per_model)
    assert service < 300 and per_model < 50  # format 1 wrote ~320 + ~347 B: a second line per request
    assert "the file measured format 1: derived" in b.source


def test_one_emf_line_per_n_requests_prices_a_share_of_the_line(sample):
    p = replace(sample.profile("sentiment", "int8", 1769), log_bytes=1000.0, log_access_bytes=600.0,
                log_emf_model_bytes=40.0, measured_emf_format=EMF_FORMAT)
    one, ten = function_log_bytes(p, per_model=False), function_log_bytes(p, per_model=False, metrics_per_line=10)
    code_one, code_ten = emf_bytes("sentiment", ms=p.warm_ms)[0], emf_bytes("sentiment", ms=p.warm_ms, requests=10)[0]
    assert one.emf == pytest.approx(360.0) and ten.emf == pytest.approx(360.0 * code_ten / code_one)
    assert code_ten < code_one / 5 and "one EMF line per 10 requests" in ten.source


def test_the_lean_stage_writes_one_emf_line_per_ten_requests_at_the_goal_traffic(sample, prices):
    from infra.cost.model import requests_per_metrics_line

    p = sample.profile("sentiment", "int8", 1769)
    lean, every = deployment(LEAN, "sentiment", "int8", 1769), deployment(replace(LEAN, metrics_flush_requests=1),
                                                                           "sentiment", "int8", 1769)
    w = workload(LEAN, 10e6)
    assert requests_per_metrics_line(w, lean, p.warm_ms) == 10 and requests_per_metrics_line(w, every, p.warm_ms) == 1
    assert 1 < requests_per_metrics_line(workload(LEAN, 1e6), lean, p.warm_ms) < 10  # low traffic: the 5 s rule
    a, b = estimate(p, every, w, prices), estimate(p, lean, w, prices)
    saved = a.per_request["logs_ingest"] - b.per_request["logs_ingest"]
    emf_one, emf_ten = emf_bytes("sentiment", ms=p.warm_ms)[0], emf_bytes("sentiment", ms=p.warm_ms, requests=10)[0]
    warm_share = 1 - b.cold_start_share  # cold requests' bytes are the measured cold lines
    assert saved == pytest.approx(warm_share * (emf_one - emf_ten) / 1e9 * 0.5)


def test_the_sweep_worker_splits_log_bytes_by_kind():
    access = json.dumps({"level": "INFO", "message": "request", "status": 200}) + "\n"
    lean = json.dumps({"rid": "r", "route": "POST /v1/classify"}) + "\n"
    emf = {"_aws": {"CloudWatchMetrics": [{"Dimensions": [["service"]]}]}, "service": "api"}
    model = {"_aws": {"CloudWatchMetrics": [{"Dimensions": [["model", "service"]]}]}, "model": "m"}
    lines = [access, lean, json.dumps(emf) + "\n", json.dumps(model) + "\n", "not json\n"]
    kinds = log_kinds("".join(lines).encode())
    assert kinds == {"access_bytes": len(access) + len(lean), "access_lines": 2,
                     "emf_bytes": len(lines[2]) + len(lines[3]), "emf_model_bytes": len(lines[3])}


def test_the_sweep_worker_counts_what_a_per_model_dimension_set_adds_to_a_shared_line():
    from functions.api import jsonio
    from functions.api.telemetry import Telemetry, emf_documents

    def line(per_model: bool) -> bytes:
        t = Telemetry(per_model=per_model)
        t.inference("sentiment", 23.12, 1, 20)
        (doc,) = emf_documents(t.drain(), 1796133592870)
        return jsonio.dumps(doc) + b"\n"

    shared, alone = line(True), line(False)
    kinds = log_kinds(shared)
    assert kinds["emf_bytes"] == len(shared) and kinds["emf_model_bytes"] == len(shared) - len(alone)
    assert kinds["emf_model_bytes"] == emf_bytes("sentiment", ms=23.12)[1]


def test_log_levers_move_the_logs_line_item(sample, prices):
    p = sample.profile("sentiment", "int8", 1769)
    w = workload(PROD, 10e6)
    costs = {label: estimate(p, Deployment("sentiment", "int8", 1769, arch="x86_64", api="url", **levers), w, prices)
             for label, levers in {"full": {}, "sampled": {"access_log_sample_rate": 0.1},
                                   "lean": {"access_log_fields": "lean"},
                                   "no per-model": {"metrics_per_model": False}}.items()}
    logs = {k: c.per_request["logs_ingest"] for k, c in costs.items()}
    assert logs["full"] > logs["lean"] > 0 and logs["full"] > logs["sampled"] and logs["full"] > logs["no per-model"]
    with pytest.raises(Exception, match="access log fields"):
        Deployment("sentiment", "int8", 1769, access_log_fields="tiny")


def test_usage_flushed_every_n_requests_writes_about_one_in_n(sample, prices):
    p = sample.profile("sentiment", "int8", 1769)
    d = deployment(PROD, "sentiment", "int8", 1769)
    every = estimate(p, d, workload(PROD, 10e6), prices).per_request["dynamodb"]
    tenth = estimate(p, d, workload(LEAN, 10e6), prices).per_request["dynamodb"]
    reads = 0.05 * p.ddb_reads_on_miss * prices.get("dynamodb.read_request_unit")
    assert tenth - reads == pytest.approx((every - reads) / 10, rel=0.05)


def test_the_flush_bound_is_stated_in_numbers():
    assert "nothing lost" in usage_flush_bound(PROD, max_texts=64)
    text = usage_flush_bound(LEAN, max_texts=64)
    assert "up to 9 requests' usage (<= 576 texts) lost" in text
    assert "up to 10 requests' texts (<= 640)" in text and "at most 20 environments" in text


def test_a_lean_stage_emits_fewer_custom_metrics():
    prod, lean = custom_metric_count(2, True), custom_metric_count(1, False)
    assert lean < prod
    assert custom_metric_count(5, False) == lean  # without per-model copies the count no longer grows with models
    assert deployment(LEAN, "sentiment", "int8", 1769).custom_metrics == pytest.approx(lean)


def test_goal_rows_for_both_stages_with_verdicts_and_what_it_would_take(sample, make_price_doc):
    prices = parse_prices(make_price_doc(openai__embedding_3_small_1k_tokens=0.00002,
                                         openai__embedding_3_small_batch_1k_tokens=0.00001,
                                         sagemaker__serverless_gb_second=0.00002, sagemaker__serverless_data_gb=0.016),
                          "test-1.yml")
    lines = "\n".join(goal_section(sample, prices, PROD, {}, LEAN))
    for stage in ("prod", "lean"):
        for door, target in (("Lambda function URL", "0.40"), ("HTTP API", "1.60")):
            assert re.search(rf"\| {stage} \(1769 MB\) \| {door}, \$ per 1M requests \| <= \${target} \| "
                             r"\$[0-9.]+ .*\| (met|\*\*not met\*\*) \|", lines), (stage, door)
    assert "- `lean`: " in lines and "0.1 of successes with lean fields" in lines and "lost per environment" in lines
    take = what_it_would_take(sample, prices, LEAN, {})[0]
    # the test prices: $0.20 per 1M requests is half the goal; $0.20 left at 1769 MB is 0.2e-6/(1e-5 x 1.7275 GB) s
    assert "Lambda's request fee alone is $0.20, 50% of the goal" in take
    assert f"{0.2e-6 / (0.00001 * 1769 / 1024) * 1e3:.1f} ms at x86_64" in take
    assert f"{0.2e-6 / (0.000008 * 1769 / 1024) * 1e3:.1f} ms at the arm64 price" in take


def test_the_lean_stage_in_config_is_the_lean_one():
    lean = read_stage("lean")
    assert (lean.api_type, lean.tracing, lean.lambda_log_format) == ("url", False, "json_quiet")
    assert lean.access_log_sample_rate < 1 and lean.access_log_fields == "lean" and not lean.metrics_per_model
    assert lean.usage_flush_requests > 1 and lean.reserved_concurrency  # the bound needs the cap


def test_levers_the_model_prices_do_not_make_a_measurement_stale():
    from infra.cost.stamp import differences

    models = {"sentiment": {"prod": "v1-int8", "int8": "v1-int8"}}
    was = {"models": models, "settings": {"SNLP_ACCESS_LOG_SAMPLE_RATE": "1", "SNLP_USAGE_FLUSH_REQUESTS": "1",
                                          "SNLP_METRICS_PER_MODEL": "true", "SNLP_MAX_TEXTS": "64"}}
    lean = {"models": models, "settings": {"SNLP_ACCESS_LOG_SAMPLE_RATE": "0.1", "SNLP_ACCESS_LOG_FIELDS": "lean",
                                           "SNLP_USAGE_FLUSH_REQUESTS": "10", "SNLP_MAX_TEXTS": "64"}}
    assert differences(was, lean) == []
    other = {"models": models, "settings": {"SNLP_MAX_TEXTS": "8"}}
    assert differences(was, other) == ["setting SNLP_MAX_TEXTS: measured '64', stage now '8'"]


def test_profiles_read_the_split_and_the_levers_a_sweep_recorded(sample):
    from infra.cost.measurements import Measurements

    doc = json.loads(json.dumps(sample.doc))
    doc["overhead_levers"] = {"access_log_sample_rate": 1, "access_log_fields": "full", "metrics_per_model": True,
                              "usage_flush_requests": 1}
    run = next(r for r in doc["runs"] if (r["model"], r["variant"], r["memory_mb"]) == ("sentiment", "int8", 1769))
    for warm in run["warm"].values():
        warm.update(log_access_bytes=630.0, log_access_lines=1.0, log_emf_model_bytes=346.0)
    p = Measurements(doc).profile("sentiment", "int8", 1769)
    assert (p.log_access_bytes, p.log_emf_model_bytes, p.measured_flush_requests) == (630.0, 346.0, 1)
    assert sample.profile("sentiment", "int8", 1769).log_access_bytes is None  # older files: derived
