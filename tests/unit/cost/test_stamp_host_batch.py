"""Build stamps, the busy-host check, the batch path's arithmetic and the drift check."""
from __future__ import annotations

import json

import pytest

from infra.cost import host, stamp
from infra.cost.batch import BatchJob, estimate_batch, openai_per_million_texts
from infra.cost.stage_config import StageParams, drift
from infra.cost.sweep import plan_seconds
from tests.unit.cost.test_cost_arithmetic import profile

NOW = {"commit": "abc", "stage": "prod", "build_key": "k1",
       "models": {"sentiment": {"prod": "v2", "int8": "v2"}},
       "settings": {"micro_batch_size": "8", "SNLP_METRICS_PER_MODEL": "true"}}


def test_a_matching_stamp_has_no_differences():
    assert stamp.differences(json.loads(json.dumps(NOW)), NOW) == []


def test_every_difference_is_named():
    old = {**NOW, "build_key": "k0", "models": {"sentiment": {"prod": "v1", "int8": "v1"}},
           "settings": {"micro_batch_size": "32", "SNLP_METRICS_PER_MODEL": "true"}}
    found = stamp.differences(old, NOW)
    assert any("sentiment: measured prod v1" in d for d in found)
    assert any("build key" in d for d in found)
    assert any("micro_batch_size: measured '32', stage now '8'" in d for d in found)
    assert "no build stamp" in stamp.differences(None, NOW)[0]


def test_the_current_stamp_names_commit_models_and_stage_settings(tmp_path):
    (tmp_path / "sentiment").mkdir()
    (tmp_path / "sentiment" / "aliases.json").write_text('{"prod": "v9", "int8": "v9"}')
    now = stamp.current("prod", tmp_path)
    assert now["models"] == {"sentiment": {"prod": "v9", "int8": "v9"}}
    assert now["settings"]["micro_batch_size"] and now["settings"]["threads"] == stamp.THREAD_RULE
    assert "SNLP_ARTIFACTS_BUCKET" not in now["settings"]  # resource names are not settings
    assert now["commit"]


def test_busy_cores_from_proc_stat_deltas():
    # 2 cores: 150 of 400 jiffies busy -> 0.75 cores
    assert host.busy_cores((1000, 4000), (1150, 4400), 2) == pytest.approx(2 * 150 / 400)
    assert host.HostCheck(0.1, 0.2, 2).quiet and not host.HostCheck(0.6, 1.5, 2).quiet
    assert "BUSY" in host.HostCheck(0.6, 1.5, 2).message()
    checked = host.check(sample_s=0.0, sleep=lambda s: None)
    assert checked.cpus >= 1 and checked.busy_cores >= 0


def test_batch_cost_per_job_by_hand(prices):
    p = profile(warm_ms=64.0, init_ms=500.0, first_ms=100.0, response_bytes=3200)  # 2 ms per text, 100 B out
    job = BatchJob(texts_per_job=100_000, jobs_per_month=10, memory_mb=2048, arch="x86_64", chunk_bytes=8 * 2**20)
    assert job.chunks == 2  # 13 MB of JSONL in 8 MiB chunks
    b = estimate_batch(p, job, prices)
    # 200,000 ms of inference + 2 cold starts of 600 ms, at 2 GB and $1e-5 per GB-s
    assert b.per_job["lambda_compute"] == pytest.approx((200_000 + 2 * 600) / 1000 * 2 * 1e-5)
    assert b.per_job["data_out"] == pytest.approx(100_000 * 100 / 1e9 * 0.1)
    per_m = b.per_million_texts
    assert per_m == pytest.approx((sum(b.per_job.values()) * 10 + b.per_month_fixed["sqs_idle_polling"]) / 1e6 * 1e6)


def test_openai_reference_is_the_token_price(make_price_doc):
    from infra.cost.pricing import load_prices

    book = load_prices("us-east-1")
    assert openai_per_million_texts(book, 20) == pytest.approx(0.40)
    assert openai_per_million_texts(book, 20, batch=True) == pytest.approx(0.20)


def test_drift_names_memory_and_thread_mismatches():
    stage = StageParams("prod", "us-east-1", "x86_64", "http", 3008, 1, 0, ("sentiment",))
    found = drift(stage, 1536, measured_threads=2)
    assert any("recommendation is 1536 MB" in d for d in found)
    assert any("api_threads is 1 at 3008 MB" in d for d in found)
    assert any("ran 2 thread(s)" in d for d in found)
    at_2048 = drift(StageParams("prod", "us-east-1", "x86_64", "http", 2048, 1, 0, ()), 2048)
    assert at_2048 == []  # one thread is the measured rule at 1.16 vCPU
    assert drift(StageParams("prod", "us-east-1", "x86_64", "http", 1536, 1, 0, ()), 1536, 1) == []


def test_the_plan_counts_cold_starts_and_warm_reps():
    assert plan_seconds(["handler"], 7, cold_starts=5, reps=15) == pytest.approx(7 * (2.0 * 5 + 0.35 * 16))
    assert plan_seconds(["handler", "pytorch"], 1, 1, 0) == pytest.approx(2.0 + 0.35 + 9.0 + 0.8)


def test_without_a_build_now_the_versions_cannot_be_checked():
    assert any("no models are built" in d for d in stamp.differences(NOW, {**NOW, "models": {}}))
