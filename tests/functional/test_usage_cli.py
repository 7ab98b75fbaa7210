"""`snlp usage` against a moto tokens table: per-token requests, texts, tokens and the price at the
configured rate per 1,000 texts, for a month, one owner, as a table or CSV; tokens create with
their own rate limits; tokens list marks legacy tokens."""
from __future__ import annotations

import csv
import io
import json

from functions.auth.admin import create_token
from functions.auth.tokens import TokenRecord, hash_token, to_item
from functions.auth.usage import add_usage
from infra.cli import main
from infra.cli_usage import amount
from infra.config import load_config
from tests.functional.api_events import TABLE
from tests.functional.test_tokens_cli import ddb  # noqa: F401 - the CLI's moto table


def seed(ddb):
    _, acme = create_token(ddb, TABLE, owner="acme", models="*", quota_per_day=10_000)
    _, beta = create_token(ddb, TABLE, owner="beta", models="*", quota_per_day=10_000)
    add_usage(ddb, TABLE, acme.token_id, "2026-11-03", requests=10, texts=1500, tokens=30_000)
    add_usage(ddb, TABLE, acme.token_id, "2026-11-30", requests=2, texts=5, tokens=90)
    add_usage(ddb, TABLE, acme.token_id, "2026-12-01", requests=7, texts=7000, tokens=1)  # another month
    add_usage(ddb, TABLE, beta.token_id, "2026-11-15", requests=1, texts=1, tokens=12)
    return acme, beta


def test_usage_csv_prices_each_token_for_the_month(ddb, capsys):
    acme, beta = seed(ddb)
    assert main(["usage", "--month", "2026-11", "--csv", "--price-per-1000", "0.40"]) == 0
    rows = sorted(csv.DictReader(io.StringIO(capsys.readouterr().out)), key=lambda r: r["owner"])
    assert rows == [  # tokens made in the same second list in token id order: sort by owner
        {"month": "2026-11", "token_id": acme.token_id, "owner": "acme", "requests": "12", "texts": "1505",
         "tokens": "30090", "price_usd": "0.60"},
        {"month": "2026-11", "token_id": beta.token_id, "owner": "beta", "requests": "1", "texts": "1",
         "tokens": "12", "price_usd": "0.00"},
    ]


def test_usage_table_for_one_owner_at_the_stage_price(ddb, capsys):
    acme, _ = seed(ddb)
    assert main(["usage", "--month", "2026-12", "--owner", "acme", "--stage", "prod"]) == 0
    out = capsys.readouterr().out
    price = load_config().stage("prod").price_per_1000_texts
    assert f"${price}" in out and acme.token_id in out and "beta" not in out
    assert out.splitlines()[-1].split()[1:] == ["7", "7000", "1", str(amount(7000, _dec(price)))]


def test_usage_refuses_a_bad_month(ddb, capsys):
    assert main(["usage", "--month", "2026-13"]) == 2
    assert "YYYY-MM" in capsys.readouterr().err


def test_amounts_round_half_up_to_the_cent():
    assert str(amount(1, _dec(0.5))) == "0.00" and str(amount(10, _dec(0.5))) == "0.01"
    assert str(amount(1_000_000, _dec(0.5))) == "500.00"


def test_tokens_with_their_own_rate_limits_and_legacy_marked(ddb, capsys):
    ddb.put_item(TableName=TABLE, Item={k: v for k, v in to_item(hash_token("snlp_" + "o" * 43), TokenRecord(
        token_id="tok_old", owner="old", models="*", quota_per_day=5)).items() if k != "checksum"})
    assert main(["tokens", "create", "--owner", "fast", "--models", "*", "--quota-per-day", "9",
                 "--requests-per-minute", "30", "--texts-per-minute", "0", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["requests_per_minute"] == 30 and created["texts_per_minute"] == 0
    assert len(created["token"]) == 56 and created["legacy"] is False
    assert main(["tokens", "list"]) == 0
    out = capsys.readouterr()
    lines = {line.split()[0]: line for line in out.out.splitlines()[1:]}
    assert "legacy" in lines["tok_old"] and "legacy" not in lines[created["token_id"]]
    assert "legacy_tokens: false" in out.err


def _dec(value):
    from decimal import Decimal

    return Decimal(str(value))
