"""No free lunch: every route and the batch paths (POST /v1/batch, the OpenAI Batch API), tried
with an exhausted, a revoked and a malformed token, process nothing and leave nothing unmetered.

The real API (``build_runtime``, its token store, meter and job service) and the real batch
worker run on one moto account. The routes come from the app's own URL map and their bodies
from its OpenAPI examples, so a route added later is swept too. The bad tokens go first, on a
runtime that has loaded no model yet; then a good token sends the same requests, which shows
that each body would have run a model (and that what it ran is what the meter billed).
"""
from __future__ import annotations

import io
import json
import time
from typing import Any

import onnxruntime as ort
import pytest
import requests
from moto import mock_aws

from functions.api.app import PUBLIC_ENDPOINTS
from functions.auth.admin import create_token, revoke_token
from functions.auth.usage import USAGE_PK, add_usage, read_usage, utc_day
from functions.batch import handler as batch_handler
from functions.settings import ENV
from infra.local_worker import FakeContext, to_lambda_event
from tests.functional.batch_stack import DATA, TABLE, make_stack
from tests.functional.reliability import auth, create_tokens_table
from infra.local.moto import FAKE_AWS
from tests.support.tiny_defaults import write_default_registry

pytestmark = pytest.mark.timeout(180)
TOKENS = "snlp-free-lunch-tokens"
QUOTA = 50
MALFORMED = ("", "snlp_", "not-a-token", "snlp_" + "x" * 300, "snlp_" + "A" * 43, "Bearer snlp_abc", "snlp_\u00e9" * 8)
EMBED_ROUTES = ("/v1/embed", "/v1/similarity", "/v1/embeddings")


class Inference:
    """Counts onnxruntime sessions created (models loaded) and run, and the texts run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sessions = self.runs = self.texts = 0
        init, run = ort.InferenceSession.__init__, ort.InferenceSession.run

        def counting_init(session: Any, *args: Any, **kwargs: Any) -> None:
            self.sessions += 1
            init(session, *args, **kwargs)

        def counting_run(session: Any, output_names: Any, feeds: dict, *args: Any, **kwargs: Any) -> Any:
            self.runs += 1
            self.texts += len(next(iter(feeds.values())))
            return run(session, output_names, feeds, *args, **kwargs)

        monkeypatch.setattr(ort.InferenceSession, "__init__", counting_init)
        monkeypatch.setattr(ort.InferenceSession, "run", counting_run)

    def snapshot(self) -> tuple[int, int, int]:
        return self.sessions, self.runs, self.texts


@pytest.fixture
def world(tmp_path, monkeypatch):
    for var, value in FAKE_AWS.items():
        monkeypatch.setenv(var, value)
    with mock_aws():
        from functions.api.handler import build_runtime

        stack = make_stack(write_default_registry(tmp_path / "reg"), tmp_path / "batch-cache", clock=time.time,
                           tokens_table=TOKENS, default_classify_model="sentiment",
                           default_embed_model="minilm-embed")
        create_tokens_table(stack.ddb, TOKENS)
        rt = build_runtime({ENV["artifacts_bucket"]: stack.settings.artifacts_bucket, ENV["tokens_table"]: TOKENS,
                            ENV["data_bucket"]: DATA, ENV["jobs_table"]: TABLE,
                            ENV["model_cache_dir"]: str(tmp_path / "api-cache"), ENV["preload_models"]: ""},
                           s3_client=stack.s3, dynamodb_client=stack.ddb)
        yield stack, rt


def _usage_rows(ddb: Any) -> dict[str, dict[str, int]]:
    items = ddb.scan(TableName=TOKENS)["Items"]
    counters = ("requests", "texts", "tokens")
    return {f"{i['pk']['S']}/{i['sk']['S']}": {k: int(i.get(k, {}).get("N", "0")) for k in counters}
            for i in items if i["pk"]["S"].startswith(USAGE_PK)}


def _job_rows(ddb: Any) -> list[str]:
    return sorted(i["pk"]["S"] for i in ddb.scan(TableName=TABLE)["Items"] if i["pk"]["S"].startswith("job#"))


def _requests(app: Any, job_id: str, version: str) -> list[tuple[str, str, Any]]:
    """(method, path, json body) for every authenticated route, bodies from the OpenAPI examples."""
    spec = app.test_client().get("/openapi.json").get_json()
    values = {"name": "sentiment", "version": version, "label": "prod", "job_id": job_id}
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", values.get(arg, "x")).replace(f"<path:{arg}>", values.get(arg, "x"))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            doc_path = rule.rule.replace("<", "{").replace(">", "}")
            op = (spec["paths"].get(doc_path) or {}).get(method.lower()) or {}
            media = ((op.get("requestBody") or {}).get("content") or {}).get("application/json") or {}
            body = media.get("example")
            if body is None and method == "POST":
                body = {"model": "minilm-embed" if path in EMBED_ROUTES else "sentiment", "texts": ["good movie"],
                        "format": "jsonl"}
            out.append((method, path, body))
    return out


def _send(client: Any, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.open(path, method=method, json=body, headers=headers)


def _three_tokens(ddb: Any) -> tuple[Any, Any, Any]:
    """(token, record) for an exhausted, a revoked and a paying token, in that order."""
    exhausted = create_token(ddb, TOKENS, owner="spent", models="*", quota_per_day=QUOTA)
    add_usage(ddb, TOKENS, exhausted[1].token_id, utc_day(time.time()), texts=QUOTA, requests=QUOTA)
    revoked = create_token(ddb, TOKENS, owner="gone", models="*", quota_per_day=QUOTA)
    revoke_token(ddb, TOKENS, revoked[1].token_id)
    return exhausted, revoked, create_token(ddb, TOKENS, owner="paying", models="*", quota_per_day=10_000)


def test_no_route_and_no_batch_job_works_for_an_exhausted_revoked_or_malformed_token(world, monkeypatch):
    stack, rt = world
    ddb, app = stack.ddb, rt.app
    client = app.test_client()
    inference = Inference(monkeypatch)
    (exhausted, ex_rec), (revoked, _), (good, good_rec) = _three_tokens(ddb)
    # the good token's job (its id fills /v1/batch/{job_id}); every other token must not see it
    job = client.post("/v1/batch", json={"format": "jsonl", "texts": 1}, headers=auth(good)).get_json()
    version = str(stack.store.resolve("sentiment")[1])
    sweep = _requests(app, job["job_id"], version)
    assert any(p == "/v1/batch" for _, p, _ in sweep) and any(p == "/v1/classify" for _, p, _ in sweep)
    rows_before, jobs_before = _usage_rows(ddb), _job_rows(ddb)
    assert inference.snapshot() == (0, 0, 0)

    bad: dict[str, dict[tuple[str, str], Any]] = {"exhausted": {}, "revoked": {}, "malformed": {}}
    for method, path, body in sweep:
        bad["exhausted"][(method, path)] = _send(client, method, path, body, auth(exhausted))
        bad["revoked"][(method, path)] = _send(client, method, path, body, auth(revoked))
        bad["malformed"][(method, path)] = [_send(client, method, path, body, auth(m)) for m in MALFORMED]

    # nothing processed: no model loaded, none run, no job created, not one usage row changed
    assert inference.snapshot() == (0, 0, 0), "a bad token made the API load or run a model"
    assert _job_rows(ddb) == jobs_before, "a bad token created a batch job"
    assert _usage_rows(ddb) == rows_before, "a bad token's request changed the usage rows"
    for (method, path), resp in bad["revoked"].items():
        assert resp.status_code in (401, 403), (method, path, resp.status_code)
    for (method, path), answers in bad["malformed"].items():
        assert all(r.status_code == 401 for r in answers), (method, path, [r.status_code for r in answers])

    # the same requests with a good token: each POST runs a model, and what ran is what is billed
    day = utc_day(time.time())
    before = read_usage(ddb, TOKENS, good_rec.token_id, day)
    ran_models, reserved = [], 0
    for method, path, body in sweep:
        runs = inference.runs
        resp = _send(client, method, path, body, auth(good))
        assert resp.status_code < 500, (method, path, resp.status_code, resp.get_data(as_text=True)[:300])
        if (method, path) == ("POST", "/v1/batch"):
            assert resp.status_code == 201, resp.get_data(as_text=True)[:300]
            reserved += resp.get_json()["reserved_texts"]  # held for the upload, not run
            refused = bad["exhausted"][(method, path)]
            assert refused.status_code == 429 and refused.get_json()["type"].endswith("/quota-exceeded")
            assert refused.mimetype == "application/problem+json" and int(refused.headers["Retry-After"]) > 0
        if inference.runs > runs:
            ran_models.append((method, path))
            refused = bad["exhausted"][(method, path)]
            assert refused.status_code == 429, (method, path, refused.status_code)
            assert int(refused.headers["Retry-After"]) > 0
    assert {("POST", "/v1/classify"), ("POST", "/v1/embed"), ("POST", "/v1/embeddings")} <= set(ran_models)
    meter = app.extensions["snlp"].meter
    if meter is not None:
        meter.flush()
    after = read_usage(ddb, TOKENS, good_rec.token_id, day)
    assert after["texts"] - before["texts"] - reserved == inference.texts, "texts run and texts billed differ"
    assert after["requests"] - before["requests"] == len(ran_models)
    assert read_usage(ddb, TOKENS, ex_rec.token_id, day) == rows_before[f"{USAGE_PK}{ex_rec.token_id}/{day}"]


def test_a_batch_job_whose_owner_ran_out_meanwhile_processes_nothing(world, monkeypatch):
    stack, rt = world
    client = rt.app.test_client()
    inference = Inference(monkeypatch)
    token, record = create_token(stack.ddb, TOKENS, owner="batch", models="*", quota_per_day=QUOTA)
    job = client.post("/v1/batch", json={"format": "jsonl", "texts": 5}, headers=auth(token)).get_json()
    # other instances use up the day while the file is on its way
    add_usage(stack.ddb, TOKENS, record.token_id, utc_day(time.time()), texts=QUOTA, requests=QUOTA)
    body = "".join(json.dumps({"text": f"line {i}"}) + "\n" for i in range(5)).encode()
    assert requests.put(job["upload_url"], data=body, headers=job["upload_headers"], timeout=10).status_code == 200
    for message in stack.receive():
        batch_handler.reset(stack.worker())
        batch_handler.handler(to_lambda_event([message], stack.queue_url), FakeContext())
    status = client.get(f"/v1/batch/{job['job_id']}", headers=auth(token)).get_json()
    assert status["status"] == "quota-exceeded" and status["counts"]["ok"] == 0
    assert inference.runs == 0, "the worker ran the model for a token without quota"
    usage = read_usage(stack.ddb, TOKENS, record.token_id, utc_day(time.time()))
    assert usage["texts"] == QUOTA and usage["requests"] == QUOTA  # the reservation went back; nothing billed


def test_the_openai_batch_api_creates_no_batch_for_an_exhausted_revoked_or_malformed_token(world, monkeypatch):
    stack, rt = world
    ddb, client = stack.ddb, rt.app.test_client()
    inference = Inference(monkeypatch)
    (exhausted, _), (revoked, _), (good, _) = _three_tokens(ddb)
    lines = "".join(json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/embeddings",
                                "body": {"model": "minilm-embed", "input": f"text {i}"}}) + "\n" for i in range(3))

    def upload(token: str) -> Any:
        return client.post("/v1/files", data={"purpose": "batch", "file": (io.BytesIO(lines.encode()), "in.jsonl")},
                           headers=auth(token), content_type="multipart/form-data")

    def create(token: str, file_id: str) -> Any:
        return client.post("/v1/batches", json={"input_file_id": file_id, "endpoint": "/v1/embeddings",
                                                "completion_window": "24h"}, headers=auth(token))

    good_file = upload(good).get_json()["id"]
    spent_file = upload(exhausted).get_json()["id"]  # storing a file costs no inference
    rows_before, jobs_before = _usage_rows(ddb), _job_rows(ddb)
    refused = create(exhausted, spent_file)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert create(exhausted, good_file).status_code == 404  # another token's file is not there
    assert upload(revoked).status_code == 403 and create(revoked, good_file).status_code == 403
    for bad in MALFORMED:
        assert upload(bad).status_code == 401 and create(bad, good_file).status_code == 401
    assert _job_rows(ddb) == jobs_before and _usage_rows(ddb) == rows_before
    assert create(good, good_file).status_code == 200 and len(_job_rows(ddb)) == len(jobs_before) + 1
    assert inference.snapshot() == (0, 0, 0)  # none of this ran a model: the worker does, on the meter
