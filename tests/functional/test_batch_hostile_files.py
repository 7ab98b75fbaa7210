"""Hostile files through the whole batch path (moto S3 -> SQS -> the Lambda handler, one worker
and fanned out): every line read is accounted for, in order, and every job ends."""
from __future__ import annotations

import csv
import io
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from functions.batch.ledger import Ledger
from tests.functional.batch_stack import TABLE, make_stack
from tests.support.hostile_files import csv_texts, jsonl_files


@pytest.fixture(scope="module")
def stack(tiny_registry, tmp_path_factory):
    with mock_aws():
        yield make_stack(tiny_registry, tmp_path_factory.mktemp("cache"), clock=time.time)


def _ended(stack, job: str) -> dict:
    summary = json.loads(stack.read(f"results/{job}.summary.json"))
    assert (Ledger(stack.ddb, TABLE).get_job(job) or {}).get("status") == summary["status"] == "done"
    counts = summary["counts"]
    rows = stack.jsonl(f"results/{job}.jsonl")
    assert counts["ok"] + counts["failed"] == counts["lines_read"] == len(rows)
    assert [r["line"] for r in rows] == list(range(1, len(rows) + 1))
    assert len(stack.jsonl(f"results/{job}.errors.jsonl")) == counts["failed"]
    assert stack.keys("results/_parts/") == []
    return counts


_jobs = iter(range(10**6))
RUNS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


@RUNS
@given(data=jsonl_files(), chunk_bytes=st.sampled_from([64, 10**7]))
def test_any_jsonl_file_ends_with_every_line_accounted_for(stack, data, chunk_bytes):
    job = f"j{next(_jobs)}"
    s = stack.with_settings(batch_chunk_bytes=chunk_bytes)
    s.upload(f"incoming/{job}.jsonl", data)
    s.drain()
    counts = _ended(s, job)
    assert counts["lines_read"] == data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)


@RUNS
@given(body=csv_texts(60), chunk_bytes=st.sampled_from([32, 10**7]))
def test_any_csv_file_ends_with_the_rows_python_csv_reads(stack, body, chunk_bytes):
    job = f"c{next(_jobs)}"
    s = stack.with_settings(batch_chunk_bytes=chunk_bytes)
    s.upload(f"incoming/{job}.csv", ("id,text\n" + body).encode("utf-8"))
    s.drain()
    assert _ended(s, job)["lines_read"] == len(list(csv.reader(io.StringIO(body, newline=""))))


def test_the_issues_hostile_files(stack):
    nested = b'{"text": "good"}\n' + b"[" * 20_000 + b'\n{"text": "bad"}\n'
    stray = "id,text\n1,my 12\" pizza was great\n" + "".join(f"{i},fine day\n" for i in range(2, 3000))
    stack.upload("incoming/nested.jsonl", nested)
    stack.upload("incoming/stray.csv", stray)  # > 64 KB after the stray quote
    stack.drain()
    assert _ended(stack, "nested") == {"lines_read": 3, "ok": 2, "failed": 1}
    assert _ended(stack, "stray") == {"lines_read": 2999, "ok": 2999, "failed": 0}
