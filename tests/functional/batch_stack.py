"""A moto-backed batch stack for functional tests: buckets, jobs table, queue, S3 -> SQS notifications.

Messages come from moto's own S3 event notifications and are handed to the real Lambda
handler in the event shape Lambda uses (``infra.local_worker.to_lambda_event``), deleting
only what the handler did not report in ``batchItemFailures``: the same loop as Lambda.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import boto3

from functions.batch import handler as batch_handler
from functions.batch.ledger import Ledger
from functions.batch.worker import Worker
from functions.settings import Settings
from infra.local.events import load_event, s3_notification, sqs_event  # noqa: F401 - the stack's helpers
from infra.local.resources import create_table
from functions.store.artifacts import ArtifactStore
from infra.local_worker import FakeContext, to_lambda_event
from tests.support.s3 import upload_registry

DATA, ARTIFACTS, TABLE = "snlp-data", "snlp-artifacts", "snlp-jobs"


def create_jobs_table(ddb: Any, name: str = TABLE) -> None:
    create_table(ddb, name)


@dataclass
class Stack:
    s3: Any
    ddb: Any
    sqs: Any
    queue_url: str
    settings: Settings
    store: ArtifactStore
    clock: Callable[[], float]
    fault: Callable[[str, dict], None] | None = None
    invocations: list[dict[str, Any]] = field(default_factory=list)

    def with_settings(self, **changes: Any) -> "Stack":
        """The same AWS resources, other settings (e.g. a smaller batch_chunk_bytes)."""
        return replace(self, settings=self.settings.with_(**changes), invocations=[])

    def worker(self) -> Worker:
        return batch_handler.build_worker(self.settings, s3=self.s3, ddb=self.ddb, sqs=self.sqs, store=self.store,
                                          ledger=Ledger(self.ddb, self.settings.jobs_table, clock=self.clock),
                                          clock=self.clock, fault=self.fault)

    def upload(self, key: str, body: bytes | str, model: str | None = None, **meta: str) -> dict[str, Any]:
        metadata = dict(meta)
        if model:
            metadata["model"] = model
        data = body.encode("utf-8") if isinstance(body, str) else body
        return self.s3.put_object(Bucket=DATA, Key=key, Body=data, Metadata=metadata)

    def receive(self, max_messages: int = 10) -> list[dict[str, Any]]:
        got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=max_messages,
                                       AttributeNames=["All"], MessageAttributeNames=["All"], WaitTimeSeconds=0)
        return got.get("Messages") or []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        batch_handler.reset(self.worker())
        response = batch_handler.handler(event, FakeContext())
        self.invocations.append(response)
        return response

    def drain(self, *, max_rounds: int = 200, batch: int = 10) -> int:
        """Run the handler over the queue until it is empty; failed messages come back at once."""
        handled, pending_retry = 0, False
        for _ in range(max_rounds):
            messages = self.receive(batch)
            if not messages and pending_retry:  # a message made visible again a moment ago
                time.sleep(0.05)
                messages, pending_retry = self.receive(batch), False
            if not messages:
                return handled
            response = self.invoke(to_lambda_event(messages, self.queue_url))
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            for m in messages:
                if m["MessageId"] in failed:
                    pending_retry = True
                    self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"],
                                                       VisibilityTimeout=0)
                else:
                    self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
            handled += len(messages)
        raise AssertionError("the queue did not drain")

    # --- reading outputs --------------------------------------------------------------------
    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=DATA, Key=key)["Body"].read()

    def jsonl(self, key: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.read(key).decode("utf-8").splitlines()]

    def summary(self, job: str) -> dict[str, Any]:
        return json.loads(self.read(f"results/{job}.summary.json"))

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=DATA, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def make_stack(registry: Path, cache_dir: Path, *, clock: Callable[[], float], notifications: bool = True,
               **settings: Any) -> Stack:
    """Create everything inside an active ``mock_aws``."""
    s3 = boto3.client("s3", region_name="us-east-1")
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    s3.create_bucket(Bucket=DATA)
    upload_registry(s3, ARTIFACTS, registry)
    create_jobs_table(ddb)
    queue_url = sqs.create_queue(QueueName="snlp-batch")["QueueUrl"]
    if notifications:
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket=DATA, NotificationConfiguration={"QueueConfigurations": [{
            "QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}}}]})
    values = dict(data_bucket=DATA, artifacts_bucket=ARTIFACTS, jobs_table=TABLE, batch_queue_url=queue_url,
                  default_classify_model="tiny-sentiment", default_embed_model="tiny-embed",
                  model_cache_dir=str(cache_dir))
    values.update(settings)
    config = Settings(**values)
    store = ArtifactStore.from_settings(config, s3)
    return Stack(s3, ddb, sqs, queue_url, config, store, clock)


__all__ = ["Stack", "make_stack", "s3_notification", "sqs_event", "load_event", "create_jobs_table",
           "DATA", "ARTIFACTS", "TABLE"]
