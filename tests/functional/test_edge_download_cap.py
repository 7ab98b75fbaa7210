"""GET /v1/edge/<model> hands out ~23-31 MB model bundles and runs no model: downloads are capped
per token per UTC day (Settings.edge_downloads_per_day), counted on the usage row, and over the cap
the answer is a problem+json 429 with Retry-After to midnight UTC; other tokens are unaffected."""
from __future__ import annotations

import time

import boto3
import pytest
from moto import mock_aws

from functions.auth.admin import create_token
from functions.auth.usage import EDGE_DOWNLOADS, seconds_to_utc_midnight, utc_day
from tests.functional.api_events import BUCKET, TABLE, create_tokens_table, lambda_env
from tests.support.s3 import upload_registry

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def api(tiny_registry, tmp_path):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        upload_registry(s3, BUCKET, tiny_registry)
        create_tokens_table(ddb)
        from functions.api.handler import build_runtime

        runtime = build_runtime(lambda_env(tmp_path / "cache", SNLP_PRELOAD_MODELS="", SNLP_EDGE_DOWNLOADS_PER_DAY="2"),
                                s3_client=s3, dynamodb_client=ddb)
        yield runtime.app.test_client(), ddb


def _token(ddb, owner, quota=1000):
    token, record = create_token(ddb, TABLE, owner=owner, models="*", quota_per_day=quota)
    return token, record.token_id


def _edge(client, token):
    return client.get("/v1/edge/tiny-sentiment?runtime=1.30.0", headers={"Authorization": f"Bearer {token}"})


def _downloads(ddb, token_id):
    item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": "USAGE#" + token_id}, "sk": {"S": utc_day(time.time())}})
    return int(item.get("Item", {}).get(EDGE_DOWNLOADS, {}).get("N", "0"))


def test_downloads_are_counted_and_capped_per_token_per_day(api):
    client, ddb = api
    alice, alice_id = _token(ddb, "alice", quota=1)  # the texts quota does not matter here: no model runs
    bob, bob_id = _token(ddb, "bob")
    for n in (1, 2):
        r = _edge(client, alice)
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["downloads_today"] == n and r.get_json()["downloads_per_day"] == 2
    longest = seconds_to_utc_midnight(time.time())  # before the answer: its Retry-After is at most this
    r = _edge(client, alice)
    assert r.status_code == 429
    assert r.headers["Content-Type"].startswith("application/problem+json")
    body = r.get_json()
    assert body["type"].endswith("rate-limited") and "edge model downloads" in body["detail"]
    assert 0 < int(r.headers["Retry-After"]) <= longest
    assert "files" not in body  # no URL handed out over the cap
    assert _downloads(ddb, alice_id) == 2  # the refused one is not counted
    assert _edge(client, bob).status_code == 200 and _downloads(ddb, bob_id) == 1


def test_a_request_that_is_refused_before_the_cap_counts_nothing(api):
    client, ddb = api
    alice, alice_id = _token(ddb, "alice")
    r = client.get("/v1/edge/tiny-sentiment?runtime=latest", headers={"Authorization": f"Bearer {alice}"})
    assert r.status_code in (400, 422)
    assert client.get("/v1/edge/no-such-model?runtime=1.30.0",
                      headers={"Authorization": f"Bearer {alice}"}).status_code == 404
    assert _downloads(ddb, alice_id) == 0
