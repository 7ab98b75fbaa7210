"""Shared pieces of the fault and hostile-input tests: the REAL app wired to real stores.

``build_app`` wires ``functions.api.app.create_app`` to an ``ArtifactStore`` and a
``TokenStore`` on boto3 clients the test passes in (moto in-process or a moto_server), with a
clock the test controls. Nothing here fakes the API. The fixtures at the end (two moto servers
that tests stop and start, provisioned with tiny models under the default names and a token)
are imported by the fault test modules.
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

from functions.auth.tokens import TokenRecord, hash_token, to_item
from functions.settings import Settings
from infra.local.resources import create_table
from infra.local.moto import FAKE_AWS, MotoServer
from tests.support.s3 import upload_registry
from tests.support.tiny_defaults import write_default_registry

BUCKET = "snlp-test-artifacts"
TOKENS_TABLE = "snlp-test-tokens"
TOKEN = "snlp_" + "reliability-secret-token-abcdefghijklmnopqrstu"
PROBLEM_JSON = "application/problem+json"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def create_tokens_table(ddb: Any, table: str = TOKENS_TABLE) -> None:
    create_table(ddb, table)


def put_token(ddb: Any, token: str = TOKEN, table: str = TOKENS_TABLE, *, models: Any = "*") -> TokenRecord:
    record = TokenRecord(token_id="tok_reliability01", owner="tests", models=models, quota_per_day=1_000_000,
                         created_at="2026-01-01T00:00:00Z")
    ddb.put_item(TableName=table, Item=to_item(hash_token(token), record))
    return record


def settings_for(cache_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(artifacts_bucket=BUCKET, tokens_table=TOKENS_TABLE, model_cache_dir=str(cache_dir),
                                  alias_ttl_s=60.0)
    values.update(overrides)
    return Settings(**values)


def build_app(settings: Settings, s3: Any, ddb: Any, *, clock: Clock | None = None,
              logger: logging.Logger | None = None, meter: bool = False) -> Any:
    """The real app on a real ArtifactStore + TokenStore (+ UsageMeter when ``meter``)."""
    from functions.api.app import create_app
    from functions.auth.tokens import TokenStore
    from functions.store.artifacts import ArtifactStore

    from functions.api.telemetry import Telemetry

    clock = clock or Clock()
    telemetry = Telemetry()
    store = ArtifactStore.from_settings(settings, s3, clock=clock, on_event=telemetry.store_event)
    tokens = TokenStore(ddb, settings.tokens_table, cache_ttl_s=settings.token_cache_ttl_s, clock=clock)
    usage = None
    if meter:
        from functions.auth.usage import UsageMeter

        usage = UsageMeter(ddb, settings.tokens_table)
    return create_app(settings, store, tokens, meter=usage, logger=logger, telemetry=telemetry)


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(resp: Any, status: int, code: str | None = None) -> dict:
    """The response is RFC 9457 problem+json with this status (and type slug)."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:500])
    assert resp.mimetype == PROBLEM_JSON, resp.mimetype
    body = json.loads(resp.get_data())
    assert body["status"] == status
    assert body["type"].startswith("https://") and body["title"] and isinstance(body["detail"], str)
    if code is not None:
        assert body["type"].rsplit("/", 1)[-1] == code, body
    return body


# --- fixtures shared by the fault tests (import them into the test module) -------------------
CLASSIFY = {"model": "sentiment", "texts": ["good movie", "awful day"]}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return write_default_registry(tmp_path_factory.mktemp("reg"), versions=("1-fp32", "2-fp32"))


@pytest.fixture(scope="module")
def s3_server():
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="module")
def ddb_server():
    with MotoServer() as server:
        yield server


@pytest.fixture
def env(s3_server, ddb_server, registry, tmp_path):
    """Both servers up and provisioned (a killed server comes back empty: provision again)."""
    for server in (s3_server, ddb_server):
        if server.proc is None:
            server.start()
    s3, ddb = s3_server.client("s3"), ddb_server.client("dynamodb")
    provision(s3, ddb, registry)
    yield s3, ddb
    for server in (s3_server, ddb_server):
        if server.proc is None:
            server.start()


@contextlib.contextmanager
def in_process_moto() -> Iterator[tuple[Any, Any]]:
    """In-process moto with the fake credentials in the environment: (s3, ddb) clients."""
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        for var, value in FAKE_AWS.items():
            mp.setenv(var, value)
        yield boto3.client("s3", region_name="us-east-1"), boto3.client("dynamodb", region_name="us-east-1")


def provision(s3, ddb, registry) -> None:
    upload_registry(s3, BUCKET, registry)
    if TOKENS_TABLE not in ddb.list_tables()["TableNames"]:
        create_tokens_table(ddb)
    put_token(ddb)


def retry_after(resp) -> int:
    value = resp.headers.get("Retry-After", "")
    assert re.fullmatch(r"\d+", value), f"Retry-After must be a number of seconds, got {value!r}"
    return int(value)


__all__ = ["registry", "s3_server", "ddb_server", "env", "in_process_moto", "provision", "retry_after", "CLASSIFY",
           "BUCKET", "TOKENS_TABLE", "TOKEN", "Clock", "create_tokens_table", "put_token", "settings_for",
           "build_app", "auth", "assert_problem", "PROBLEM_JSON"]
