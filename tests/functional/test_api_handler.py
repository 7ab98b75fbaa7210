"""The real Lambda handler on moto (S3 artifacts, DynamoDB tokens) with real v1 / v2 events."""
from __future__ import annotations

import importlib
import json

import pytest

from functions.auth.admin import create_token
from tests.functional.api_events import (BUCKET, TABLE, FakeLambdaContext, http_v2_event, lambda_env, moto_api,
                                         response_headers, response_json, rest_v1_event)
from tests.support.s3 import artifact_key, tamper_object
from infra.local.tiny_artifact import reference_outputs

pytestmark = pytest.mark.timeout(120)
EVENTS = {"v2": http_v2_event, "v1": rest_v1_event}


@pytest.fixture
def aws(tiny_registry):
    with moto_api(tiny_registry) as (s3, ddb):
        token, _ = create_token(ddb, TABLE, owner="tests", models="*", quota_per_day=1000)
        yield s3, ddb, token


def runtime_for(aws, tmp_path, **env):
    from functions.api.handler import build_runtime, make_handler

    s3, ddb, _ = aws
    runtime = build_runtime(lambda_env(tmp_path / "cache", **env), s3_client=s3, dynamodb_client=ddb)
    return runtime, make_handler(runtime)


@pytest.fixture
def handler(aws, tmp_path):
    return runtime_for(aws, tmp_path)[1]


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("kind", ["v2", "v1"])
def test_health_and_classify_through_the_handler(aws, handler, kind):
    make = EVENTS[kind]
    out = handler(make("GET", "/health"), FakeLambdaContext())
    assert out["statusCode"] == 200 and response_json(out) == {"status": "ok"}
    texts = ["good movie", "awful day"]
    out = handler(make("POST", "/v1/classify", body={"texts": texts}, headers=bearer(aws[2])), FakeLambdaContext())
    assert out["statusCode"] == 200, out
    body = response_json(out)
    ref = reference_outputs("classify", texts)
    for pred, row in zip(body["predictions"], ref):
        assert abs(pred["scores"]["positive"] - row[2]) < 1e-5
    if kind == "v1":
        assert "multiValueHeaders" in out  # REST answers in the shape it was asked in


@pytest.mark.parametrize("kind", ["v2", "v1"])
def test_errors_are_problem_json_as_text_not_base64(aws, handler, kind):
    out = EVENTS[kind]("POST", "/v1/classify", body="{broken", headers=bearer(aws[2]))
    out = handler(out, FakeLambdaContext())
    assert out["statusCode"] == 400 and out["isBase64Encoded"] is False
    assert response_headers(out)["content-type"] == "application/problem+json"
    assert response_json(out)["type"].endswith("/malformed-json")


def test_binary_body_and_embeddings_over_v2(aws, handler):
    event = http_v2_event("POST", "/v1/embeddings", body=json.dumps({"input": "good", "model": "tiny-embed"}).encode(),
                          headers=bearer(aws[2]))
    assert event["isBase64Encoded"]
    out = handler(event, FakeLambdaContext())
    assert out["statusCode"] == 200
    assert len(response_json(out)["data"][0]["embedding"]) == 8


def test_named_http_api_stage_is_stripped(aws, handler):
    event = http_v2_event("GET", "/prod/health")
    event["requestContext"]["stage"] = "prod"
    assert handler(event, FakeLambdaContext())["statusCode"] == 200


def test_correlation_id_comes_from_the_request_and_logs_hold_no_secrets(aws, tmp_path):
    import io
    import logging
    import uuid

    from aws_lambda_powertools.logging import Logger

    from functions.api.handler import build_runtime, make_handler

    buf = io.StringIO()
    logger = Logger(service=f"api-test-{uuid.uuid4().hex}", logger_handler=logging.StreamHandler(buf))
    runtime = build_runtime(lambda_env(tmp_path / "cache"), s3_client=aws[0], dynamodb_client=aws[1], logger=logger)
    handler = make_handler(runtime)
    headers = {**bearer(aws[2]), "x-correlation-id": "corr-123"}
    out = handler(http_v2_event("POST", "/v1/classify", body={"texts": ["a private sentence"]}, headers=headers),
                  FakeLambdaContext())
    assert response_headers(out)["x-request-id"] == "corr-123"
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert any(line.get("correlation_id") == "corr-123" and line.get("message") == "request" for line in lines)
    assert aws[2] not in buf.getvalue() and "private sentence" not in buf.getvalue()
    # without a header, API Gateway's request id is the correlation id
    handler(http_v2_event("GET", "/v1/models", headers=bearer(aws[2])), FakeLambdaContext())
    last = json.loads(buf.getvalue().splitlines()[-1])
    assert last["correlation_id"] == "id" and last["status"] == 200


def _values(value):
    return value if isinstance(value, list) else [value]


def emf_blobs(text):
    blobs = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blobs.append(json.loads(line))
    return blobs


def test_metrics_emf_with_model_dimension_and_errors_by_type(aws, tmp_path, capsys):
    from aws_lambda_powertools.metrics.provider import cold_start

    cold_start.is_cold_start = True
    runtime, handler = runtime_for(aws, tmp_path)
    handler(http_v2_event("POST", "/v1/classify", body={"texts": ["good", "bad"]}, headers=bearer(aws[2])),
            FakeLambdaContext())
    blobs = emf_blobs(capsys.readouterr().out)
    names = {m["Name"] for b in blobs for d in b["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"ColdStart", "ModelLoadMs", "InferenceMs", "Texts", "Tokens"} <= names
    assert all(b["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ServerlessNLP" for b in blobs)
    per_model = [b for b in blobs if b.get("model") == "tiny-sentiment" and "Texts" in b]
    assert per_model and per_model[0]["service"] == "api" and _values(per_model[0]["Texts"]) == [2.0]
    handler(http_v2_event("POST", "/v1/classify", body={"texts": []}, headers=bearer(aws[2])), FakeLambdaContext())
    blobs = emf_blobs(capsys.readouterr().out)
    assert any(b.get("error_type") == "empty-input" and _values(b.get("Errors")) == [1.0] for b in blobs)
    assert not any("ColdStart" in b for b in blobs)  # only the first invocation


def test_tampered_artifact_is_refused_with_503_and_counted(aws, tmp_path, capsys):
    s3 = aws[0]
    tamper_object(s3, BUCKET, artifact_key("tiny-sentiment", "1-fp32", "model.onnx"))
    runtime, handler = runtime_for(aws, tmp_path)  # the preload meets the tampered file
    assert runtime.preloaded["tiny-sentiment"]
    out = handler(http_v2_event("POST", "/v1/classify", body={"texts": ["good"]}, headers=bearer(aws[2])),
                  FakeLambdaContext())
    assert out["statusCode"] == 503 and response_headers(out)["retry-after"]
    body = response_json(out)
    assert body["type"].endswith("/artifact-integrity") and "sha256" not in body["detail"]
    blobs = emf_blobs(capsys.readouterr().out)
    assert any(b.get("ArtifactIntegrityFailures") for b in blobs)
    # the other model is untouched and still served
    out = handler(http_v2_event("POST", "/v1/embed", body={"texts": ["good"]}, headers=bearer(aws[2])),
                  FakeLambdaContext())
    assert out["statusCode"] == 200


def test_tampered_new_version_keeps_the_previous_one_serving(aws, tmp_path):
    from tests.support.s3 import put_aliases

    s3 = aws[0]
    runtime, handler = runtime_for(aws, tmp_path, SNLP_ALIAS_TTL_S="0")
    tamper_object(s3, BUCKET, artifact_key("tiny-sentiment", "2-fp32", "tokenizer.json"))
    put_aliases(s3, BUCKET, "tiny-sentiment", {"prod": "2-fp32"})
    out = handler(http_v2_event("POST", "/v1/classify", body={"texts": ["good"]}, headers=bearer(aws[2])),
                  FakeLambdaContext())
    assert out["statusCode"] == 200 and response_json(out)["model"] == "tiny-sentiment@1-fp32"


def test_module_level_cold_start_path(aws, tmp_path, monkeypatch):
    for key, value in lambda_env(tmp_path / "cold").items():
        monkeypatch.setenv(key, value)
    import functions.api.handler as module

    module = importlib.reload(module)  # cold start: settings, clients (moto), store, preload
    assert module.RUNTIME.preloaded == {"tiny-sentiment": None}
    out = module.handler(rest_v1_event("POST", "/v1/similarity", body={"source": "good", "targets": ["bad"]},
                                       headers={"x-api-key": aws[2]}), FakeLambdaContext())
    assert out["statusCode"] == 200 and len(response_json(out)["scores"]) == 1


def test_tracing_is_loaded_only_when_enabled():
    from functions.settings import tracing_enabled

    assert not tracing_enabled({"AWS_LAMBDA_FUNCTION_NAME": "f", "POWERTOOLS_TRACE_DISABLED": "true"})
    assert not tracing_enabled({})  # outside Lambda
    assert tracing_enabled({"AWS_LAMBDA_FUNCTION_NAME": "f"})


def test_cold_start_import_creates_no_tracer_when_tracing_is_off(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_LAMBDA_FUNCTION_NAME": "f",
           "SNLP_MODEL_CACHE_DIR": str(tmp_path / "cache"), "AWS_DEFAULT_REGION": "us-east-1"}
    code = ("import sys, functions.api.handler as h; "
            "print('aws_xray_sdk' in sys.modules, 'aws_xray_sdk.core' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False"]


def test_handler_with_tracing_on_still_answers(aws, tmp_path, monkeypatch):
    from functions.api.handler import make_handler

    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon here: the SDK stays quiet
    runtime, _ = runtime_for(aws, tmp_path)
    traced = make_handler(runtime, tracing=True)
    out = traced(http_v2_event("POST", "/v1/classify", body={"texts": ["good"]}, headers=bearer(aws[2])),
                 FakeLambdaContext())
    assert out["statusCode"] == 200
