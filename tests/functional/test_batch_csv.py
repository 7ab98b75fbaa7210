"""CSV (and BOM) edge cases through the whole pipeline."""
from __future__ import annotations

import time

import numpy as np
import pytest
from moto import mock_aws

from tests.functional.batch_stack import make_stack
from infra.local.tiny_artifact import reference_outputs


@pytest.fixture
def stack(tiny_registry, tmp_path):
    with mock_aws():
        yield make_stack(tiny_registry, tmp_path / "cache", clock=time.time)


def test_bom_quoted_commas_and_newlines_and_ids(stack):
    body = ('\ufeffid,text,extra\r\n'
            '1,"good, really good",x\r\n'
            '"two","bad\nawful day","multi\r\nline"\r\n'
            '3,"she said ""great"" food",\r\n'
            '4,,\r\n'
            '5\r\n'
            '6,sad movie')  # no final newline
    stack.upload("incoming/edge.csv", body.encode("utf-8"))
    stack.drain()
    summary = stack.summary("edge")
    assert summary["status"] == "done"
    assert summary["counts"] == {"lines_read": 6, "ok": 4, "failed": 2}
    rows = stack.jsonl("results/edge.jsonl")
    assert [(r["line"], r["id"]) for r in rows] == [(1, "1"), (2, "two"), (3, "3"), (4, "4"), (5, "5"), (6, "6")]
    errors = stack.jsonl("results/edge.errors.jsonl")
    assert [(e["line"], e["id"], e["code"]) for e in errors] == [(4, "4", "empty-input"), (5, "5", "missing-text")]
    texts = ["good, really good", "bad\nawful day", 'she said "great" food', "sad movie"]
    good = [r for r in rows if "error" not in r]
    np.testing.assert_allclose([[r["scores"][k] for k in ("negative", "neutral", "positive")] for r in good],
                               reference_outputs("classify", texts), atol=1e-5)


def test_csv_without_a_text_column_fails_with_a_reason(stack):
    stack.upload("incoming/notext.csv", "id,body\n1,hello\n")
    stack.drain()
    summary = stack.summary("notext")
    assert summary["status"] == "failed" and "'text' column" in summary["reason"]
    assert summary["counts"] == {"lines_read": 0, "ok": 0, "failed": 0}


def test_header_only_csv_and_empty_jsonl_are_done_with_zero_lines(stack):
    stack.upload("incoming/header.csv", "text\n")
    stack.upload("incoming/empty.jsonl", "")
    stack.drain()
    for job in ("header", "empty"):
        summary = stack.summary(job)
        assert summary["status"] == "done" and summary["counts"]["lines_read"] == 0
        assert stack.read(f"results/{job}.jsonl") == b""


def test_jsonl_with_bom_crlf_and_invalid_utf8(stack):
    body = b'\xef\xbb\xbf{"text": "good"}\r\n{"text": "caf\xe9"}\r\n{"text": "fine"}'
    stack.upload("incoming/bom.jsonl", body)
    stack.drain()
    rows = stack.jsonl("results/bom.jsonl")
    assert [r.get("error", {}).get("code") for r in rows] == [None, "invalid-encoding", None]
