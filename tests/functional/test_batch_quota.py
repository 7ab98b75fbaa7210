"""Batch jobs on the API's meter, and the upload limits, on moto: admission at job creation (429),
texts billed per chunk into the same USAGE# rows, a job stopped at the quota boundary with its
counts billed, oversized / second / expired uploads failing their job before any inference."""
from __future__ import annotations

import json
import time

import pytest
import requests
from moto import mock_aws

from functions.auth.errors import QuotaExceededError
from functions.auth.tokens import TokenRecord
from functions.auth.usage import read_usage, utc_day
from functions.batch.jobs import EXPIRY_GRACE_S, JobService
from functions.batch.ledger import Ledger
from functions.batch.metering import ChunkMeter
from functions.nlp.errors import ValidationError
from tests.functional.api_events import create_tokens_table
from tests.functional.batch_stack import DATA, TABLE, make_stack

pytestmark = pytest.mark.timeout(120)
TOKENS = "snlp-tokens"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stack(tiny_registry, tmp_path):
    with mock_aws():
        stack = make_stack(tiny_registry, tmp_path / "cache", clock=time.time, tokens_table=TOKENS)
        create_tokens_table(stack.ddb, TOKENS)
        yield stack


def _jobs(stack, clock=time.time, **kwargs) -> JobService:
    return JobService.from_settings(stack.settings.with_(**kwargs) if kwargs else stack.settings, stack.s3,
                                    stack.ddb, store=stack.store, clock=clock)


def _token(quota: int | None) -> TokenRecord:
    return TokenRecord("tok_a", "alice", "*", quota)


def _usage(stack) -> dict[str, int]:
    return read_usage(stack.ddb, TOKENS, "tok_a", utc_day(time.time()))


def _put(job: dict, body: bytes) -> requests.Response:
    return requests.put(job["upload_url"], data=body, headers=job["upload_headers"], timeout=10)


def _lines(n: int, *, bad: int = 0) -> bytes:
    rows = [json.dumps({"id": i, "text": f"good text number {i}"}) for i in range(n)] + ["{not json"] * bad
    return ("\n".join(rows) + "\n").encode()


def test_exhausted_quota_refuses_the_job_with_429_before_any_url(stack):
    jobs = _jobs(stack)
    jobs.create_job(_token(10), "jsonl", texts=10)
    with pytest.raises(QuotaExceededError) as err:
        jobs.create_job(_token(10), "jsonl")  # undeclared: reserves one text, and none is left
    assert err.value.code == "quota-exceeded" and 0 < err.value.retry_after <= 86400
    with pytest.raises(QuotaExceededError):
        _jobs(stack).create_job(_token(30), "jsonl", texts=21)  # declared beyond what is left
    for bad in (0, -1, True, 1.5, "10", 10**40):  # a declaration is a line count: 422, never a 503
        with pytest.raises(ValidationError):
            jobs.create_job(_token(10), "jsonl", texts=bad)
    jobs_rows = stack.ddb.scan(TableName=TABLE)["Items"]
    assert len(jobs_rows) == 1  # the refused jobs left nothing behind
    assert _usage(stack)["texts"] == 10


def test_job_within_quota_bills_what_ran_and_gives_the_reservation_back(stack):
    jobs = _jobs(stack)
    job = jobs.create_job(_token(100), "jsonl", texts=40)
    assert job["reserved_texts"] == 40 and _usage(stack)["texts"] == 40  # reserved at creation
    assert _put(job, _lines(6, bad=2)).status_code == 200
    stack.drain()
    status = jobs.get_job(job["job_id"], "tok_a")
    assert status["status"] == "done" and status["counts"] == {"lines_read": 8, "ok": 6, "failed": 2}
    usage = _usage(stack)
    results = [json.loads(r) for r in requests.get(status["results_url"], timeout=10).text.splitlines()]
    assert usage["texts"] == 6 and usage["requests"] == 1  # the 6 that ran; 34 reserved went back
    assert usage["tokens"] == sum(r.get("tokens", 0) for r in results) > 0
    assert "reservation" not in Ledger(stack.ddb, TABLE).get_job(job["job_id"])


def test_job_crossing_the_quota_stops_at_the_boundary_with_its_counts_billed(stack):
    jobs = _jobs(stack)
    job = jobs.create_job(_token(5), "jsonl")
    assert _put(job, _lines(9)).status_code == 200
    stack.drain()
    status = jobs.get_job(job["job_id"], "tok_a")
    assert status["status"] == "quota-exceeded" and "quota" in status["reason"]
    assert status["counts"] == {"lines_read": 5, "ok": 5, "failed": 0}
    results = [json.loads(r) for r in requests.get(status["results_url"], timeout=10).text.splitlines()]
    assert [r["id"] for r in results] == [0, 1, 2, 3, 4]  # the lines before the boundary, in order
    assert _usage(stack)["texts"] == 5  # exactly the quota: nothing beyond it ran
    summary = stack.summary(job["job_id"])
    assert summary["status"] == "quota-exceeded" and summary["counts"]["ok"] == 5


def test_fanned_out_job_crossing_the_quota_bills_exactly_the_quota(stack):
    small = stack.with_settings(batch_chunk_bytes=200)  # ~7 lines per chunk: several chunks
    jobs = _jobs(small)
    job = jobs.create_job(_token(17), "jsonl", texts=1)
    assert _put(job, _lines(40)).status_code == 200
    small.drain()
    status = jobs.get_job(job["job_id"], "tok_a")
    assert status["status"] == "quota-exceeded"
    assert status["counts"]["ok"] == 17 == _usage(small)["texts"]
    summary = small.summary(job["job_id"])
    assert len(summary["chunks"]) > 2 and sum(c["counts"]["ok"] for c in summary["chunks"]) == 17


def test_oversized_upload_fails_the_job_before_any_model_is_loaded(stack, monkeypatch):
    loads = []
    monkeypatch.setattr(stack.store, "get", lambda ref: loads.append(ref))
    small = stack.with_settings(batch_max_upload_bytes=100)
    jobs = _jobs(small)
    job = jobs.create_job(_token(100), "jsonl", texts=50)
    assert job["max_upload_bytes"] == 100
    assert _put(job, _lines(20)).status_code == 200
    small.drain()
    status = jobs.get_job(job["job_id"], "tok_a")
    assert status["status"] == "failed" and status["reason"].startswith("upload-too-large")
    assert loads == [] and _usage(small)["texts"] == 0  # no model, no text billed, reservation returned


def test_second_upload_is_refused_by_s3_and_by_the_worker(stack):
    jobs = _jobs(stack)
    job = jobs.create_job(_token(100), "jsonl", texts=3)
    assert job["upload_headers"]["If-None-Match"] == "*"
    assert _put(job, _lines(3)).status_code == 200
    assert _put(job, _lines(30)).status_code == 412  # S3 keeps one object under the key
    stack.drain()
    assert jobs.get_job(job["job_id"], "tok_a")["status"] == "done"
    # a second object that reached the key anyway (a client without the signed header)
    stack.s3.put_object(Bucket=DATA, Key=job["key"], Body=_lines(30),
                        Metadata={"model": job["model"], "owner": "tok_a"})
    stack.drain()
    status = jobs.get_job(job["job_id"], "tok_a")
    assert status["status"] == "failed" and status["reason"].startswith("second-upload")
    assert _usage(stack)["texts"] == 3  # only the first object ran


def test_an_unused_upload_url_expires_and_its_reservation_goes_back(stack):
    clock = Clock()
    jobs = _jobs(stack, clock=clock, presign_ttl_s=60)
    job = jobs.create_job(_token(100), "jsonl", texts=30)
    assert _usage(stack)["texts"] == 30 and jobs.get_job(job["job_id"], "tok_a")["status"] == "queued"
    clock.now += 60 + EXPIRY_GRACE_S + 1
    status = jobs.get_job(job["job_id"], "tok_a")
    assert status["status"] == "failed" and status["reason"].startswith("upload-expired")
    jobs.get_job(job["job_id"], "tok_a")  # asking again gives nothing back twice
    assert _usage(stack)["texts"] == 0


def test_a_worker_without_the_usage_table_refuses_a_metered_job(stack, monkeypatch):
    loads = []
    monkeypatch.setattr(stack.store, "get", lambda ref: loads.append(ref))
    job = _jobs(stack).create_job(_token(100), "jsonl", texts=2)
    assert _put(job, _lines(2)).status_code == 200
    stack.with_settings(tokens_table="").drain()  # a misconfigured worker: fail closed
    status = _jobs(stack).get_job(job["job_id"], "tok_a")
    assert status["status"] == "failed" and status["reason"].startswith("not-metered") and loads == []


def test_a_chunk_running_across_midnight_bills_each_day_its_grants_fell_on(stack):
    clock = Clock()
    clock.now = 1_796_083_199.0  # 23:59:59 UTC
    meter = ChunkMeter(stack.ddb, TOKENS, {"token_id": "tok_a", "quota_per_day": 300}, clock)
    assert meter(256) == 256
    clock.now += 2  # the next micro-batch starts on the next day, with that day's quota
    assert meter(256) == 256
    meter.settle(ran=400, tokens=4000)  # 112 of the second grant failed: given back
    first, second = (read_usage(stack.ddb, TOKENS, "tok_a", utc_day(t)) for t in (clock.now - 2, clock.now))
    assert first == {"requests": 1, "texts": 256, "tokens": 4000}
    assert second == {"requests": 0, "texts": 144, "tokens": 0}
