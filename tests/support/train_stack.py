"""A moto-backed API + train worker on the tiny artifacts: what the train tests (functional and
browser) share. ``drain()`` hands every queued train message to the worker, like the train Lambda."""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import boto3
from moto import mock_aws

from functions.auth.admin import create_token
from functions.settings import Settings
from functions.train.handler import build_worker
from functions.train.worker import TrainWorker
from tests.functional.api_events import BUCKET, TABLE, create_tokens_table, lambda_env
from tests.functional.batch_stack import DATA, TABLE as JOBS, create_jobs_table
from tests.support.s3 import upload_registry


@dataclass
class TrainStack:
    runtime: Any  # functions.api.handler.Runtime
    worker: TrainWorker
    s3: Any
    ddb: Any
    sqs: Any
    queue_url: str

    def token(self, owner: str, quota: int | None = 1000) -> tuple[str, str]:
        """(token, token id) of a new token for every model."""
        token, record = create_token(self.ddb, TABLE, owner=owner, models="*", quota_per_day=quota)
        return token, record.token_id

    def drain(self) -> int:
        handled = 0
        while True:
            msgs = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                return handled
            for m in msgs:
                self.worker.handle(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
                handled += 1


@contextlib.contextmanager
def train_stack(registry: Path, tmp: Path) -> Iterator[TrainStack]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        upload_registry(s3, BUCKET, registry)
        s3.create_bucket(Bucket=DATA)
        create_tokens_table(ddb)
        create_jobs_table(ddb, JOBS)
        queue = sqs.create_queue(QueueName="snlp-train")["QueueUrl"]
        env = dict(SNLP_DATA_BUCKET=DATA, SNLP_JOBS_TABLE=JOBS, SNLP_PRELOAD_MODELS="")
        from functions.api.handler import build_runtime  # its import builds a runtime: inside moto

        runtime = build_runtime(lambda_env(tmp / "api-cache", SNLP_TRAIN_QUEUE_URL=queue, **env),
                                s3_client=s3, dynamodb_client=ddb)
        worker = build_worker(Settings.from_env(lambda_env(tmp / "train-cache", **env)), s3=s3, ddb=ddb,
                              workdir=tmp / "work")
        yield TrainStack(runtime, worker, s3, ddb, sqs, queue)


__all__ = ["TrainStack", "train_stack", "BUCKET", "TABLE"]
