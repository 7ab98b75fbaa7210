"""Helpers for the API functional tests: a fake Lambda context, tables, moto, the environment.

The API Gateway events themselves are built by infra.local.events (re-exported here).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from infra.local.events import (EVENTS, http_v2_event, load_event, response_headers, response_json,  # noqa: F401
                                rest_v1_event)
from infra.local.resources import create_table

BUCKET = "snlp-test-artifacts"
TABLE = "snlp-test-tokens"


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
    create_table(ddb, table)


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
