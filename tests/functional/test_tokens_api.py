"""Token failures through the real handler: every one is problem+json with the right status."""
from __future__ import annotations

import pytest

from functions.auth.admin import create_token, revoke_token
from functions.store.clients import default_dynamodb_client
from tests.functional.api_events import (TABLE, FakeLambdaContext, http_v2_event, lambda_env, moto_api,
                                         response_headers, response_json)

pytestmark = pytest.mark.timeout(120)
BODY = {"texts": ["good movie"]}


@pytest.fixture
def stack(tiny_registry, tmp_path):
    from functions.api.handler import build_runtime, make_handler

    with moto_api(tiny_registry) as (s3, ddb):
        env = lambda_env(tmp_path / "cache", SNLP_TOKEN_CACHE_TTL_S="0", SNLP_USAGE_FLUSH_REQUESTS="1")
        runtime = build_runtime(env, s3_client=s3, dynamodb_client=ddb)
        yield ddb, runtime, make_handler(runtime)


def call(handler, token=None, body=BODY, path="/v1/classify", headers=None):
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    out = handler(http_v2_event("POST", path, body=body, headers=headers), FakeLambdaContext())
    return out["statusCode"], response_json(out), response_headers(out)


def code(body):
    return body["type"].rsplit("/", 1)[-1]


def test_missing_wrong_revoked_not_allowed(stack):
    ddb, _, handler = stack
    status, body, headers = call(handler)
    assert (status, code(body)) == (401, "missing-token") and "bearer" in headers["www-authenticate"].lower()
    status, body, _ = call(handler, "snlp_" + "x" * 43)
    assert (status, code(body)) == (401, "invalid-token")
    token, record = create_token(ddb, TABLE, owner="t", models="tiny-embed", quota_per_day=100)
    assert call(handler, token, path="/v1/embed")[0] == 200
    status, body, _ = call(handler, token)
    assert (status, code(body)) == (403, "model-not-allowed")
    revoke_token(ddb, TABLE, record.token_id)
    status, body, _ = call(handler, token, path="/v1/embed")
    assert (status, code(body)) == (403, "token-revoked")


def test_over_quota_is_429_with_retry_after(stack):
    ddb, _, handler = stack
    token, _ = create_token(ddb, TABLE, owner="q", models="*", quota_per_day=3)
    assert call(handler, token, body={"texts": ["a", "b"]})[0] == 200
    assert call(handler, token)[0] == 200
    status, body, headers = call(handler, token)
    assert (status, code(body)) == (429, "quota-exceeded")
    assert 0 < int(headers["retry-after"]) <= 86400


def test_dynamodb_down_is_503_never_open(stack):
    ddb, runtime, handler = stack
    token, _ = create_token(ddb, TABLE, owner="d", models="*", quota_per_day=100)
    tokens = runtime.app.extensions["snlp"].tokens
    tokens.client = default_dynamodb_client(endpoint_url="http://127.0.0.1:9", connect_timeout=0.2,
                                            read_timeout=0.2, retries=0)
    status, body, headers = call(handler, token)
    assert (status, code(body)) == (503, "auth-unavailable") and int(headers["retry-after"]) > 0
