"""Splitting byte streams into records and parsing them: pure, no AWS."""
from __future__ import annotations

import csv
import io

import pytest

from functions.batch.records import CsvColumns, FormatError, Item, Parser, split_records
from functions.nlp.model import Limits


def _split(data: bytes, size: int, **kw):
    chunks = [data[i:i + size] for i in range(0, len(data), size)]
    return list(split_records(chunks, max_bytes=kw.pop("max_bytes", 1000), **kw))


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64, 4096])
def test_jsonl_lines_are_the_same_whatever_the_chunking(size):
    data = b'{"text": "a"}\n\n{"text": "b"}\r\n{"text": "c"}'
    records = _split(data, size, quote_aware=False)
    assert [r.data for r in records] == [b'{"text": "a"}', b"", b'{"text": "b"}', b'{"text": "c"}']
    assert [r.number for r in records] == [1, 2, 3, 4]
    assert [r.end for r in records] == [14, 15, 30, len(data)]


@pytest.mark.parametrize("size", [1, 3, 11, 4096])
def test_csv_records_span_quoted_newlines(size):
    out = io.StringIO()
    rows = [["1", "plain"], ["2", "with, comma"], ["3", "two\nlines"], ["4", 'quote " and\r\nnewline']]
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    data = out.getvalue().encode()
    records = _split(data, size, quote_aware=True)
    assert [next(csv.reader([r.data.decode()])) for r in records] == rows
    assert records[-1].end == len(data)


def test_too_long_lines_are_flagged_without_keeping_their_bytes():
    data = b"short\n" + b"x" * 50 + b"\nafter\n"
    records = _split(data, 7, quote_aware=False, max_bytes=20)
    assert [(r.data, r.too_long) for r in records] == [(b"short", False), (b"", True), (b"after", False)]


def test_offsets_and_first_number_are_carried():
    records = list(split_records([b"a\nb\n"], quote_aware=False, max_bytes=10, first_number=41, offset=100))
    assert [(r.number, r.end) for r in records] == [(41, 102), (42, 104)]


LIMITS = Limits(max_texts=64, max_chars=10, truncate=True)
STRICT = Limits(max_texts=64, max_chars=10, truncate=False)


def test_with_truncation_on_long_texts_are_cut_to_the_character_cap():
    from functions.batch.records import RawRecord

    item = Parser("jsonl", LIMITS).parse(RawRecord(1, b'{"text": "' + b"y" * 50 + b'"}', 0))
    assert item.ok and item.text == "y" * 10


@pytest.mark.parametrize("line, code", [
    (b"{bad", "invalid-json"), (b"", "invalid-json"), (b"[1]", "invalid-input"), (b'{"id": 1}', "missing-text"),
    (b'{"text": 3}', "invalid-input"), (b'{"text": null}', "invalid-input"), (b'{"text": " "}', "empty-input"),
    (b'{"text": "' + b"x" * 11 + b'"}', "text-too-long"), (b'{"text": "\xff"}', "invalid-encoding"),
])
def test_jsonl_errors_have_stable_codes(line, code):
    from functions.batch.records import RawRecord

    item = Parser("jsonl", STRICT).parse(RawRecord(7, line, 0))
    assert not item.ok and item.code == code and item.line == 7 and item.reason


def test_jsonl_ok_keeps_id_of_any_json_type():
    from functions.batch.records import RawRecord

    item = Parser("jsonl", LIMITS).parse(RawRecord(1, b'{"id": {"k": [1]}, "text": "hi"}', 0))
    assert item.ok and item.text == "hi" and item.head() == {"line": 1, "id": {"k": [1]}}
    assert Parser("jsonl", LIMITS).parse(RawRecord(2, b'{"text": "hi"}', 0)).head() == {"line": 2}


def test_csv_header_finds_text_and_id_case_insensitively_and_requires_text():
    cols = CsvColumns.from_header(b"\xef\xbb\xbfID, Text ,other")
    assert (cols.text, cols.id) == (1, 0)
    with pytest.raises(FormatError):
        CsvColumns.from_header(b"id,body")


def test_unknown_format_is_a_format_error():
    with pytest.raises(FormatError):
        Parser("xml", LIMITS)


def test_item_head_without_id():
    assert Item(3, text="x").head() == {"line": 3}
