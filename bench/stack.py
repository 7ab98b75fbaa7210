"""An in-process stand-in for the deployed API: moto S3 + DynamoDB, the published default
models, one token, and the real Lambda handler (functions.api.handler) driven by API Gateway
HTTP API (v2) events — the same code path Lambda runs, with moto only in place of AWS."""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from bench.raw import DIST
from functions.store.layout import local_aliases
from infra.local.resources import create_table

BUCKET = "snlp-bench-artifacts"
TABLE = "snlp-bench-tokens"


def publish_dist(s3: Any, bucket: str, names: tuple[str, ...] = ("sentiment", "minilm-embed")) -> None:
    from model_artifacts.publish import publish_defaults

    s3.create_bucket(Bucket=bucket)
    publish_defaults(s3, bucket, DIST, names)


@contextmanager
def handler_stack(threads: int = 1, environ_overrides: dict[str, str] | None = None) -> Iterator[tuple[Callable, str]]:
    """Yield (invoke(method, path, body) -> (status, json), token) on the real handler."""
    from moto import mock_aws

    from functions.api.handler import build_runtime, make_handler
    from functions.auth.admin import create_token
    from infra.local.events import http_v2_event, response_json

    with mock_aws(), tempfile.TemporaryDirectory() as cache:
        import boto3

        session = boto3.session.Session(region_name="us-east-1")
        s3, ddb = session.client("s3"), session.client("dynamodb")
        publish_dist(s3, BUCKET)
        create_table(ddb, TABLE)
        token, _ = create_token(ddb, TABLE, owner="bench", models="*", quota_per_day=10**12)
        environ = {"SNLP_ARTIFACTS_BUCKET": BUCKET, "SNLP_TOKENS_TABLE": TABLE, "SNLP_THREADS": str(threads),
                   "SNLP_MODEL_CACHE_DIR": cache,
                   "SNLP_CACHE_MAX_MODELS": "8", "SNLP_CACHE_MAX_BYTES": str(2 * 1024**3),
                   "SNLP_MAX_TEXTS": "256", "POWERTOOLS_METRICS_NAMESPACE": "ServerlessNLP",
                   "POWERTOOLS_SERVICE_NAME": "api", "POWERTOOLS_LOG_LEVEL": "WARNING",
                   "POWERTOOLS_METRICS_DISABLED": "true", "SNLP_STAGE": "bench",
                   # a bench sends thousands of requests a minute: the per-token rate limits would answer 429
                   "SNLP_RATE_REQUESTS_PER_MINUTE": "0", "SNLP_RATE_TEXTS_PER_MINUTE": "0", **(environ_overrides or {})}
        runtime = build_runtime(environ, s3_client=s3, dynamodb_client=ddb)
        handler = make_handler(runtime)
        context = _Context()
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}

        def invoke(method: str, path: str, body: Any = None) -> tuple[int, Any]:
            response = handler(http_v2_event(method, path, body=body, headers=headers), context)
            return response["statusCode"], response_json(response)

        invoke.handler, invoke.context, invoke.runtime = handler, context, runtime  # bench/overhead.py's lean rows
        yield invoke, token


class _Context:
    function_name = "bench-api"
    memory_limit_in_mb = 1769
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-api"
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def aliases(name: str) -> dict[str, str]:
    found = local_aliases(DIST, name)
    if found is None:
        raise FileNotFoundError(f"model {name} is not built ({DIST / name} has no aliases): run `make models`")
    return found


def quiet_env() -> None:
    """Powertools prints one EMF blob per invocation to stdout: keep the bench output readable."""
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    # importing functions.api.handler runs its cold-start init from os.environ: keep it local
    for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}.items():
        os.environ.setdefault(var, value)
    os.environ.pop("AWS_PROFILE", None)
