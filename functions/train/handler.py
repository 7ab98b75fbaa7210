"""Lambda entry point of the ``train`` function: its own SQS queue in, partial batch failures out.

One message is one step of one training job (functions/train/worker.py). The worker ends a job
``failed`` (or a publish back at ``done``) with its reason for whatever goes wrong in the step;
only when the job record itself cannot be written does it raise, and SQS redelivers the message
(a job already ended ignores it); after the queue's maxReceiveCount it lands in the DLQ. This
function also reads the DLQ (like the batch function reads its own): a dead message's training
job ends ``failed`` with the reason and its quota reservation refunded, a dead publish goes back
to ``done`` (TrainWorker.give_up). A message that fails there stays in the DLQ for an operator;
a job nobody ended is still ended by the first look at it after 16 minutes without progress
(functions/train/jobs.py).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from functions.settings import Settings

from .jobs import TrainLedger
from .queue import from_dead_letter_queue
from .worker import TrainWorker

logger = Logger(service="train")
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
WORKDIR = "snlp-train"  # under the model cache's parent in /tmp: composed artifacts before upload


def build_worker(settings: Settings, **overrides: Any) -> TrainWorker:
    """Clients, artifact store and jobs table from settings; overrides win (tests)."""
    import boto3

    from functions.store.artifacts import ArtifactStore
    from functions.store.clients import default_dynamodb_client, worker_s3_client

    session = boto3.session.Session()  # one for both clients: each new session reloads botocore's data files
    s3 = overrides.pop("s3", None) or worker_s3_client(session=session)
    ddb = overrides.pop("ddb", None) or default_dynamodb_client(session=session)
    store = overrides.pop("store", None) or ArtifactStore.from_settings(settings, s3)
    metered = settings.auth_enabled and settings.tokens_table
    kwargs: dict[str, Any] = dict(
        s3=s3, ledger=TrainLedger(ddb, settings.jobs_table), store=store, data_bucket=settings.data_bucket,
        artifacts_bucket=settings.artifacts_bucket, workdir=Path(settings.model_cache_dir).parent / WORKDIR,
        usage_ddb=ddb if metered else None, usage_table=settings.tokens_table if metered else None, log=logger)
    kwargs.update(overrides)
    return TrainWorker(**kwargs)


_worker: TrainWorker | None = None
_settings: Settings | None = None


def worker_settings() -> Settings:
    """Settings of this execution environment, read once."""
    global _settings
    if _settings is None:
        _settings = Settings.from_env(os.environ)
    return _settings


def worker() -> TrainWorker:
    """The worker of this execution environment, built on first use (cold start)."""
    global _worker
    if _worker is None:
        _worker = build_worker(worker_settings())
    return _worker


def reset(new_worker: TrainWorker | None = None, settings: Settings | None = None) -> None:
    """Forget (or replace) the cached worker and settings: for tests."""
    global _worker, _settings
    _worker, _settings = new_worker, settings


def _dead_letter(record: SQSRecord) -> bool:
    """True for a record from the train queue's DLQ, named ``<train queue>-dlq`` (infra/serverless/train.yml)."""
    return from_dead_letter_queue(record.event_source_arn, worker_settings().train_queue_url)


def _message(record: SQSRecord) -> dict[str, Any]:
    try:
        body = json.loads(record.body)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def dead_letter_record(record: SQSRecord) -> None:
    """A message in the DLQ will never be processed: its job ends with the reason."""
    receives = record.attributes.approximate_receive_count or "?"
    logger.error("dead letter: ending its job", extra={"message_id": record.message_id, "body": record.body[:2000]})
    worker().give_up(_message(record), "gave up after repeated failures: the message reached the dead-letter "
                                       f"queue (received {receives} times there); see the train function's logs")


def record_handler(record: SQSRecord) -> None:
    if _dead_letter(record):
        return dead_letter_record(record)
    worker().handle(json.loads(record.body))


@logger.inject_lambda_context
def handler(event: dict, context: Any) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


__all__ = ["handler", "record_handler", "dead_letter_record", "build_worker", "worker", "worker_settings", "reset"]
