"""The access log's fields lever (stage access_log_fields): lean lines for successes, full lines for errors."""
from __future__ import annotations

import json
import logging

import pytest

from functions.api import jsonio
from functions.api.app import create_app
from functions.api.telemetry import access_log_record, write_access_log
from functions.settings import Settings, SettingsError
from tests.unit.api.conftest import SETTINGS, auth

FACTS = dict(method="POST", path="/v1/classify", request_id="5f0c1c3e-7b7d-4c63-9d0c-1f1e2b3c4d5e",
             token_id="tok_fac9a31911bdaf38", model="sentiment@ec17273b-int8", texts=1, tokens=20, ms=11.95)


def test_lean_keeps_what_billing_and_debugging_need_in_short_keys():
    lean = access_log_record("lean", 200, **FACTS)
    assert lean == {"rid": FACTS["request_id"], "tok": "fac9a319", "route": "POST /v1/classify", "status": 200,
                    "model": "sentiment@ec17273b-int8", "texts": 1, "tokens": 20, "ms": 11.95}
    full = access_log_record("full", 200, **FACTS)
    assert full["token_id"] == "tok_fac9a31911bdaf38" and full["path"] == "/v1/classify"
    assert len(jsonio.dumps(lean)) < len(jsonio.dumps(full))


def test_errors_always_get_the_full_record():
    assert access_log_record("lean", 401, **FACTS) == access_log_record("full", 401, **FACTS)
    assert access_log_record("lean", 500, **{**FACTS, "token_id": None})["token_id"] is None


def test_a_lean_line_is_one_json_line_on_stdout_and_respects_the_log_level():
    logger = logging.getLogger("snlp.test.lean")
    written: list[str] = []
    logger.setLevel(logging.INFO)
    write_access_log(logger, "lean", 200, write=written.append, **FACTS)
    assert len(written) == 1 and written[0].endswith("\n") and "\n" not in written[0][:-1]
    assert json.loads(written[0])["tok"] == "fac9a319"
    logger.setLevel(logging.WARNING)
    write_access_log(logger, "lean", 200, write=written.append, **FACTS)
    assert len(written) == 1


def test_the_app_writes_lean_successes_and_full_errors(parts, caplog, capsys):
    store, tokens, meter, telemetry = parts
    app = create_app(SETTINGS.with_(access_log_fields="lean"), store, tokens, meter=meter, telemetry=telemetry,
                     logger=logging.getLogger("snlp.test.fields"))
    client = app.test_client()
    with caplog.at_level(logging.INFO, logger="snlp.test.fields"):
        assert client.post("/v1/classify", json={"texts": ["good"]}, headers=auth()).status_code == 200
        assert client.post("/v1/classify", json={"texts": ["x"]}, headers=auth("snlp_nope")).status_code == 401
    full = [r for r in caplog.records if r.getMessage() == "request"]
    assert [(r.status, r.path) for r in full] == [(401, "/v1/classify")]
    lean = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"route"' in line]
    assert [(x["status"], x["route"], x["texts"]) for x in lean] == [(200, "POST /v1/classify", 1)]
    assert "token_id" not in lean[0] and "input" not in lean[0]


def test_the_setting_is_validated():
    assert Settings.from_env({"SNLP_ACCESS_LOG_FIELDS": "lean"}).access_log_fields == "lean"
    with pytest.raises(SettingsError, match="SNLP_ACCESS_LOG_FIELDS"):
        Settings.from_env({"SNLP_ACCESS_LOG_FIELDS": "tiny"})
