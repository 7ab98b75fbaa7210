"""Faults on the API path: DynamoDB (tokens, usage, jobs) down. Never open access, never a 5xx
other than 503, and an outage must not make every request pay DynamoDB's timeouts.

DynamoDB is a real moto server in a child process that these tests kill and start again.
"""
from __future__ import annotations

import pytest

from tests.functional.reliability import (BUCKET, CLASSIFY, TOKENS_TABLE, Clock, assert_problem, auth,  # noqa: F401
                                          build_app, create_tokens_table, ddb_server, env, provision, registry,
                                          retry_after, s3_server, settings_for, TOKEN)

pytestmark = pytest.mark.timeout(120)


# --- DynamoDB down ----------------------------------------------------------------------------
def test_dynamodb_down_503_and_never_open_access(env, ddb_server, registry, tmp_path):
    s3, ddb = env
    clock = Clock()
    client = build_app(settings_for(tmp_path / "cache"), s3, ddb, clock=clock).test_client()
    ddb_server.stop()
    for headers in (auth(), {"x-api-key": TOKEN},
                    auth("snlp_" + "x" * 43)):  # a well-formed but unknown token
        resp = client.post("/v1/classify", json=CLASSIFY, headers=headers)
        assert_problem(resp, 503, "auth-unavailable")
        assert retry_after(resp) > 0
        assert "predictions" not in resp.get_data(as_text=True)
    for path in ("/v1/models", "/v1/models/sentiment"):
        assert_problem(client.get(path, headers=auth()), 503, "auth-unavailable")
    assert_problem(client.post("/v1/classify", json=CLASSIFY), 401, "missing-token")
    assert_problem(client.post("/v1/classify", json=CLASSIFY, headers=auth("not-a-token")), 401)
    assert client.get("/health").status_code == 200  # health stays public and needs no DynamoDB

    ddb_server.start()
    provision(s3, ddb, registry)
    resp = client.post("/v1/classify", json=CLASSIFY, headers=auth())
    assert resp.status_code == 200, resp.get_data(as_text=True)


def test_dynamodb_down_a_revoked_token_stays_refused(env, ddb_server, tmp_path):
    s3, ddb = env
    from functions.auth.tokens import TokenRecord, hash_token, to_item

    revoked = "snlp_" + "revoked-token-abcdefghijklmnopqrstuvwxyz0123"
    ddb.put_item(TableName=TOKENS_TABLE, Item=to_item(hash_token(revoked), TokenRecord(
        token_id="tok_revoked", owner="t", models="*", quota_per_day=10, revoked=True)))
    clock = Clock()
    client = build_app(settings_for(tmp_path / "cache"), s3, ddb, clock=clock).test_client()
    assert_problem(client.post("/v1/classify", json=CLASSIFY, headers=auth(revoked)), 403, "token-revoked")
    ddb_server.stop()
    for advance in (0, 120, 10_000):  # inside the cache TTL, after it, long after
        clock.advance(advance)
        resp = client.post("/v1/classify", json=CLASSIFY, headers=auth(revoked))
        assert resp.status_code in (403, 503), resp.status_code


# --- outages must not turn into per-request stalls --------------------------------------------
def _count_attempts(client) -> dict[str, int]:
    """Every HTTP attempt (retries included) the client makes, by operation."""
    counts: dict[str, int] = {}

    def on_send(request, event_name, **_):
        op = event_name.rsplit(".", 1)[-1]
        counts[op] = counts.get(op, 0) + 1

    client.meta.events.register("before-send.dynamodb", on_send)
    return counts


def test_dynamodb_down_stale_token_answers_do_not_retry_dynamodb_on_every_request(env, ddb_server, tmp_path):
    """Against a DynamoDB that times out instead of refusing, each retry costs seconds: an outage
    must not make every warm request pay them (found: 30 GetItem attempts for 10 requests)."""
    s3, ddb = env
    clock = Clock()
    client = build_app(settings_for(tmp_path / "cache"), s3, ddb, clock=clock).test_client()
    assert client.post("/v1/classify", json=CLASSIFY, headers=auth()).status_code == 200  # token cached
    ddb_server.stop()
    clock.advance(61)  # past the token cache TTL: answers are now stale-if-error
    attempts = _count_attempts(ddb)
    for _ in range(10):
        resp = client.post("/v1/classify", json=CLASSIFY, headers=auth())
        assert resp.status_code in (200, 503), resp.status_code
    # one failed refresh (with its retries) may be paid; the next requests should not ask again at once
    assert attempts.get("GetItem", 0) <= 3, f"{attempts.get('GetItem')} GetItem attempts for 10 requests"


def test_dynamodb_down_usage_meter_does_not_retry_on_every_request(env, ddb_server, tmp_path):
    """Found: once flush_every requests were pending, every request retried the flush (72 UpdateItem
    attempts for 60 requests)."""
    s3, ddb = env
    clock = Clock()
    client = build_app(settings_for(tmp_path / "cache"), s3, ddb, clock=clock, meter=True).test_client()
    assert client.post("/v1/classify", json=CLASSIFY, headers=auth()).status_code == 200
    ddb_server.stop()
    attempts = _count_attempts(ddb)
    codes = [client.post("/v1/classify", json=CLASSIFY, headers=auth()).status_code for _ in range(60)]
    assert set(codes) <= {200, 503}, codes
    assert attempts.get("UpdateItem", 0) <= 2 * 3, f"{attempts.get('UpdateItem')} UpdateItem attempts for 60 requests"


def test_dynamodb_outage_usage_is_billed_once_it_is_back(env, ddb_server, registry, tmp_path):
    """Requests served from the token cache during an outage are still metered afterwards."""
    from functions.auth.usage import read_usage, utc_day

    s3, ddb = env
    clock = Clock()
    app = build_app(settings_for(tmp_path / "cache"), s3, ddb, clock=clock, meter=True)
    client = app.test_client()
    served = int(client.post("/v1/classify", json=CLASSIFY, headers=auth()).status_code == 200)
    ddb_server.stop()
    for _ in range(30):
        served += client.post("/v1/classify", json=CLASSIFY, headers=auth()).status_code == 200
    ddb_server.start()
    provision(s3, ddb, registry)  # a restarted moto is empty: the usage row starts again from zero
    app.extensions["snlp"].meter.flush()
    import time as _time

    usage = read_usage(ddb, TOKENS_TABLE, "tok_reliability01", utc_day(_time.time()))
    # everything served since the outage began is billed (the first request may have been flushed before)
    assert served - 1 <= usage["requests"] <= served, (served, usage)
    assert usage["texts"] >= 2 * (served - 1)


# --- batch routes: the jobs table is DynamoDB too ----------------------------------------------
DATA_BUCKET, JOBS_TABLE = "snlp-test-data", "snlp-test-jobs"


def test_dynamodb_down_batch_routes_503_not_500(env, ddb_server, registry, tmp_path):
    """The Lambda handler's own wiring (build_runtime); the token is cached before the outage."""
    from functions.api.handler import build_runtime
    from functions.settings import ENV

    s3, ddb = env
    s3.create_bucket(Bucket=DATA_BUCKET)
    if JOBS_TABLE not in ddb.list_tables()["TableNames"]:
        create_tokens_table(ddb, JOBS_TABLE)  # same pk/sk key schema
    rt = build_runtime({ENV["artifacts_bucket"]: BUCKET, ENV["tokens_table"]: TOKENS_TABLE,
                        ENV["data_bucket"]: DATA_BUCKET, ENV["jobs_table"]: JOBS_TABLE,
                        ENV["model_cache_dir"]: str(tmp_path / "cache")}, s3_client=s3, dynamodb_client=ddb)
    if "/v1/batch" not in {r.rule for r in rt.app.url_map.iter_rules()}:
        pytest.skip("POST /v1/batch is not wired into create_app yet (functions/api/routes_batch.py)")
    client = rt.app.test_client()
    created = client.post("/v1/batch", json={"format": "jsonl"}, headers=auth())
    assert created.status_code == 201, created.get_data(as_text=True)
    job = created.get_json()["job_id"]
    ddb_server.stop()
    answers = {path: getattr(client, method)(path, headers=auth(), **kwargs)
               for method, path, kwargs in (("get", f"/v1/batch/{job}", {}),
                                            ("post", "/v1/batch", {"json": {"format": "csv"}}))}
    assert {p: r.status_code for p, r in answers.items()} == {f"/v1/batch/{job}": 503, "/v1/batch": 503}
    for resp in answers.values():
        assert_problem(resp, 503)
        assert retry_after(resp) > 0
