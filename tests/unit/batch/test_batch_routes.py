"""The batch blueprint over a fake job service: request shapes, token checks, error types."""
from __future__ import annotations

import pytest
from flask import request

from functions.api.routes_batch import batch_blueprint
from functions.auth.tokens import TokenRecord
from functions.batch.errors import JobNotFoundError
from tests.support.problem_app import problem_app


class FakeJobs:
    default_model = "sentiment"
    max_upload_bytes = 1000

    def __init__(self) -> None:
        self.created: list[tuple] = []

    def create_job(self, owner, fmt, model, *, texts=None):
        self.created.append((getattr(owner, "token_id", owner), fmt, model, texts))
        return {"job_id": "j1", "upload_url": "https://example/put", "key": f"incoming/j1.{fmt}", "expires_in": 60}

    def get_job(self, job_id, owner):
        if (job_id, owner) != ("j1", "tok_a"):
            raise JobNotFoundError("no such job")
        return {"job_id": "j1", "status": "queued", "counts": {"lines_read": 0, "ok": 0, "failed": 0}}


TOKENS = {"a": TokenRecord("tok_a", "alice", "*", None), "b": TokenRecord("tok_b", "bob", ("minilm-embed",), 10),
          "d": {"token_id": "tok_d", "models": ["sentiment"]}}


@pytest.fixture
def app_and_jobs():
    jobs = FakeJobs()
    app = problem_app()

    app.register_blueprint(batch_blueprint(jobs, lambda: TOKENS[request.headers["X-Who"]]))
    return app.test_client(), jobs


def test_create_passes_owner_format_and_model(app_and_jobs):
    client, jobs = app_and_jobs
    r = client.post("/v1/batch", json={"format": "csv", "model": "sentiment:fp32", "texts": 12}, headers={"X-Who": "a"})
    assert r.status_code == 201 and r.headers["Location"] == "/v1/batch/j1"
    assert client.post("/v1/batch", headers={"X-Who": "d"}).status_code == 201  # empty body: defaults
    assert jobs.created == [("tok_a", "csv", "sentiment:fp32", 12), ("tok_d", "jsonl", None, None)]


def test_token_model_permissions_for_records_and_dicts(app_and_jobs):
    client, jobs = app_and_jobs
    r = client.post("/v1/batch", json={"format": "jsonl"}, headers={"X-Who": "b"})  # default model: sentiment
    assert r.status_code == 403 and r.get_json()["type"].endswith("model-not-allowed")
    assert client.post("/v1/batch", json={"model": "minilm-embed"}, headers={"X-Who": "b"}).status_code == 201
    assert client.post("/v1/batch", json={"model": "minilm-embed"}, headers={"X-Who": "d"}).status_code == 403
    assert client.post("/v1/batch", json={"model": "../x"}, headers={"X-Who": "a"}).status_code == 404
    assert client.post("/v1/batch", json={"model": 3}, headers={"X-Who": "a"}).status_code == 422
    assert client.post("/v1/batch", json=["x"], headers={"X-Who": "a"}).status_code == 422


def test_status_is_scoped_to_the_token(app_and_jobs):
    client, _ = app_and_jobs
    assert client.get("/v1/batch/j1", headers={"X-Who": "a"}).get_json()["status"] == "queued"
    r = client.get("/v1/batch/j1", headers={"X-Who": "b"})
    assert r.status_code == 404 and r.get_json()["type"].endswith("/not-found")


@pytest.mark.parametrize("data, content_type, status", [
    ("[" * 100_000, "application/json", 400), (b'{"format": "jsonl", "model": "caf\xe9"}', "application/json", 400),
    (b'{"format": "jsonl"}', "text/plain", 415), ("{" * 50_000, "application/json", 400),
    ('{"format": ["jsonl"]}', "application/json", 422), ('{"format": "../../x"}', "application/json", 422)])
def test_hostile_bodies_are_4xx_problems(app_and_jobs, data, content_type, status):
    client, jobs = app_and_jobs
    r = client.post("/v1/batch", data=data, content_type=content_type, headers={"X-Who": "a"})
    assert r.status_code == status
    assert not jobs.created


def test_a_file_declared_over_the_upload_limit_gets_413_before_any_job(app_and_jobs):
    client, jobs = app_and_jobs
    r = client.post("/v1/batch", json={"format": "jsonl", "bytes": 1001, "texts": 3}, headers={"X-Who": "a"})
    assert r.status_code == 413 and r.get_json()["type"].endswith("/payload-too-large")
    assert "at most 1000" in r.get_json()["detail"]
    for bad in (-1, "12", True, 1.5):
        assert client.post("/v1/batch", json={"bytes": bad}, headers={"X-Who": "a"}).status_code == 422
    assert jobs.created == []
    assert client.post("/v1/batch", json={"bytes": 1000}, headers={"X-Who": "a"}).status_code == 201
