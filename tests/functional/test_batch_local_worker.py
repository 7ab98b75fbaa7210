"""infra.local_worker against a moto server: real notifications, 2 worker processes, clean stop."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from functions.settings import ENV
from infra.local_worker import FakeContext, poll_once, to_lambda_event
from tests.functional.batch_stack import ARTIFACTS, DATA, TABLE, create_jobs_table
from infra.local.moto import FAKE_AWS, MotoServer
from tests.support.s3 import upload_registry

REPO = Path(__file__).resolve().parents[2]


def test_to_lambda_event_has_the_lambda_sqs_shape():
    message = {"MessageId": "m1", "ReceiptHandle": "r1", "Body": "{}", "MD5OfBody": "x",
               "Attributes": {"ApproximateReceiveCount": "2"},
               "MessageAttributes": {"a": {"DataType": "String", "StringValue": "v"}}}
    event = to_lambda_event([message], "http://127.0.0.1:1/123456789012/q")
    sample = json.loads((REPO / "tests/events/sqs_s3_event.json").read_text())["Records"][0]
    (record,) = event["Records"]
    assert set(record) == set(sample)
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:q"
    assert record["messageAttributes"]["a"]["stringValue"] == "v"


def test_poll_once_deletes_only_what_the_handler_did_not_report():
    class FakeSqs:
        deleted: list = []
        visible: list = []

        def receive_message(self, **_):
            return {"Messages": [{"MessageId": m, "ReceiptHandle": f"rh-{m}", "Body": "{}"} for m in ("a", "b")]}

        def delete_message_batch(self, QueueUrl, Entries):
            self.deleted += [e["ReceiptHandle"] for e in Entries]

        def change_message_visibility(self, QueueUrl, ReceiptHandle, VisibilityTimeout):
            self.visible.append(ReceiptHandle)

    sqs = FakeSqs()
    calls = []

    def handler(event, context):
        calls.append((event, context))
        return {"batchItemFailures": [{"itemIdentifier": "b"}]}

    assert poll_once(sqs, "http://h/1/q", handler, retry_delay=0) == 2
    assert sqs.deleted == ["rh-a"] and sqs.visible == ["rh-b"]
    assert isinstance(calls[0][1], FakeContext) and calls[0][1].get_remaining_time_in_millis() > 0


@pytest.fixture
def server():
    with MotoServer() as srv:
        yield srv


def test_two_local_workers_process_a_fanned_out_file_and_stop_on_sigterm(server, tiny_registry, tmp_path):
    s3, ddb, sqs = server.client("s3"), server.client("dynamodb"), server.client("sqs")
    s3.create_bucket(Bucket=DATA)
    upload_registry(s3, ARTIFACTS, tiny_registry)
    create_jobs_table(ddb)
    queue = sqs.create_queue(QueueName="snlp-batch", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=DATA, NotificationConfiguration={"QueueConfigurations": [{
        "QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}}}]})
    env = {**os.environ, **FAKE_AWS, "AWS_ENDPOINT_URL": server.url, "PYTHONPATH": str(REPO),
           ENV["data_bucket"]: DATA, ENV["artifacts_bucket"]: ARTIFACTS, ENV["jobs_table"]: TABLE,
           ENV["batch_queue_url"]: queue, ENV["default_classify_model"]: "tiny-sentiment",
           ENV["model_cache_dir"]: str(tmp_path / "cache"), ENV["batch_chunk_bytes"]: "2000",
           "POWERTOOLS_METRICS_NAMESPACE": "ServerlessNLP"}
    log = open(tmp_path / "worker.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "infra.local_worker", "--queue-url", queue, "--workers", "2",
                             "--wait", "1", "--retry-delay", "0"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        lines = "".join(json.dumps({"id": i, "text": "good day" if i % 2 else "bad food"}) + "\n"
                        for i in range(300))
        s3.put_object(Bucket=DATA, Key="incoming/two workers.jsonl", Body=lines.encode())
        deadline = time.monotonic() + 120
        summary = None
        while time.monotonic() < deadline and summary is None:
            try:
                summary = json.loads(s3.get_object(Bucket=DATA, Key="results/two workers.summary.json")["Body"].read())
            except s3.exceptions.NoSuchKey:
                time.sleep(0.5)
        assert summary is not None, (tmp_path / "worker.log").read_text()[-3000:]
        assert summary["status"] == "done" and summary["counts"] == {"lines_read": 300, "ok": 300, "failed": 0}
        assert len(summary["chunks"]) > 3
        rows = s3.get_object(Bucket=DATA, Key="results/two workers.jsonl")["Body"].read().decode().splitlines()
        assert [json.loads(r)["id"] for r in rows] == list(range(300))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(60)
        log.close()
    assert code == 0


def test_the_local_worker_takes_dead_letters_and_ends_their_jobs(server, tiny_registry, tmp_path):
    """`make up` runs the worker with --dlq-url, as serverless.yml wires the DLQ to the batch function."""
    from functions.batch import handler as batch_handler
    from functions.batch.ledger import Ledger
    from functions.settings import Settings
    from functions.store.artifacts import ArtifactStore
    from tests.functional.batch_stack import s3_notification

    s3, ddb, sqs = server.client("s3"), server.client("dynamodb"), server.client("sqs")
    s3.create_bucket(Bucket=DATA)
    upload_registry(s3, ARTIFACTS, tiny_registry)
    create_jobs_table(ddb)
    queue = sqs.create_queue(QueueName="snlp-batch")["QueueUrl"]
    dlq = sqs.create_queue(QueueName="snlp-batch-dlq")["QueueUrl"]
    ledger = Ledger(ddb, TABLE)
    ledger.create_job("lost", owner="tok")
    sqs.send_message(QueueUrl=dlq, MessageBody=s3_notification(DATA, "incoming/lost.jsonl", "abc"))
    settings = Settings(data_bucket=DATA, artifacts_bucket=ARTIFACTS, jobs_table=TABLE, batch_queue_url=queue,
                        model_cache_dir=str(tmp_path / "cache"))
    batch_handler.reset(batch_handler.build_worker(settings, s3=s3, ddb=ddb, sqs=sqs,
                                                   store=ArtifactStore.from_settings(settings, s3)))
    try:
        assert poll_once(sqs, dlq, batch_handler.handler, wait_s=0) == 1
    finally:
        batch_handler.reset()
    job = ledger.get_job("lost")
    assert job["status"] == "failed" and "dead-letter queue" in job["reason"]
    assert not sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0).get("Messages")  # taken, not left to loop
