"""The train function reads its DLQ (as the batch function reads its own): a dead training message
ends its job failed with the reason and its reserved texts back in the quota; a dead publish goes
back to done with the reason; a second delivery changes nothing; the work queue still trains."""
from __future__ import annotations

import json
import time

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from functions.auth.usage import read_usage, utc_day
from functions.settings import Settings
from functions.train import handler
from functions.train import jobs as J
from tests.functional.api_events import lambda_env
from tests.functional.test_train_flow import _call, _rows, env  # noqa: F401 - env is the shared fixture
from tests.support.train_stack import TABLE

pytestmark = pytest.mark.timeout(120)
ARN = "arn:aws:sqs:us-east-1:123456789012:"


def _record(queue: str, body: dict, receives: int = 1) -> SQSRecord:
    return SQSRecord({"messageId": "m-1", "receiptHandle": "r-1", "body": json.dumps(body),
                      "attributes": {"ApproximateReceiveCount": str(receives)}, "messageAttributes": {},
                      "eventSource": "aws:sqs", "eventSourceARN": ARN + queue, "awsRegion": "us-east-1"})


@pytest.fixture
def dlq(env, tmp_path):  # noqa: F811 - the fixture imported above
    st = env["stack"]
    handler.reset(st.worker, Settings.from_env(lambda_env(tmp_path / "cache", SNLP_TRAIN_QUEUE_URL=st.queue_url)))
    yield env
    handler.reset()


def _texts(env):
    return read_usage(env["ddb"], TABLE, env["alice_id"], utc_day(time.time()))["texts"]


def test_a_dead_training_message_fails_its_job_and_refunds_its_texts(dlq):
    status, job = _call(dlq, "POST", "/v1/train", dlq["alice"], {"name": "alice-dead", "rows": _rows()})
    assert status == 202 and _texts(dlq) == 36  # reserved when admitted
    dlq["stack"].worker.ledger.move(job["job_id"], (J.QUEUED,), J.EMBEDDING)  # a worker took it, then died
    message = {"job_id": job["job_id"], "action": "train"}
    handler.record_handler(_record("snlp-train-dlq", message, receives=2))
    status, now = _call(dlq, "GET", f"/v1/train/{job['job_id']}", dlq["alice"])
    assert status == 200 and now["status"] == "failed"
    assert "dead-letter queue" in now["error"] and "received 2 times" in now["error"]
    assert _texts(dlq) == 0  # no model came of it: the reservation went back, as the batch path does
    handler.record_handler(_record("snlp-train-dlq", message))  # delivered twice: nothing changes
    assert _call(dlq, "GET", f"/v1/train/{job['job_id']}", dlq["alice"])[1]["status"] == "failed"
    assert _texts(dlq) == 0
    dlq["drain"]()  # the original message, late: the job stays failed
    assert _call(dlq, "GET", f"/v1/train/{job['job_id']}", dlq["alice"])[1]["status"] == "failed"


def test_a_dead_letter_for_a_finished_job_leaves_it_and_its_bill(dlq):
    status, job = _call(dlq, "POST", "/v1/train", dlq["alice"], {"name": "alice-done", "rows": _rows()})
    handler.record_handler(_record("snlp-train", {"job_id": job["job_id"], "action": "train"}))  # the work queue
    assert _call(dlq, "GET", f"/v1/train/{job['job_id']}", dlq["alice"])[1]["status"] == "done"
    handler.record_handler(_record("snlp-train-dlq", {"job_id": job["job_id"], "action": "train"}))
    assert _call(dlq, "GET", f"/v1/train/{job['job_id']}", dlq["alice"])[1]["status"] == "done"
    assert _texts(dlq) == 36  # billed once, for what it embedded


def test_a_dead_publish_goes_back_to_done_with_the_reason(dlq):
    status, job = _call(dlq, "POST", "/v1/train", dlq["alice"], {"name": "alice-pub", "rows": _rows()})
    dlq["drain"]()
    assert _call(dlq, "POST", f"/v1/train/{job['job_id']}/publish", dlq["alice"])[0] == 202
    handler.record_handler(_record("snlp-train-dlq", {"job_id": job["job_id"], "action": "publish"}))
    now = _call(dlq, "GET", f"/v1/train/{job['job_id']}", dlq["alice"])[1]
    assert now["status"] == "done" and now["error"].startswith("publish failed: gave up")


@pytest.mark.parametrize("body", ["not json", json.dumps(["a"]), json.dumps({"job_id": "../x", "action": "train"})])
def test_a_dead_letter_that_names_no_job_is_logged_and_dropped(dlq, body):
    record = _record("snlp-train-dlq", {})
    record._data["body"] = body
    handler.record_handler(record)  # no exception: it would stay in the DLQ forever
