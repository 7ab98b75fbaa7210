"""The quota interface other paths (batch jobs) use: reserve texts, settle what ran, refund the rest.
Same USAGE# rows as the API meter, conditional writes, on moto."""
from __future__ import annotations

import boto3
import pytest

from functions.auth.errors import QuotaExceededError, TokenStoreUnavailableError
from functions.auth.usage import add_usage, read_usage, reserve, settle, utc_day
from tests.functional.api_events import TABLE
from tests.functional.test_tokens import ddb  # noqa: F401 - a moto tokens table

pytestmark = pytest.mark.timeout(60)
NOON = 1_795_000_000 - (1_795_000_000 % 86400) + 43200  # a UTC noon
DAY = utc_day(NOON)


def test_reserve_all_or_nothing_then_settle_gives_back_the_unused(ddb):
    ticket = reserve(ddb, TABLE, "tok_a", 100, 60, now=NOON)
    assert (ticket.token_id, ticket.day, ticket.texts) == ("tok_a", DAY, 60)
    with pytest.raises(QuotaExceededError) as err:
        reserve(ddb, TABLE, "tok_a", 100, 41, now=NOON)
    assert err.value.retry_after == 43200 and err.value.code == "quota-exceeded"
    totals = settle(ddb, TABLE, ticket, texts=45, tokens=900, requests=1, now=NOON)
    assert totals == {"requests": 1, "texts": 45, "tokens": 900}
    assert reserve(ddb, TABLE, "tok_a", 100, 55, now=NOON).texts == 55  # the 15 given back are usable
    assert read_usage(ddb, TABLE, "tok_a", DAY)["texts"] == 100


def test_partial_reservation_grants_what_is_left_and_stops_at_the_boundary(ddb):
    add_usage(ddb, TABLE, "tok_b", DAY, requests=3, texts=90, tokens=10, now=NOON)
    ticket = reserve(ddb, TABLE, "tok_b", 100, 25, partial=True, now=NOON)
    assert ticket.texts == 10
    with pytest.raises(QuotaExceededError):
        reserve(ddb, TABLE, "tok_b", 100, 1, partial=True, now=NOON)
    settle(ddb, TABLE, ticket, texts=0, requests=0, now=NOON)  # nothing ran: a full refund
    assert read_usage(ddb, TABLE, "tok_b", DAY) == {"requests": 3, "texts": 90, "tokens": 10}


def test_settle_refuses_more_texts_than_reserved(ddb):
    ticket = reserve(ddb, TABLE, "tok_c", 10, 5, now=NOON)
    with pytest.raises(ValueError):
        settle(ddb, TABLE, ticket, texts=6, now=NOON)


def test_unlimited_quota_still_counts(ddb):
    ticket = reserve(ddb, TABLE, "tok_d", None, 7, now=NOON)
    assert ticket.texts == 7 and read_usage(ddb, TABLE, "tok_d", DAY)["texts"] == 7


def test_dynamodb_down_is_a_503_not_a_free_pass():
    from botocore.config import Config

    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                          aws_access_key_id="x", aws_secret_access_key="x",
                          config=Config(retries={"max_attempts": 1}, connect_timeout=1))
    with pytest.raises(TokenStoreUnavailableError):
        reserve(client, TABLE, "tok_e", 100, 5, now=NOON)
