"""Helpers for the API functional tests: real API Gateway events, a fake Lambda context, tables.

Events start from the samples in tests/events/ (as AWS sends them) and only get the method,
path, headers and body replaced.
"""
from __future__ import annotations

import base64
import contextlib
import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

EVENTS = Path(__file__).resolve().parent.parent / "events"
BUCKET = "snlp-test-artifacts"
TABLE = "snlp-test-tokens"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def http_v2_event(method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None,
                  query: str = "") -> dict[str, Any]:
    event = copy.deepcopy(load_event("apigw_http_v2.json"))
    event["rawPath"] = path
    event["rawQueryString"] = query
    event["queryStringParameters"] = None
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["headers"] = {k.lower(): v for k, v in (headers or {}).items()}  # HTTP APIs lowercase header names
    _set_body(event, body)
    return event


def rest_v1_event(method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    event = copy.deepcopy(load_event("apigw_rest_v1.json"))
    event["path"] = event["resource"] = path
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["requestContext"]["path"] = event["requestContext"]["resourcePath"] = path
    event["headers"] = dict(headers or {})
    event["multiValueHeaders"] = {k: [v] for k, v in (headers or {}).items()}
    event["queryStringParameters"] = event["multiValueQueryStringParameters"] = None
    _set_body(event, body)
    return event


def _set_body(event: dict[str, Any], body: Any) -> None:
    if body is None:
        event["body"] = None
        event["isBase64Encoded"] = False
        return
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    if isinstance(raw, bytes):
        event["body"] = base64.b64encode(raw).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = raw
        event["isBase64Encoded"] = False
    key = "content-type" if event.get("version") == "2.0" else "Content-Type"
    event["headers"].setdefault(key, "application/json")
    if "multiValueHeaders" in event:
        event["multiValueHeaders"].setdefault(key, [event["headers"][key]])


def response_json(response: dict[str, Any]) -> Any:
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body)


def response_headers(response: dict[str, Any]) -> dict[str, str]:
    if "multiValueHeaders" in response:
        return {k.lower(): v[0] for k, v in response["multiValueHeaders"].items()}
    return {k.lower(): v for k, v in response.get("headers", {}).items()}


@dataclass
class FakeLambdaContext:
    function_name: str = "serverless-nlp-test-api"
    memory_limit_in_mb: int = 2048
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:serverless-nlp-test-api"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/serverless-nlp-test-api"
    log_stream_name: str = "2026/11/27/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def create_tokens_table(ddb: Any, table: str = TABLE) -> None:
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}])


@contextlib.contextmanager
def moto_api(registry: Path) -> Iterator[tuple[Any, Any]]:
    """In-process moto with ``registry`` published to BUCKET and an empty tokens TABLE: (s3, ddb)."""
    import boto3
    from moto import mock_aws

    from tests.support.s3 import upload_registry

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        upload_registry(s3, BUCKET, registry)
        create_tokens_table(ddb)
        yield s3, ddb


def lambda_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {"SNLP_ARTIFACTS_BUCKET": BUCKET, "SNLP_TOKENS_TABLE": TABLE, "SNLP_MODEL_CACHE_DIR": str(cache_dir),
           "SNLP_DEFAULT_CLASSIFY_MODEL": "tiny-sentiment", "SNLP_DEFAULT_EMBED_MODEL": "tiny-embed",
           "SNLP_PRELOAD_MODELS": "tiny-sentiment", "AWS_LAMBDA_FUNCTION_NAME": "serverless-nlp-test-api",
           "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_SERVICE_NAME": "api"}
    env.update(extra)
    return env
