"""Abuse costs nothing: malformed or checksum-failing tokens are refused without a DynamoDB call,
unknown well-formed ones are asked once and the answer cached, legacy tokens keep working until
the operator turns them off (the real Lambda handler on moto)."""
from __future__ import annotations

import pytest

from functions.auth.admin import create_token
from functions.auth.tokens import TokenRecord, hash_token, new_token, precheck, to_item
from tests.functional.api_events import (TABLE, FakeLambdaContext, http_v2_event, lambda_env, moto_api,
                                         response_json)

pytestmark = pytest.mark.timeout(120)
LEGACY = "snlp_" + "L" * 43  # the pre-checksum shape: 48 characters


@pytest.fixture
def aws(tiny_registry):
    with moto_api(tiny_registry) as (s3, ddb):
        ddb.put_item(TableName=TABLE, Item=to_item(hash_token(LEGACY), TokenRecord(
            token_id="tok_legacy", owner="old customer", models="*", quota_per_day=100, legacy=True)))
        yield s3, ddb


def handler_for(aws, tmp_path, **env):
    from functions.api.handler import build_runtime, make_handler

    s3, ddb = aws
    return make_handler(build_runtime(lambda_env(tmp_path / "cache", **env), s3_client=s3, dynamodb_client=ddb))


def dynamodb_calls(ddb) -> list[str]:
    calls: list[str] = []
    ddb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    return calls


def classify(handler, token):
    event = http_v2_event("POST", "/v1/classify", body={"texts": ["good"]}, headers={"Authorization": f"Bearer {token}"})
    return handler(event, FakeLambdaContext())


def _with_bad_checksum(token: str) -> str:
    last = "0" if token[-1] != "0" else "1"
    return token[:-1] + last


@pytest.mark.parametrize("token", [
    "garbage", "Bearer", "snlp_", "snlp_has space", "snlp_ünïcode" + "x" * 40, "snlp_" + "x" * 200,
    "snlp_" + "x" * 51,  # the checksummed length, checksum wrong
    "other_" + "x" * 43,
])
def test_malformed_tokens_are_refused_without_any_dynamodb_call(aws, tmp_path, token):
    handler = handler_for(aws, tmp_path)
    calls = dynamodb_calls(aws[1])
    out = classify(handler, token)
    assert out["statusCode"] == 401 and response_json(out)["type"].endswith("/invalid-token")
    assert calls == []


def test_a_real_token_with_one_character_changed_never_reaches_dynamodb(aws, tmp_path):
    token, _ = create_token(aws[1], TABLE, owner="a", models="*", quota_per_day=10)
    handler = handler_for(aws, tmp_path)
    calls = dynamodb_calls(aws[1])
    assert classify(handler, _with_bad_checksum(token))["statusCode"] == 401
    assert calls == []
    assert classify(handler, token)["statusCode"] == 200 and "GetItem" in calls


def test_unknown_well_formed_tokens_are_asked_once_then_cached(aws, tmp_path):
    handler = handler_for(aws, tmp_path)
    stranger = new_token()  # valid checksum, not in the table
    calls = dynamodb_calls(aws[1])
    for _ in range(5):
        assert classify(handler, stranger)["statusCode"] == 401
    assert calls == ["GetItem"]


def test_legacy_tokens_work_until_turned_off_then_cost_nothing(aws, tmp_path):
    assert classify(handler_for(aws, tmp_path), LEGACY)["statusCode"] == 200
    handler = handler_for(aws, tmp_path, SNLP_LEGACY_TOKENS="false")
    calls = dynamodb_calls(aws[1])
    assert classify(handler, LEGACY)["statusCode"] == 401 and calls == []


def test_precheck_rules():
    token = new_token()
    assert len(token) == 56 and precheck(token) and precheck(token, accept_legacy=False)
    assert not precheck(_with_bad_checksum(token))
    assert precheck(LEGACY) and not precheck(LEGACY, accept_legacy=False)


def test_made_up_model_names_are_404_and_their_cache_stays_bounded(aws, tmp_path, monkeypatch):
    from functions.store import artifacts

    monkeypatch.setattr(artifacts, "MAX_NAMES", 8)
    token, _ = create_token(aws[1], TABLE, owner="a", models="*", quota_per_day=1000)
    from functions.api.handler import build_runtime, make_handler

    runtime = build_runtime(lambda_env(tmp_path / "cache"), s3_client=aws[0], dynamodb_client=aws[1])
    handler = make_handler(runtime)
    for i in range(20):
        event = http_v2_event("POST", "/v1/classify", body={"texts": ["good"], "model": f"made-up-{i}"},
                              headers={"Authorization": f"Bearer {token}"})
        assert handler(event, FakeLambdaContext())["statusCode"] == 404
    assert len(runtime.store._aliases) <= 8 and len(runtime.store._numbers) <= 8
    assert classify(handler, token)["statusCode"] == 200  # real models still resolve
