"""Tokens and usage on DynamoDB (moto): hashes only, cache, revocation, quota, DynamoDB down."""
from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from functions.auth.admin import AdminError, create_token, list_tokens, revoke_token
from functions.auth.errors import (InvalidTokenError, QuotaExceededError, TokenRevokedError,
                                   TokenStoreUnavailableError)
from functions.auth.tokens import TokenStore, has_checksum, hash_token
from functions.auth.usage import UsageMeter, read_usage, seconds_to_utc_midnight, utc_day
from functions.store.clients import default_dynamodb_client
from tests.functional.api_events import TABLE, create_tokens_table

pytestmark = pytest.mark.timeout(120)
NOON = 1_795_000_000 - (1_795_000_000 % 86400) + 43200  # a UTC noon


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingClient:
    """A real (moto) client that counts the calls made through it."""

    def __init__(self, client) -> None:
        self.client, self.calls = client, []

    def __getattr__(self, name):
        attr = getattr(self.client, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            self.calls.append(name)
            return attr(*args, **kwargs)
        return call


@pytest.fixture
def ddb():
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tokens_table(client)
        yield client


def test_tokens_are_stored_only_as_hashes(ddb):
    token, record = create_token(ddb, TABLE, owner="alice", models="sentiment,minilm-embed", quota_per_day=100)
    assert token.startswith("snlp_") and len(token) == 5 + 43 + 8 and has_checksum(token)
    dump = str(ddb.scan(TableName=TABLE)["Items"])
    assert token not in dump and token[5:] not in dump and hash_token(token) in dump
    [listed] = list_tokens(ddb, TABLE)
    assert listed == record and listed.models == ("sentiment", "minilm-embed") and listed.quota_per_day == 100
    assert "token" not in listed.public() and "hash" not in str(listed.public())


def test_admin_input_is_checked(ddb):
    for kwargs in ({"owner": "", "models": "*", "quota_per_day": 1}, {"owner": "a", "models": "", "quota_per_day": 1},
                   {"owner": "a", "models": "../x", "quota_per_day": 1}, {"owner": "a", "models": "*", "quota_per_day": 0}):
        with pytest.raises(AdminError):
            create_token(ddb, TABLE, **kwargs)
    with pytest.raises(AdminError):
        revoke_token(ddb, TABLE, "tok_missing")


def test_check_is_cached_and_revocation_lands_within_the_ttl(ddb):
    token, record = create_token(ddb, TABLE, owner="bob", models="*", quota_per_day=10)
    clock, counting = Clock(), CountingClient(ddb)
    store = TokenStore(counting, TABLE, cache_ttl_s=60, clock=clock)
    assert store.authenticate(token) == record
    for _ in range(5):
        store.authenticate(token)
    assert counting.calls == ["get_item"]  # warm requests do not read DynamoDB
    revoke_token(ddb, TABLE, record.token_id)
    clock.now += 59
    assert store.authenticate(token).token_id == record.token_id  # documented: within the TTL
    clock.now += 2
    with pytest.raises(TokenRevokedError):
        store.authenticate(token)


def test_wrong_and_garbage_tokens(ddb):
    counting = CountingClient(ddb)
    store = TokenStore(counting, TABLE, clock=Clock())
    for bad in ("snlp_" + "x" * 43, "not-a-token", "snlp_" + "y" * 500, ""):
        with pytest.raises(InvalidTokenError):
            store.authenticate(bad)
    assert counting.calls == ["get_item"]  # only the well-formed one reached DynamoDB


def test_dynamodb_down_never_opens_access():
    unreachable = default_dynamodb_client(endpoint_url="http://127.0.0.1:9", connect_timeout=0.2,
                                          read_timeout=0.2, retries=0)
    store = TokenStore(unreachable, TABLE, clock=Clock())
    with pytest.raises(TokenStoreUnavailableError) as info:
        store.authenticate("snlp_" + "z" * 43)
    assert info.value.retry_after


def test_a_cached_answer_survives_a_dynamodb_outage_for_a_bounded_time(ddb):
    token, _ = create_token(ddb, TABLE, owner="c", models="*", quota_per_day=10)
    clock = Clock()
    store = TokenStore(ddb, TABLE, cache_ttl_s=60, stale_if_error_s=300, clock=clock)
    store.authenticate(token)
    store.client = default_dynamodb_client(endpoint_url="http://127.0.0.1:9", connect_timeout=0.2,
                                           read_timeout=0.2, retries=0)
    clock.now += 200
    assert store.authenticate(token)  # stale but within stale_if_error_s
    clock.now += 200
    with pytest.raises(TokenStoreUnavailableError):
        store.authenticate(token)


def test_usage_is_buffered_then_flushed_with_atomic_adds(ddb):
    token, record = create_token(ddb, TABLE, owner="d", models="*", quota_per_day=10_000)
    counting, clock = CountingClient(ddb), Clock()
    meter = UsageMeter(counting, TABLE, flush_every=5, flush_interval_s=1e9, clock=clock, wall=lambda: NOON)
    for _ in range(4):
        meter.record(meter.admit(record, 3), tokens=20)
    assert counting.calls == ["get_item"]  # the first sight reads the row; buffered: no write per request
    meter.record(meter.admit(record, 3), tokens=20)
    assert counting.calls == ["get_item", "update_item"]
    assert read_usage(ddb, TABLE, record.token_id, utc_day(NOON)) == {"requests": 5, "texts": 15, "tokens": 100}
    ticket = meter.admit(record, 2)
    meter.refund(ticket)
    clock.now += 1e10
    meter.record(meter.admit(record, 1), tokens=7)  # the interval is over: flush
    assert read_usage(ddb, TABLE, record.token_id, utc_day(NOON)) == {"requests": 6, "texts": 16, "tokens": 107}


def test_quota_is_exact_at_the_boundary_across_instances(ddb):
    _, record = create_token(ddb, TABLE, owner="e", models="*", quota_per_day=20)
    wall = lambda: NOON  # noqa: E731
    a = UsageMeter(ddb, TABLE, flush_every=100, flush_interval_s=1e9, wall=wall)
    b = UsageMeter(ddb, TABLE, flush_every=100, flush_interval_s=1e9, wall=wall)
    admitted = 0
    for _ in range(30):
        for meter in (a, b):
            try:
                meter.record(meter.admit(record, 1), tokens=1)
                admitted += 1
            except QuotaExceededError as exc:
                assert exc.retry_after == seconds_to_utc_midnight(NOON) == 43200
    a.flush()
    b.flush()
    usage = read_usage(ddb, TABLE, record.token_id, utc_day(NOON))
    # each instance admits its first 18 (90 %) from memory, unaware of the other: the overshoot
    # is bounded by one buffered window per instance; from the boundary on, admission is exact
    assert usage["texts"] == admitted <= 20 + 18
    with pytest.raises(QuotaExceededError):
        a.admit(record, 1)


def test_quota_single_instance_is_exact_and_usage_down_is_503(ddb):
    _, record = create_token(ddb, TABLE, owner="f", models="*", quota_per_day=10)
    meter = UsageMeter(ddb, TABLE, flush_every=100, flush_interval_s=1e9, wall=lambda: NOON)
    for _ in range(10):
        meter.record(meter.admit(record, 1), tokens=1)
    with pytest.raises(QuotaExceededError):
        meter.admit(record, 1)
    meter.client = default_dynamodb_client(endpoint_url="http://127.0.0.1:9", connect_timeout=0.2,
                                           read_timeout=0.2, retries=0)
    with pytest.raises(TokenStoreUnavailableError):
        meter.admit(record, 1)  # near the boundary the table must answer: never open


def test_usage_lands_on_the_utc_day_it_happened(ddb):
    _, record = create_token(ddb, TABLE, owner="g", models="*", quota_per_day=5)
    now = {"wall": NOON + 43199}  # 23:59:59 UTC
    meter = UsageMeter(ddb, TABLE, flush_every=100, flush_interval_s=1e9, wall=lambda: now["wall"])
    for _ in range(5):
        meter.record(meter.admit(record, 1), tokens=2)
    with pytest.raises(QuotaExceededError) as info:
        meter.admit(record, 1)
    assert info.value.retry_after == 1
    now["wall"] += 2  # past midnight: a fresh quota
    meter.record(meter.admit(record, 1), tokens=2)
    meter.flush()
    assert read_usage(ddb, TABLE, record.token_id, utc_day(NOON))["texts"] == 5
    assert read_usage(ddb, TABLE, record.token_id, utc_day(NOON + 86400)) == {"requests": 1, "texts": 1, "tokens": 2}
