"""Batch faults with REAL worker processes (``python -m infra.local_worker``) on a moto server.

- A worker SIGKILLed in the middle of a fanned-out file: SQS redelivers its in-flight message
  after the visibility timeout, a fresh worker finishes, and the results hold every input line
  once, in order.
- A duplicate S3 event storm: the same notification 20 times, consumed concurrently by two
  worker processes: exactly one result (the data bucket is versioned: one object version).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.local.moto import FAKE_AWS, MotoServer
from tests.support.s3 import upload_registry
from tests.support.tiny_defaults import write_default_registry

pytestmark = pytest.mark.timeout(180)
REPO = Path(__file__).resolve().parents[2]
NAMES = {"artifacts_bucket": "snlp-faults-artifacts", "data_bucket": "snlp-faults-data",
         "tokens_table": "snlp-faults-tokens", "jobs_table": "snlp-faults-jobs",
         "batch_queue": "snlp-faults-batch", "batch_dlq": "snlp-faults-batch-dlq"}
VISIBILITY_S = 3
SECRET = "quokka-private-words"  # in every input text: it must never reach a worker log


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    from infra.local.resources import create_resources

    with MotoServer() as server:
        created = create_resources(server.client, NAMES, max_receive_count=5, visibility_timeout_s=VISIBILITY_S)
        registry = write_default_registry(tmp_path_factory.mktemp("reg"))
        upload_registry(server.client("s3"), NAMES["artifacts_bucket"], registry)
        server.queue_url = created.queue_url
        yield server


class Workers:
    """``python -m infra.local_worker`` in its own process group."""

    def __init__(self, moto: MotoServer, cache: Path, n: int = 1, **settings: str) -> None:
        from functions.settings import ENV

        env = {**os.environ, **FAKE_AWS, "AWS_ENDPOINT_URL": moto.url, "PYTHONUNBUFFERED": "1",
               ENV["artifacts_bucket"]: NAMES["artifacts_bucket"], ENV["data_bucket"]: NAMES["data_bucket"],
               ENV["jobs_table"]: NAMES["jobs_table"], ENV["tokens_table"]: NAMES["tokens_table"],
               ENV["batch_queue_url"]: moto.queue_url, ENV["model_cache_dir"]: str(cache),
               "POWERTOOLS_SERVICE_NAME": "batch", "POWERTOOLS_METRICS_NAMESPACE": "ServerlessNLP",
               **{ENV[k]: v for k, v in settings.items()}}
        env.pop("AWS_PROFILE", None)
        self.log = cache.parent / f"worker-{time.monotonic_ns()}.log"
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen([sys.executable, "-m", "infra.local_worker", "--queue-url", moto.queue_url,
                                          "--workers", str(n), "--wait", "1"], env=env, cwd=str(REPO),
                                         stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def kill(self) -> None:
        """SIGKILL the whole group: no cleanup, no finally blocks, no lease release."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _lines(n: int, bad_every: int = 0) -> bytes:
    out = []
    words = ("good movie", "awful day", "it is ok", "great service", "sad weather", "the food was fine")
    for i in range(1, n + 1):
        if bad_every and i % bad_every == 0:
            out.append('{"id": "%d", "text": ' % i)  # broken JSON: an error row, never a lost line
        else:
            out.append(json.dumps({"id": str(i), "text": f"{words[i % len(words)]} {SECRET} {i}"}))
    return ("\n".join(out) + "\n").encode()


def _exists(s3, key: str) -> bool:
    try:
        s3.head_object(Bucket=NAMES["data_bucket"], Key=key)
        return True
    except Exception:  # noqa: BLE001
        return False


def _wait_for(pred, timeout: float, what: str, workers: Workers | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} within {timeout:.0f} s" + (f"\nworker log:\n{workers.log_tail()}" if workers else ""))


def _chunks(ddb, job: str) -> list[dict]:
    """The chunk records of the run(s) of one job."""
    items = []
    for page in ddb.get_paginator("scan").paginate(TableName=NAMES["jobs_table"]):
        items += page["Items"]
    runs = {i["pk"]["S"] for i in items if i["sk"]["S"] == "run" and i.get("job_id", {}).get("S") == job}
    return [i for i in items if i["pk"]["S"] in runs and i["sk"]["S"].startswith("chunk#")]


def _versions(s3, key: str) -> int:
    got = s3.list_object_versions(Bucket=NAMES["data_bucket"], Prefix=key)
    return sum(1 for v in got.get("Versions", []) if v["Key"] == key)


def _check_complete(s3, job: str, n: int, bad_every: int) -> dict:
    rows = [json.loads(x) for x in s3.get_object(Bucket=NAMES["data_bucket"], Key=f"results/{job}.jsonl")["Body"]
            .read().decode().splitlines()]
    assert len(rows) == n, f"{len(rows)} result rows for {n} input lines"
    ids = [r.get("id") for r in rows]
    failed_ids = {str(i) for i in range(1, n + 1) if bad_every and i % bad_every == 0}
    ok_rows = [r for r in rows if "error" not in r]
    assert [r["id"] for r in ok_rows] == [str(i) for i in range(1, n + 1) if str(i) not in failed_ids]
    assert len(set(i for i in ids if i is not None)) == len([i for i in ids if i is not None]), "duplicated lines"
    errors = s3.get_object(Bucket=NAMES["data_bucket"], Key=f"results/{job}.errors.jsonl")["Body"].read()
    assert len(errors.decode().splitlines()) == len(failed_ids)
    summary = json.loads(s3.get_object(Bucket=NAMES["data_bucket"], Key=f"results/{job}.summary.json")["Body"].read())
    assert summary["status"] == "done", summary
    counts = summary["counts"]
    assert counts["lines_read"] == n and counts["ok"] == n - len(failed_ids) and counts["failed"] == len(failed_ids)
    return summary


@pytest.mark.parametrize("mode", ["fanout", "whole"])
def test_worker_killed_mid_file_rerun_completes_nothing_lost_or_duplicated(moto, tmp_path, mode):
    """fanout: the file is cut into chunks, killed after some are done; whole: one worker has the
    whole file, killed while it streams it (its lease is held by a dead process)."""
    s3, ddb = moto.client("s3"), moto.client("dynamodb")
    n, bad_every, job = 40_000, 997, f"killed-{mode}"
    chunk_bytes = str(96 * 1024 if mode == "fanout" else 64 * 1024 * 1024)
    first = Workers(moto, tmp_path / "cache1", batch_chunk_bytes=chunk_bytes)
    try:
        s3.put_object(Bucket=NAMES["data_bucket"], Key=f"incoming/{job}.jsonl", Body=_lines(n, bad_every))
        if mode == "fanout":
            _wait_for(lambda: any(c["status"]["S"] == "done" for c in _chunks(ddb, job)), 90,
                      "a first chunk done", first)
        else:
            # the run is claimed and its single chunk is running: the worker is streaming the file
            _wait_for(lambda: any(c["status"]["S"] == "running" for c in _chunks(ddb, job)), 90,
                      "the worker to start streaming", first)
        first.kill()
    finally:
        first.kill()
    chunks = _chunks(ddb, job)
    assert not _exists(s3, f"results/{job}.summary.json"), "the job finished before the kill: make the file bigger"
    assert any(c["status"]["S"] != "done" for c in chunks), chunks

    second = Workers(moto, tmp_path / "cache2", batch_chunk_bytes=chunk_bytes)
    try:
        _wait_for(lambda: _exists(s3, f"results/{job}.summary.json"), 120, "the rerun to finish", second)
    finally:
        second.kill()
    summary = _check_complete(s3, job, n, bad_every)
    for workers in (first, second):
        assert SECRET not in workers.log.read_text(errors="replace"), "input texts reached the worker log"
    assert len(summary.get("chunks", [])) == len(chunks) >= (2 if mode == "fanout" else 1)


def test_one_of_two_workers_killed_mid_chunk_the_other_finishes(moto, tmp_path):
    """Two worker processes share the chunks (as two Lambda instances would); one dies with a
    chunk in hand; the survivor gets it back after the visibility timeout and merges."""
    s3, ddb = moto.client("s3"), moto.client("dynamodb")
    n, bad_every, job = 40_000, 991, "killed-one-of-two"
    chunk_bytes = str(96 * 1024)
    doomed = Workers(moto, tmp_path / "cache-a", batch_chunk_bytes=chunk_bytes)
    survivor = Workers(moto, tmp_path / "cache-b", batch_chunk_bytes=chunk_bytes)
    try:
        s3.put_object(Bucket=NAMES["data_bucket"], Key=f"incoming/{job}.jsonl", Body=_lines(n, bad_every))
        _wait_for(lambda: any(c["status"]["S"] == "done" for c in _chunks(ddb, job)), 90, "a first chunk done", doomed)
        doomed.kill()
        assert not _exists(s3, f"results/{job}.summary.json"), "finished before the kill: make the file bigger"
        _wait_for(lambda: _exists(s3, f"results/{job}.summary.json"), 120, "the survivor to finish", survivor)
    finally:
        doomed.kill()
        survivor.kill()
    _check_complete(s3, job, n, bad_every)


def test_duplicate_s3_event_storm_gives_exactly_one_result(moto, tmp_path):
    s3, sqs = moto.client("s3"), moto.client("sqs")
    n, job = 3_000, "storm"
    s3.put_object(Bucket=NAMES["data_bucket"], Key=f"incoming/{job}.jsonl", Body=_lines(n))
    # the real notification moto sent for this upload, taken off the queue before any worker runs; what an
    # earlier test left on the shared queue (a killed worker's chunk message, moto's s3:TestEvent) is dropped
    for _ in range(20):
        got = sqs.receive_message(QueueUrl=moto.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=5)
        [message] = got["Messages"]
        if f"{job}.jsonl" in message["Body"]:
            break
        sqs.delete_message(QueueUrl=moto.queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert f"{job}.jsonl" in message["Body"]
    sqs.delete_message(QueueUrl=moto.queue_url, ReceiptHandle=message["ReceiptHandle"])
    for batch in range(2):
        sqs.send_message_batch(QueueUrl=moto.queue_url, Entries=[
            {"Id": str(i), "MessageBody": message["Body"]} for i in range(10)])

    workers = Workers(moto, tmp_path / "cache", n=2)

    def settled() -> bool:
        attrs = sqs.get_queue_attributes(QueueUrl=moto.queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        queued = int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
        return queued == 0 and _exists(s3, f"results/{job}.summary.json")

    try:
        _wait_for(settled, 120, "all 20 deliveries handled", workers)
    finally:
        workers.kill()
    _check_complete(s3, job, n, 0)
    assert SECRET not in workers.log.read_text(errors="replace"), "input texts reached the worker log"
    for key in (f"results/{job}.jsonl", f"results/{job}.summary.json"):
        assert _versions(s3, key) == 1, f"{key} was written {_versions(s3, key)} times"
    dlq = sqs.get_queue_url(QueueName=NAMES["batch_dlq"])["QueueUrl"]
    assert sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0).get("Messages") is None
