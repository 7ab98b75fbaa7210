"""Hostile and random input files: every record read gets exactly one row, in order, and no
exception escapes a record (property-based, with bounded example counts so CI stays fast).

CSV record boundaries are checked differentially against Python's ``csv.reader``, for the
streaming splitter (any read size) and for the chunk planner's byte ranges."""
from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.batch.engine import LineRunner
from functions.batch.planner import _open, plan
from functions.batch.records import Parser, split_records
from functions.nlp.model import InferenceModel, Limits
from tests.support.hostile_files import BOOM, csv_texts, jsonl_files

LIMITS = Limits(max_texts=1, max_chars=2000, truncate=True)
MAX_LINE = 64 * 1024  # the default batch_max_line_bytes: a 20,000-deep line fits
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])


class Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def rows(self) -> list[dict]:
        return [json.loads(line) for line in self.data.decode("utf-8").split("\n") if line]


class FlakyModel:
    """A real tiny model that fails on texts containing BOOM, like a runtime error on one input."""

    BOOM = BOOM  # tests.support.hostile_files puts it in generated files

    def __init__(self, model: InferenceModel) -> None:
        self.inner = model
        self.task, self.manifest, self.encoder = model.task, model.manifest, model.encoder

    def run(self, texts, **kwargs):
        if any(self.BOOM in t for t in texts):
            raise RuntimeError("onnxruntime: bad input")
        return self.inner.run(texts, **kwargs)


@pytest.fixture(scope="module")
def model(tiny_classify_dir):
    return FlakyModel(InferenceModel.from_dir(tiny_classify_dir))


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def _run(model, fmt: str, data: bytes, read_size: int):
    """What a whole-object worker does: layout, records, items, rows. Returns (records, stats, out, err)."""
    layout, records = _open(_chunks(data, read_size), fmt, MAX_LINE)
    records = list(records)
    parser = Parser(fmt, LIMITS, layout.columns)
    out, err = Sink(), Sink()
    stats = LineRunner(model, micro_batch=4).process((parser.parse(r) for r in records), out, err)
    return records, stats, out, err


def _check_accounted(records, stats, out, err, first_line: int) -> None:
    rows, errors = out.rows(), err.rows()
    assert stats.lines_read == len(records) == len(rows)
    assert stats.ok + stats.failed == stats.lines_read
    assert [r["line"] for r in rows] == list(range(first_line, first_line + len(rows)))  # order kept
    assert [e["line"] for e in errors] == [r["line"] for r in rows if "error" in r]
    assert len(errors) == stats.failed


# --- properties ------------------------------------------------------------------------------
@FAST
@given(data=jsonl_files(), read_size=st.integers(1, 64))
def test_every_jsonl_line_gets_one_row_whatever_its_bytes(model, data, read_size):
    records, stats, out, err = _run(model, "jsonl", data, read_size)
    _check_accounted(records, stats, out, err, 1)
    assert len(records) == data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)


@FAST
@given(body=csv_texts(), read_size=st.integers(1, 64))
def test_every_csv_record_gets_one_row_whatever_its_bytes(model, body, read_size):
    data = ("id,text\r\n" + body).encode("utf-8")
    records, stats, out, err = _run(model, "csv", data, read_size)
    _check_accounted(records, stats, out, err, 1)
    assert len(records) == len(list(csv.reader(io.StringIO(body, newline=""))))


@FAST
@given(body=csv_texts(60), read_size=st.integers(1, 17))
def test_csv_records_are_the_rows_python_csv_reads(body, read_size):
    """Differential: the splitter's records, each read alone, are csv.reader's rows of the file."""
    records = list(split_records(_chunks(body.encode("utf-8"), read_size), quote_aware=True, max_bytes=10**6))
    assert [next(csv.reader([r.data.decode("utf-8")]), []) for r in records] == \
        list(csv.reader(io.StringIO(body, newline="")))
    assert records[-1].end == len(body.encode("utf-8")) if records else body == ""


@FAST
@given(body=csv_texts(80), chunk_bytes=st.integers(1, 40))
def test_planner_chunks_cut_csv_where_python_csv_ends_a_row(body, chunk_bytes):
    data = ("text,id\n" + body).encode("utf-8")
    layout, chunks = plan(_chunks(data, 7), "csv", chunk_bytes=chunk_bytes, max_line_bytes=10**6)
    rows = []
    for c in chunks:
        part = list(split_records([data[c.start:c.end]], quote_aware=True, max_bytes=10**6,
                                  first_number=c.first_line, offset=c.start))
        assert len(part) == c.lines and all(r.end <= c.end for r in part)
        rows += [next(csv.reader([r.data.decode("utf-8")]), []) for r in part]
    assert rows == list(csv.reader(io.StringIO(body, newline="")))


# --- the hostile files ---------------------------------------------------------------
def test_one_deeply_nested_line_costs_one_row_not_the_file(model):
    data = b'{"text": "good"}\n' + b"[" * 20_000 + b'\n{"text": "bad"}\n'
    records, stats, out, err = _run(model, "jsonl", data, 1 << 20)
    assert stats.counts() == {"lines_read": 3, "ok": 2, "failed": 1}
    assert out.rows()[1]["error"]["code"] == "invalid-json"


def test_a_stray_quote_inside_an_unquoted_field_is_a_character(model):
    data = b'id,text\n1,my 12" pizza was great\n2,good\n3,"quoted, with comma"\n'
    records, stats, out, err = _run(model, "csv", data, 5)
    assert stats.counts() == {"lines_read": 3, "ok": 3, "failed": 0}
    assert [r["id"] for r in out.rows()] == ["1", "2", "3"]


def test_a_model_failure_on_one_text_is_that_lines_error_row(model):
    lines = [json.dumps({"text": t}).encode() for t in ("good", FlakyModel.BOOM, "bad", "fine")]
    records, stats, out, err = _run(model, "jsonl", b"\n".join(lines), 64)
    assert stats.counts() == {"lines_read": 4, "ok": 3, "failed": 1}
    assert err.rows() == [{"line": 2, "code": "inference-failed",
                           "reason": "the model could not process this text (RuntimeError)"}]
    assert all(r["tokens"] > 0 for r in out.rows() if "error" not in r)
