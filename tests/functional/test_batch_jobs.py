"""The job service and its HTTP routes: presigned upload -> processing -> status with result URLs."""
from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import request
from moto import mock_aws

from functions.api.routes_batch import batch_blueprint
from functions.batch.jobs import JobService
from functions.batch.ledger import Ledger
from functions.batch.errors import JobNotFoundError
from functions.nlp.errors import ModelNotFoundError, ValidationError
from tests.functional.batch_stack import DATA, TABLE, make_stack
from tests.support.problem_app import problem_app


@pytest.fixture
def stack(tiny_registry, tmp_path):
    with mock_aws():
        yield make_stack(tiny_registry, tmp_path / "cache", clock=time.time)


@pytest.fixture
def jobs(stack):
    return JobService(stack.s3, Ledger(stack.ddb, TABLE), bucket=DATA, default_model="tiny-sentiment",
                      presign_ttl_s=600, resolve=stack.store.resolve)


def _upload(job: dict, body: bytes) -> requests.Response:
    return requests.put(job["upload_url"], data=body, headers=job["upload_headers"], timeout=10)


def test_presigned_upload_is_processed_and_reported_with_result_urls(stack, jobs):
    job = jobs.create_job("tok-a", "jsonl", "tiny-sentiment:candidate")
    assert job["key"] == f"incoming/{job['job_id']}.jsonl" and job["expires_in"] == 600
    signed = parse_qs(urlsplit(job["upload_url"]).query)["X-Amz-SignedHeaders"][0].split(";")
    assert {"x-amz-meta-model", "x-amz-meta-owner"} <= set(signed)  # the upload cannot change them
    assert jobs.get_job(job["job_id"], "tok-a")["status"] == "queued"
    response = _upload(job, b'{"text": "good day"}\n{"text": ""}\n{"id": 3, "text": "sad"}\n')
    assert response.status_code == 200
    head = stack.s3.head_object(Bucket=DATA, Key=job["key"])
    assert head["Metadata"] == {"model": "tiny-sentiment:candidate", "owner": "tok-a"}

    stack.drain()
    status = jobs.get_job(job["job_id"], "tok-a")
    assert status["status"] == "done"
    assert status["counts"] == {"lines_read": 3, "ok": 2, "failed": 1}
    assert status["model"]["name"] == "tiny-sentiment" and status["model"]["version"] == "2-fp32"
    results = requests.get(status["results_url"], timeout=10).text.splitlines()
    assert [json.loads(r)["line"] for r in results] == [1, 2, 3]
    errors = [json.loads(r) for r in requests.get(status["errors_url"], timeout=10).text.splitlines()]
    assert [(e["line"], e["code"]) for e in errors] == [(2, "empty-input")]
    summary = requests.get(status["summary_url"], timeout=10).json()
    assert summary["status"] == "done" and summary["source"]["key"] == job["key"]


def test_a_token_sees_only_its_own_jobs(stack, jobs):
    job = jobs.create_job("tok-a", "csv", None)
    with pytest.raises(JobNotFoundError):
        jobs.get_job(job["job_id"], "tok-b")
    for bad in ("../etc/passwd", "a" * 65, "", "x/y", "job.jsonl"):
        with pytest.raises(JobNotFoundError):
            jobs.get_job(bad, "tok-a")
    with pytest.raises(JobNotFoundError):
        jobs.get_job("0" * 32, "tok-a")


def test_create_job_validates_format_and_model(jobs):
    with pytest.raises(ValidationError):
        jobs.create_job("tok-a", "xml", None)
    with pytest.raises(ModelNotFoundError):
        jobs.create_job("tok-a", "jsonl", "no-such-model")


def test_failed_job_reports_its_reason(stack, jobs):
    job = jobs.create_job("tok-a", "csv", None)
    assert _upload(job, b"id,label\n1,x\n").status_code == 200
    stack.drain()
    status = jobs.get_job(job["job_id"], "tok-a")
    assert status["status"] == "failed" and "text" in status["reason"]
    assert "results_url" not in status and status["summary_url"]


# --- the blueprint on a tiny app (the real app registers it the same way) -----------------------
@pytest.fixture
def client(jobs):
    app = problem_app()
    tokens = {"good": {"token_id": "tok-a", "models": "*"}, "other": {"token_id": "tok-b", "models": "*"},
              "narrow": {"token_id": "tok-c", "models": ["tiny-embed"]}}

    def current_token():
        return tokens[request.headers["Authorization"].split()[-1]]

    app.register_blueprint(batch_blueprint(jobs, current_token))
    return app.test_client()


def _auth(name: str) -> dict:
    return {"Authorization": f"Bearer {name}"}


def test_routes_create_and_report_jobs(stack, client):
    created = client.post("/v1/batch", json={"format": "jsonl", "model": "tiny-sentiment"}, headers=_auth("good"))
    assert created.status_code == 201
    job = created.get_json()
    assert created.headers["Location"] == f"/v1/batch/{job['job_id']}"
    assert _upload(job, b'{"text": "good"}\n').status_code == 200
    stack.drain()
    status = client.get(f"/v1/batch/{job['job_id']}", headers=_auth("good"))
    assert status.status_code == 200 and status.get_json()["status"] == "done"
    assert status.get_json()["counts"] == {"lines_read": 1, "ok": 1, "failed": 0}
    assert client.get(f"/v1/batch/{job['job_id']}", headers=_auth("other")).status_code == 404
    assert client.get("/v1/batch/..%2F..%2Fsecret", headers=_auth("good")).status_code == 404


def test_routes_reject_bad_requests(client):
    assert client.post("/v1/batch", json={"format": "xml"}, headers=_auth("good")).status_code == 422
    assert client.post("/v1/batch", data="{nope", content_type="application/json",
                       headers=_auth("good")).status_code == 400
    assert client.post("/v1/batch", json={"model": "nope"}, headers=_auth("good")).status_code == 404
    denied = client.post("/v1/batch", json={"model": "tiny-sentiment"}, headers=_auth("narrow"))
    assert denied.status_code == 403
    csv_job = client.post("/v1/batch", json={"filename": "data.CSV"}, headers=_auth("good")).get_json()
    assert csv_job["key"].endswith(".csv")


def test_running_job_reports_counts_so_far(stack, jobs):
    chunked = stack.with_settings(batch_chunk_bytes=100)
    job = jobs.create_job("tok-a", "jsonl", None)
    body = b"".join(b'{"text": "good day number %d"}\n' % i for i in range(40))
    assert _upload(job, body).status_code == 200
    from infra.local_worker import to_lambda_event

    # the upload event (and moto's s3:TestEvent): the file is planned, chunks queued, none run yet
    for _ in range(2):
        messages = chunked.receive(1)
        chunked.invoke(to_lambda_event(messages, chunked.queue_url))
        chunked.sqs.delete_message(QueueUrl=chunked.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
    status = jobs.get_job(job["job_id"], "tok-a")
    assert status["status"] == "running" and status["counts"]["lines_read"] == 0
    messages = chunked.receive(1)
    chunked.invoke(to_lambda_event(messages, chunked.queue_url))
    chunked.sqs.delete_message(QueueUrl=chunked.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
    partial = jobs.get_job(job["job_id"], "tok-a")["counts"]
    assert 0 < partial["lines_read"] < 40 and partial["ok"] + partial["failed"] == partial["lines_read"]
    chunked.drain()
    assert jobs.get_job(job["job_id"], "tok-a")["counts"] == {"lines_read": 40, "ok": 40, "failed": 0}
