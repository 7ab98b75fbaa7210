"""A local stand-in for the Lambda SQS event source: long-poll the queue, call the real handler.

Messages are turned into the exact event shape Lambda delivers (``Records`` with messageId,
receiptHandle, body, attributes, messageAttributes, md5OfBody, eventSource, eventSourceARN,
awsRegion) and handed to ``functions.batch.handler.handler``. Like Lambda with
``ReportBatchItemFailures``, only the messages that are not listed in ``batchItemFailures`` are
deleted; the others come back after their visibility timeout (or at once with --retry-delay 0).

    python -m infra.local_worker --queue-url http://127.0.0.1:5000/123456789012/batch [--workers 4]
        [--dlq-url http://127.0.0.1:5000/123456789012/batch-dlq]

With ``--dlq-url`` the workers also take messages from the DLQ, as the deployed batch function does
(serverless.yml): the handler ends their jobs ``failed`` (functions.batch.handler, by event source).

Each worker is a separate process (its own model, its own peak RSS, like one Lambda instance).
SIGINT/SIGTERM let the current batch finish and then stop every worker.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import uuid
from typing import Any

REGION = "us-east-1"
HEARTBEAT_S = 10.0  # extend in-flight messages' visibility at least this often


class FakeContext:
    """The attributes of a Lambda context object that Powertools reads."""

    def __init__(self, function_name: str = "snlp-batch-local", memory_mb: int = 2048,
                 timeout_s: float = 900.0) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def queue_arn(queue_url: str, region: str = REGION) -> str:
    parts = queue_url.rstrip("/").split("/")
    account, name = (parts[-2], parts[-1]) if len(parts) >= 2 else ("123456789012", parts[-1])
    return f"arn:aws:sqs:{region}:{account}:{name}"


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    """SQS API message attribute -> the lowercase-keyed shape of the Lambda event."""
    out: dict[str, Any] = {"dataType": value.get("DataType", "String")}
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = value["BinaryValue"]
    out.setdefault("stringListValues", [])
    out.setdefault("binaryListValues", [])
    return out


def to_lambda_event(messages: list[dict[str, Any]], queue_url: str, region: str = REGION) -> dict[str, Any]:
    """ReceiveMessage results -> the SQS event Lambda would pass to the function."""
    arn = queue_arn(queue_url, region)
    return {"Records": [{
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": dict(m.get("Attributes") or {}),
        "messageAttributes": {k: _attribute(v) for k, v in (m.get("MessageAttributes") or {}).items()},
        "md5OfBody": m.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    } for m in messages]}


def poll_once(sqs: Any, queue_url: str, handler: Any, *, wait_s: int = 10, max_messages: int = 10,
              retry_delay: int | None = None, visibility_s: int = 30) -> int:
    """One receive -> handler -> delete round. Returns how many messages were received."""
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=wait_s,
                              AttributeNames=["All"], MessageAttributeNames=["All"])
    messages = got.get("Messages") or []
    if not messages:
        return 0
    # Lambda's event source keeps in-flight messages invisible while the function runs; a queue's
    # short local visibility timeout must not hand a message to a second worker meanwhile
    done_event = threading.Event()
    keeper = threading.Thread(target=_keep_invisible, args=(sqs, queue_url, messages, done_event, visibility_s),
                              daemon=True)
    keeper.start()
    try:
        response = handler(to_lambda_event(messages, queue_url), FakeContext()) or {}
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
    except Exception:  # noqa: BLE001 - an invocation error: Lambda retries the whole batch
        failed = {m["MessageId"] for m in messages}
    finally:
        done_event.set()
        keeper.join()
    done = [m for m in messages if m["MessageId"] not in failed]
    for i in range(0, len(done), 10):
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(done[i:i + 10])])
    if retry_delay is not None:
        for m in messages:
            if m["MessageId"] in failed:
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"],
                                              VisibilityTimeout=retry_delay)
    return len(messages)


def _keep_invisible(sqs: Any, queue_url: str, messages: list[dict[str, Any]], done: threading.Event,
                    visibility_s: int) -> None:
    """Extend the messages' visibility at a third of the timeout until the handler returns."""
    every_s = max(0.5, min(HEARTBEAT_S, visibility_s / 3))
    while not done.wait(every_s):
        for m in messages:
            try:
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"],
                                              VisibilityTimeout=max(1, int(visibility_s)))
            except Exception:  # noqa: BLE001 - best effort, like the real poller
                pass


def _visibility_timeout(sqs: Any, queue_url: str, default: int = 30) -> int:
    try:
        attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])["Attributes"]
        return int(attrs.get("VisibilityTimeout", default))
    except Exception:  # noqa: BLE001 - the queue may not answer yet: the AWS default
        return default


BATCH_HANDLER = "functions.batch.handler:handler"
TRAIN_HANDLER = "functions.train.handler:handler"  # the train function's queue (functions/train)


def run_worker(queue_url: str, wait_s: int, retry_delay: int | None, stop: Any = None, batch: int = 10,
               dlq_url: str | None = None, handler_path: str = BATCH_HANDLER) -> None:
    """One worker's loop, until ``stop`` is set (or SIGINT/SIGTERM in a single-worker run)."""
    import importlib

    import boto3

    module, _, attr = handler_path.partition(":")
    handler = getattr(importlib.import_module(module), attr)

    stopping = {"now": False}

    def _stop(*_: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sqs = boto3.client("sqs", region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                       or REGION)
    visibility_s = _visibility_timeout(sqs, queue_url)
    while not stopping["now"] and not (stop is not None and stop.is_set()):
        try:
            poll_once(sqs, queue_url, handler, wait_s=wait_s, max_messages=batch, retry_delay=retry_delay,
                      visibility_s=visibility_s)
            if dlq_url:  # dead letters end their jobs (no long poll: the work queue comes first)
                poll_once(sqs, dlq_url, handler, wait_s=0, max_messages=10, visibility_s=visibility_s)
        except Exception as exc:  # noqa: BLE001 - the queue went away for a moment: back off, go on
            print(f"local worker {os.getpid()}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local_worker", description=__doc__.split("\n")[0])
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--handler", default=BATCH_HANDLER, choices=(BATCH_HANDLER, TRAIN_HANDLER),
                        help="the Lambda handler the queue feeds (default: the batch worker)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--dlq-url", default=None, help="also consume the DLQ: its messages' jobs end failed")
    parser.add_argument("--wait", type=int, default=5, help="long-poll seconds (default 5)")
    parser.add_argument("--batch-size", type=int, default=1,
                        help="messages per invocation, 1-10 (default 1: spreads chunks over workers)")
    parser.add_argument("--retry-delay", type=int, default=None,
                        help="make failed messages visible again after this many seconds "
                             "(default: the queue's visibility timeout, as Lambda does)")
    args = parser.parse_args(argv)
    if args.workers < 1 or not 1 <= args.batch_size <= 10:
        parser.error("--workers must be >= 1 and --batch-size 1..10")
    if args.workers == 1:
        run_worker(args.queue_url, args.wait, args.retry_delay, batch=args.batch_size, dlq_url=args.dlq_url,
                   handler_path=args.handler)
        return 0
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    procs = [ctx.Process(target=run_worker, args=(args.queue_url, args.wait, args.retry_delay, stop,
                                                  args.batch_size, args.dlq_url, args.handler),
                         name=f"batch-worker-{i}")
             for i in range(args.workers)]
    for p in procs:
        p.start()

    def _stop(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while any(p.is_alive() for p in procs):
        for p in procs:
            p.join(timeout=0.5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
