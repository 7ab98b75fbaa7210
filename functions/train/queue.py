"""The train function's queue: one message per job step (``train`` or ``publish``)."""
from __future__ import annotations

import json
from typing import Any

ACTIONS = ("train", "publish")
# a work queue's DLQ is named like it plus this: the one rule, for the train and the batch queue
# (infra/config.py names both; functions/batch/handler.py reads its DLQ by from_dead_letter_queue)
DLQ_SUFFIX = "-dlq"


def send(sqs: Any, queue_url: str, job_id: str, action: str) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"job_id": job_id, "action": action}))


def from_dead_letter_queue(event_source_arn: str | None, queue_url: str | None) -> bool:
    """True for a record whose source is ``queue_url``'s DLQ."""
    name = (queue_url or "").rsplit("/", 1)[-1]
    return bool(name) and (event_source_arn or "").endswith(":" + name + DLQ_SUFFIX)


__all__ = ["send", "from_dead_letter_queue", "ACTIONS", "DLQ_SUFFIX"]
