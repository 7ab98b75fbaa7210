"""Every job ends: a message that fails its last receive, or lands in the DLQ, ends its job
``failed`` with a reason and the counts so far (finished chunks stay downloadable); results are
committed only by the job's current run; part files are deleted, and a delete S3 refuses is
reported, not hidden."""
from __future__ import annotations

import json
import time

import pytest

from functions.batch import handler as batch_handler
from functions.batch.jobs import JobService
from functions.batch.ledger import BUSY, CLAIMED, SUPERSEDED, Ledger
from functions.batch.s3_streams import CleanupError, delete_prefix
from infra.local_worker import FakeContext
from tests.functional.batch_stack import DATA, TABLE, make_stack, sqs_event


class AlwaysCrash:
    """A fault hook that raises every time at the named stage (optionally for one chunk only)."""

    def __init__(self, stage: str, index: int | None = None) -> None:
        self.stage, self.index = stage, index

    def __call__(self, stage: str, info: dict) -> None:
        if stage == self.stage and (self.index is None or info.get("index") == self.index):
            raise RuntimeError(f"disk on fire at {stage}")


def _stack(tiny_registry, tmp_path, **settings):
    return make_stack(tiny_registry, tmp_path / "cache", clock=time.time, **settings)


def _lines(n: int) -> str:
    return "".join(json.dumps({"id": i, "text": "good movie" if i % 3 else "bad day"}) + "\n" for i in range(1, n + 1))


def _upload_event(stack) -> dict:
    """The upload's S3 notification (moto also queues an s3:TestEvent when notifications are set up)."""
    (message,) = [m for m in stack.receive() if '"Records"' in m["Body"]]
    return message


def _job(stack, job_id: str) -> dict:
    return Ledger(stack.ddb, TABLE).get_job(job_id) or {}


def _status(stack, job_id: str, *, deadline_s: float = 3600, later_s: float = 0) -> dict:
    """What GET /v1/batch/{job} answers the job's owner ("tok"), ``later_s`` seconds from now."""
    now = time.time()
    jobs = JobService(stack.s3, Ledger(stack.ddb, TABLE), bucket=DATA, default_model="tiny-sentiment",
                      deadline_s=deadline_s, clock=lambda: now + later_s)
    return jobs.get_job(job_id, "tok")


def test_the_last_receive_ends_the_job_failed_with_the_reason(aws, tiny_registry, tmp_path):
    stack = _stack(tiny_registry, tmp_path)
    stack.fault = AlwaysCrash("object-written")
    stack.upload("incoming/doomed.jsonl", _lines(5))
    message = _upload_event(stack)
    first = stack.invoke(sqs_event(message["Body"], receive_count=1))
    assert first["batchItemFailures"] and _job(stack, "doomed")["status"] == "running"
    last = stack.invoke(sqs_event(message["Body"], receive_count=stack.settings.batch_max_receives))
    assert last["batchItemFailures"]  # it still goes to the DLQ, for the alarm and an operator
    job = _job(stack, "doomed")
    assert job["status"] == "failed"
    assert job["reason"].startswith("failed 5 times: RuntimeError: disk on fire at object-written")
    summary = stack.summary("doomed")
    assert summary["status"] == "failed" and summary["reason"] == job["reason"]
    assert summary["counts"] == {"lines_read": 0, "ok": 0, "failed": 0}


def test_a_dead_chunk_fails_the_job_and_the_finished_chunks_stay_downloadable(aws, tiny_registry, tmp_path):
    stack = _stack(tiny_registry, tmp_path, batch_chunk_bytes=300)
    stack.fault = AlwaysCrash("chunk-written", index=1)
    stack.upload("incoming/half.jsonl", _lines(40), owner="tok")
    stack.drain()  # chunk 1 fails on each receive; its 5th ends the job, later receives are no-ops
    job = _job(stack, "half")
    assert job["status"] == "failed" and "disk on fire" in job["reason"]
    rows = stack.jsonl("results/half.jsonl")
    counts = job["counts"]
    assert counts["ok"] + counts["failed"] == counts["lines_read"] == len(rows) > 0
    lines = [r["line"] for r in rows]
    assert lines == sorted(lines) and len(lines) < 40 and 1 in lines and 40 in lines
    assert stack.keys("results/_parts/") == []  # parts of the failed run are deleted too
    assert stack.summary("half")["outputs"]["results"] == "results/half.jsonl"
    status = _status(stack, "half")  # what the web page and `snlp batch` show
    assert status["status"] == "failed" and status["reason"] == job["reason"] and status["counts"] == counts
    assert "results_url" in status and "errors_url" in status


def test_the_dead_letter_consumer_ends_a_job_left_running(aws, tiny_registry, tmp_path):
    stack = _stack(tiny_registry, tmp_path)
    stack.fault = AlwaysCrash("object-written")
    stack.upload("incoming/lost.jsonl", _lines(3))
    message = _upload_event(stack)
    stack.invoke(sqs_event(message["Body"], receive_count=1))
    assert _job(stack, "lost")["status"] == "running"
    dlq_event = sqs_event(message["Body"], receive_count=1)
    assert batch_handler.dead_letter_handler(dlq_event, FakeContext()) == {"batchItemFailures": []}
    job = _job(stack, "lost")
    assert job["status"] == "failed" and "dead-letter queue" in job["reason"]
    finished = job["finished_at"]
    batch_handler.dead_letter_handler(dlq_event, FakeContext())  # a second delivery changes nothing
    assert _job(stack, "lost")["finished_at"] == finished


def test_only_the_current_run_commits_and_commits_never_overlap(aws, tiny_registry, tmp_path):
    stack = _stack(tiny_registry, tmp_path)
    ledger = Ledger(stack.ddb, TABLE)
    assert ledger.start_job("j", "old", "1".rjust(32, "0"), owner="t")
    assert ledger.claim_commit("j", "old") == CLAIMED
    assert ledger.start_job("j", "new", "2".rjust(32, "0"), owner="t")  # a re-upload takes the job over
    assert ledger.claim_commit("j", "new") == BUSY  # the old run is still writing: the new one waits
    assert not ledger.finish_job("j", "old", status="done")  # the job describes the new run, not the old
    ledger.release_commit("j", "old")
    assert ledger.claim_commit("j", "new") == CLAIMED  # so the new run's outputs land last
    assert ledger.claim_commit("j", "old") == SUPERSEDED


class RefusingS3:
    """DeleteObjects answers 200 and lists the keys it kept, as S3 does without s3:DeleteObject."""

    def __init__(self, s3) -> None:
        self.s3 = s3

    def get_paginator(self, name):
        return self.s3.get_paginator(name)

    def delete_objects(self, **kwargs):
        keys = kwargs["Delete"]["Objects"]
        return {"Errors": [{"Key": k["Key"], "Code": "AccessDenied", "Message": "Access Denied"} for k in keys]}


def test_part_deletes_that_s3_refuses_are_reported(aws, tiny_registry, tmp_path):
    stack = _stack(tiny_registry, tmp_path)
    for i in range(3):
        stack.s3.put_object(Bucket=DATA, Key=f"results/_parts/j/r/{i:05d}.jsonl", Body=b"{}\n")
    with pytest.raises(CleanupError, match="3 objects under results/_parts/j/ were not deleted \\(AccessDenied\\)"):
        delete_prefix(RefusingS3(stack.s3), DATA, "results/_parts/j/")
    assert delete_prefix(stack.s3, DATA, "results/_parts/j/") == 3
    assert stack.keys("results/_parts/") == []


def test_the_batch_function_treats_records_from_its_dlq_as_dead_letters(aws, tiny_registry, tmp_path, capsys):
    """serverless.yml wires the DLQ to the same function: records from another queue end their jobs."""
    stack = _stack(tiny_registry, tmp_path)
    stack.fault = AlwaysCrash("object-written")
    stack.upload("incoming/dlq.jsonl", _lines(2))
    body = _upload_event(stack)["Body"]
    stack.invoke(sqs_event(body, receive_count=1))
    event = sqs_event(body)
    event["Records"][0]["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:snlp-batch-dlq"  # batch_stack's
    capsys.readouterr()
    assert stack.invoke(event) == {"batchItemFailures": []}
    job = _job(stack, "dlq")
    assert job["status"] == "failed" and "dead-letter queue" in job["reason"]
    assert '"BatchDeadLetters"' in capsys.readouterr().out


def test_a_job_never_shows_running_past_its_deadline(aws, tiny_registry, tmp_path):
    stack = _stack(tiny_registry, tmp_path)
    stack.fault = AlwaysCrash("object-written")
    stack.upload("incoming/late.jsonl", _lines(3), owner="tok")
    stack.invoke(sqs_event(_upload_event(stack)["Body"], receive_count=1))  # a worker that vanished
    assert _status(stack, "late", deadline_s=600, later_s=599)["status"] == "running"
    status = _status(stack, "late", deadline_s=600, later_s=601)
    assert status["status"] == "failed" and status["reason"] == "deadline: the job did not finish within 600 s"
    job = _job(stack, "late")
    assert job["status"] == "failed" and job["reason"] == status["reason"]  # recorded, not only shown
    assert Ledger(stack.ddb, TABLE).get_run(job["run_id"])["status"] == "failed"  # its messages stop
