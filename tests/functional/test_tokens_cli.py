"""`snlp tokens create|list|revoke` against a moto DynamoDB table."""
from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from functions.auth.tokens import TokenStore
from infra.cli import main
from tests.functional.api_events import TABLE, create_tokens_table


@pytest.fixture
def ddb(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("SNLP_TOKENS_TABLE", TABLE)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tokens_table(client)
        yield client


def test_create_list_revoke(ddb, capsys):
    assert main(["tokens", "create", "--owner", "acme", "--models", "sentiment,minilm-embed",
                 "--quota-per-day", "500"]) == 0
    out = capsys.readouterr()
    token = out.out.strip()
    assert token.startswith("snlp_") and "shown once" in out.err
    assert main(["tokens", "list", "--json"]) == 0
    [listed] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert listed["owner"] == "acme" and listed["models"] == ["sentiment", "minilm-embed"]
    assert token not in json.dumps(listed)
    assert TokenStore(ddb, TABLE).authenticate(token).token_id == listed["token_id"]
    assert main(["tokens", "revoke", listed["token_id"], "--table", TABLE]) == 0
    assert main(["tokens", "list"]) == 0
    assert "yes" in capsys.readouterr().out.splitlines()[-1]


def test_clear_errors_without_tracebacks(ddb, capsys, monkeypatch):
    assert main(["tokens", "revoke", "tok_nope"]) == 2
    assert "no token with id tok_nope" in capsys.readouterr().err
    assert main(["tokens", "create", "--owner", "x", "--models", "*", "--quota-per-day", "0"]) == 2
    monkeypatch.delenv("SNLP_TOKENS_TABLE")
    assert main(["tokens", "list"]) == 2
    assert "SNLP_TOKENS_TABLE" in capsys.readouterr().err


def test_help_everywhere(capsys):
    for argv in (["tokens", "--help"], ["tokens", "create", "--help"], ["tokens", "revoke", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
    assert "--quota-per-day" in capsys.readouterr().out
