"""Big files: byte-range chunks fanned out through the queue, retried after crashes, merged in order."""
from __future__ import annotations

import csv
import io
import json
import time

import pytest

from functions.batch.ledger import BUSY, CLAIMED, LEASE_S, Ledger
from tests.functional.batch_stack import TABLE, make_stack

WORDS = "good great love happy fine bad awful hate sad terrible movie food day the very really".split()


def _text(i: int) -> str:
    return " ".join(WORDS[(i * k) % len(WORDS)] for k in range(1, 2 + i % 7))


def _jsonl(n: int) -> str:
    return "".join(json.dumps({"id": f"r{i}", "text": _text(i)}) + "\n" if i % 17 else "{broken\n"
                   for i in range(1, n + 1))


class Crash:
    """A fault hook that raises once at the named stage (optionally for one chunk)."""

    def __init__(self, stage: str, index: int | None = None) -> None:
        self.stage, self.index, self.fired = stage, index, 0

    def __call__(self, stage: str, info: dict) -> None:
        if stage == self.stage and self.fired == 0 and (self.index is None or info.get("index") == self.index):
            self.fired += 1
            raise RuntimeError(f"injected crash at {stage}")


def assert_same_rows(actual: list[dict], expected: list[dict]) -> None:
    """Same lines, ids, labels and errors; scores equal up to float noise (micro-batches differ)."""
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert {k: v for k, v in a.items() if k not in ("score", "scores")} == \
            {k: v for k, v in e.items() if k not in ("score", "scores")}
        if "scores" in e:
            assert a["scores"] == pytest.approx(e["scores"], abs=1e-5)


def _stack(tiny_registry, tmp_path, **settings):
    return make_stack(tiny_registry, tmp_path / "cache", clock=time.time, **settings)


def test_big_jsonl_is_split_fanned_out_and_merged_in_order(aws, tiny_registry, tmp_path):
    whole = _stack(tiny_registry, tmp_path)  # reference: one worker, no chunks
    body = _jsonl(400)
    whole.upload("incoming/ref.jsonl", body)
    whole.drain()
    stack = whole.with_settings(batch_chunk_bytes=1500)
    stack.upload("incoming/big.jsonl", body)
    stack.drain(batch=3)

    summary = stack.summary("big")
    assert summary["status"] == "done"
    assert len(summary["chunks"]) > 5
    assert summary["counts"] == {"lines_read": 400, "ok": 400 - 400 // 17, "failed": 400 // 17}
    assert sum(c["counts"]["lines_read"] for c in summary["chunks"]) == 400
    assert [c["index"] for c in summary["chunks"]] == list(range(len(summary["chunks"])))
    assert all(c["timings_ms"]["total"] is not None and c["attempts"] == 1 for c in summary["chunks"])
    assert_same_rows(stack.jsonl("results/big.jsonl"), whole.jsonl("results/ref.jsonl"))
    assert stack.read("results/big.errors.jsonl") == whole.read("results/ref.errors.jsonl")
    assert [r["line"] for r in stack.jsonl("results/big.jsonl")] == list(range(1, 401))
    assert not stack.keys("results/_parts/")  # parts are removed after the merge


def test_chunk_boundaries_never_fall_inside_quoted_csv_fields(aws, tiny_registry, tmp_path):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["id", "text", "note"])
    rows = [[f"r{i}", f"{_text(i)},\n{_text(i + 1)}" if i % 3 == 0 else _text(i), "x,\"y\"\nz"]
            for i in range(1, 121)]
    writer.writerows(rows)
    body = "\ufeff" + out.getvalue()
    whole = _stack(tiny_registry, tmp_path)
    whole.upload("incoming/ref.csv", body)
    whole.drain()
    stack = whole.with_settings(batch_chunk_bytes=200)
    stack.upload("incoming/quoted.csv", body)
    stack.drain()
    summary = stack.summary("quoted")
    assert len(summary["chunks"]) > 5
    assert summary["counts"] == {"lines_read": 120, "ok": 120, "failed": 0}
    assert_same_rows(stack.jsonl("results/quoted.jsonl"), whole.jsonl("results/ref.jsonl"))
    assert [r["id"] for r in stack.jsonl("results/quoted.jsonl")] == [f"r{i}" for i in range(1, 121)]


@pytest.mark.parametrize("stage", ["chunk-written", "merge"])
def test_a_crashed_chunk_or_merge_is_retried_without_losing_or_duplicating_lines(aws, tiny_registry, tmp_path,
                                                                                 stage):
    body = _jsonl(200)
    whole = _stack(tiny_registry, tmp_path)
    whole.upload("incoming/ref.jsonl", body)
    whole.drain()
    stack = whole.with_settings(batch_chunk_bytes=1500)
    stack.fault = crash = Crash(stage, index=2 if stage == "chunk-written" else None)
    stack.upload("incoming/crash.jsonl", body)
    stack.drain(batch=1)
    assert crash.fired == 1
    assert any(r["batchItemFailures"] for r in stack.invocations)  # the crash was reported to SQS
    assert_same_rows(stack.jsonl("results/crash.jsonl"), whole.jsonl("results/ref.jsonl"))
    summary = stack.summary("crash")
    assert summary["counts"]["lines_read"] == 200
    assert summary["counts"]["ok"] + summary["counts"]["failed"] == 200
    if stage == "chunk-written":
        assert summary["chunks"][2]["attempts"] == 2


def test_a_crash_after_writing_a_small_file_is_retried_to_the_same_result(aws, tiny_registry, tmp_path):
    stack = _stack(tiny_registry, tmp_path)
    stack.fault = crash = Crash("object-written")
    stack.upload("incoming/small.jsonl", _jsonl(40))
    stack.drain(batch=1)
    assert crash.fired == 1
    rows = stack.jsonl("results/small.jsonl")
    assert [r["line"] for r in rows] == list(range(1, 41))
    assert stack.summary("small")["counts"]["lines_read"] == 40


def test_a_dead_workers_chunk_lease_expires_and_is_taken_over(aws):
    import boto3

    from tests.functional.batch_stack import create_jobs_table

    ddb = boto3.client("dynamodb", region_name="us-east-1")
    create_jobs_table(ddb)
    now = [1000.0]
    ledger = Ledger(ddb, TABLE, clock=lambda: now[0])
    ledger.put_chunk("run1", 0, start=0, end=10, first_line=1)
    assert ledger.claim_chunk("run1", 0, "worker-a") == CLAIMED
    now[0] += 60
    assert ledger.claim_chunk("run1", 0, "worker-b") == BUSY  # a live lease is respected
    assert ledger.claim_chunk("run1", 0, "worker-a") == CLAIMED  # SQS redelivered a's own message
    now[0] += LEASE_S + 1
    assert ledger.claim_chunk("run1", 0, "worker-b") == CLAIMED  # a is dead: b takes over
    assert ledger.complete_chunk("run1", 0, lines_read=1, ok=1, failed=0)
    assert not ledger.complete_chunk("run1", 0, lines_read=1, ok=1, failed=0)  # never counted twice
    assert ledger.claim_chunk("run1", 0, "worker-c") != CLAIMED
    assert ledger.get_chunk("run1", 0)["attempts"] == 3


def test_an_object_deleted_while_its_chunks_wait_fails_the_job_with_a_reason(aws, tiny_registry, tmp_path):
    stack = _stack(tiny_registry, tmp_path, batch_chunk_bytes=500)
    stack.upload("incoming/vanish.jsonl", _jsonl(50))
    from infra.local_worker import to_lambda_event

    for _ in range(2):  # moto's s3:TestEvent, then the upload: planned and fanned out
        messages = stack.receive(1)
        stack.invoke(to_lambda_event(messages, stack.queue_url))
        stack.sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
    stack.s3.delete_object(Bucket="snlp-data", Key="incoming/vanish.jsonl")
    stack.drain()
    assert not any(r["batchItemFailures"] for r in stack.invocations)  # no retry loop towards the DLQ
    summary = stack.summary("vanish")
    assert summary["status"] == "failed" and "unreadable" in summary["reason"]
