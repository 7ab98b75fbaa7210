"""Lambda entry point of the batch worker: SQS batch in, partial batch failures out.

Each SQS record is one unit for Powertools' BatchProcessor: a record that raises is reported
in ``batchItemFailures`` and comes back after the visibility timeout; the others are deleted.
A record that still fails on its last receive before the queue's redrive sends it to the DLQ
is counted as a poison message, and its job ends ``failed`` with the reason and the counts so
far (:meth:`Worker.give_up`); ``dead_letter_handler``, on the DLQ, does the same for any message
that got there another way, so no job stays ``running``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from functions.settings import Settings
from functions.train.queue import from_dead_letter_queue

from . import openai_outputs, telemetry
from .ledger import Ledger
from .worker import Worker

logger = Logger(service=telemetry.SERVICE)
metrics = Metrics(namespace=telemetry.NAMESPACE, service=telemetry.SERVICE)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

DEFER_BELOW = 0.5  # start no further record once less than half of the invocation's time is left


def build_worker(settings: Settings, **overrides: Any) -> Worker:
    """Wire a Worker from settings: clients, artifact store, jobs table. Overrides win (tests)."""
    import boto3

    from functions.store.artifacts import ArtifactStore
    from functions.store.clients import READ_TIMEOUT_S, default_client, default_s3_client, worker_s3_client

    session = boto3.session.Session()  # one for every client: each new session reloads botocore's data files
    s3 = overrides.pop("s3", None) or worker_s3_client(session=session)  # reads stream whole byte ranges
    # The jobs table gets clients.py's default read timeout (10 s, 2 retries), not the API's fail-fast
    # DynamoDB client (2 s, 1 retry): no caller waits on this function, so failing fast buys nothing, and
    # the ledger's claims and counts are conditional writes: one that times out may still have been
    # applied, and its retry then fails its own condition (the likely cause, not proven, of this: with
    # 2 s, test_faults_batch's duplicate-event storm, two workers on one loaded moto server, failed in
    # full runs, b511921; with 10 s it passes).
    ddb = overrides.pop("ddb", None) or default_client("dynamodb", session=session, read_timeout=READ_TIMEOUT_S)
    sqs = overrides.pop("sqs", None) or (default_client("sqs", session=session)
                                         if settings.batch_queue_url else None)
    store = overrides.pop("store", None) or ArtifactStore.from_settings(
        settings, default_s3_client(session=session), on_event=_store_event)
    ledger = overrides.pop("ledger", None) or Ledger(ddb, settings.jobs_table)
    exporter = overrides.pop("exporter", None) or openai_outputs.exporter(s3, ledger)  # OpenAI Batch API outputs
    return Worker(s3=s3, ledger=ledger, store=store, settings=settings, sqs=sqs, metric=_count, log=logger,
                  exporter=exporter, **overrides)


@dataclass
class Runtime:
    """What a warm invocation reuses: the settings and the wired worker, built once (cold start)."""

    settings: Settings
    worker: Worker


@dataclass
class Invocation:
    """The current invocation's budget: records started, and the time that was left at its start."""

    records_seen: int = 0
    start_ms: int = 0


_runtime: Runtime | None = None
_invocation = Invocation()


def runtime() -> Runtime:
    """The runtime of this execution environment, built on first use (cold start)."""
    global _runtime
    if _runtime is None:
        settings = Settings.from_env(os.environ)
        _runtime = Runtime(settings, build_worker(settings))
    return _runtime


def worker() -> Worker:
    """The worker of this execution environment, built once at cold start."""
    return runtime().worker


def reset(new_worker: Worker | None = None) -> None:
    """Forget (or replace) the cached worker: for tests and the local worker."""
    global _runtime, _invocation
    _runtime = Runtime(new_worker.settings, new_worker) if new_worker is not None else None
    _invocation = Invocation()


def _count(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _store_event(event: str, data: dict) -> None:
    if event == "model_loaded":
        ms = float(data.get("download_ms", 0)) + float(data.get("verify_ms", 0)) + float(data.get("load_ms", 0))
        metrics.add_metric(name=telemetry.MODEL_LOAD_MS, unit=MetricUnit.Milliseconds, value=ms)
    elif event == "integrity_failure":
        _count(telemetry.ARTIFACT_INTEGRITY_FAILURES, 1)


class DeferredError(Exception):
    """Too little of this invocation is left to start another record: hand it back to the queue."""


def _defer(record: SQSRecord, context: Any) -> bool:
    """True when an earlier record used up most of the invocation (SQS batches hold several files)."""
    if context is None or not _invocation.records_seen or not _invocation.start_ms:
        return False
    return context.get_remaining_time_in_millis() < DEFER_BELOW * _invocation.start_ms


def _release_now(record: SQSRecord) -> None:
    """Make a deferred message visible at once for another invocation (best effort)."""
    rt = runtime()
    queue, w = rt.settings.batch_queue_url, rt.worker
    if not queue or w.sqs is None or not record.event_source_arn.endswith(":" + queue.rsplit("/", 1)[-1]):
        return
    try:
        w.sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=record.receipt_handle, VisibilityTimeout=0)
    except Exception:  # noqa: BLE001 - it comes back after the visibility timeout instead
        logger.warning("could not release a deferred message", extra={"message_id": record.message_id})


def _dead_letter(record: SQSRecord) -> bool:
    """True for a record from the work queue's DLQ, named ``<work queue>-dlq`` (infra/config.py)."""
    return from_dead_letter_queue(record.event_source_arn, runtime().settings.batch_queue_url)


def record_handler(record: SQSRecord, lambda_context: Any = None) -> None:
    rt = runtime()  # settings first: they name the work queue
    if _dead_letter(record):
        return dead_letter_record(record, lambda_context)
    if _defer(record, lambda_context):
        _release_now(record)
        logger.info("deferred to another invocation", extra={"message_id": record.message_id})
        raise DeferredError(record.message_id)
    _invocation.records_seen += 1
    try:
        rt.worker.handle(record.body, record.message_id)
    except Exception:
        receives = int(record.attributes.approximate_receive_count or 1)
        max_receives = rt.settings.batch_max_receives
        _count(telemetry.ERRORS, 1)
        if receives >= max_receives:
            _count(telemetry.POISON_MESSAGES, 1)
            logger.exception("poison message: last try before the DLQ",
                             extra={"message_id": record.message_id, "receives": receives})
            _give_up(record.body, f"failed {receives} times: {failure_reason()}")
        else:
            logger.exception("message failed; SQS will redeliver it",
                             extra={"message_id": record.message_id, "receives": receives})
        raise


def failure_reason() -> str:
    """The exception being handled, as a job's failure reason: its type and first line, bounded."""
    import sys

    exc = sys.exc_info()[1]
    if exc is None:
        return "unknown error"
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _give_up(body: str, reason: str) -> None:
    """End the message's job as failed (best effort: the DLQ consumer tries again)."""
    try:
        worker().give_up(body, reason)
    except Exception:  # noqa: BLE001 - the message still goes to the DLQ, whose consumer retries this
        logger.exception("could not mark the job failed")


def dead_letter_record(record: SQSRecord, lambda_context: Any = None) -> None:
    """A message in the DLQ will never be processed: its job ends failed, with the reason."""
    receives = record.attributes.approximate_receive_count or "?"
    _count(telemetry.DEAD_LETTERS, 1)
    logger.error("dead letter: ending its job", extra={"message_id": record.message_id, "body": record.body[:2000]})
    worker().give_up(record.body, f"gave up after repeated failures: the message reached the dead-letter queue "
                                  f"(received {receives} times in the DLQ); see the batch function's logs")


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def dead_letter_handler(event: dict, context: Any) -> dict:
    """Lambda entry point on the DLQ: mark the jobs of dead messages failed (messages that fail
    here stay in the DLQ for the alarm and an operator)."""
    return process_partial_response(event=event, record_handler=dead_letter_record, processor=processor,
                                    context=context)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict, context: Any) -> dict:
    _invocation.records_seen = 0
    _invocation.start_ms = context.get_remaining_time_in_millis() if context is not None else 0
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)


__all__ = ["handler", "dead_letter_handler", "record_handler", "dead_letter_record", "failure_reason", "build_worker",
           "Runtime", "runtime", "worker", "reset", "DeferredError"]
