"""The train function's queue: one message per job step (``train`` or ``publish``)."""
from __future__ import annotations

import json
from typing import Any

ACTIONS = ("train", "publish")


def send(sqs: Any, queue_url: str, job_id: str, action: str) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"job_id": job_id, "action": action}))


__all__ = ["send", "ACTIONS"]
