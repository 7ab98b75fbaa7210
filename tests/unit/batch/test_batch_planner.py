"""Chunk planning: boundaries on record ends, line numbers carried, nothing lost or doubled."""
from __future__ import annotations

import csv
import io

import pytest

from functions.batch.planner import _open, plan
from functions.batch.records import Parser, split_records
from functions.nlp.model import Limits

LIMITS = Limits(max_chars=2000)


def _csv_body(n: int) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["id", "text"])
    for i in range(n):
        w.writerow([i, f"row {i}, with comma" if i % 2 else f'row {i}\n"quoted"\nlines'])
    return b"\xef\xbb\xbf" + out.getvalue().encode()


def _items_by_chunks(data: bytes, fmt: str, chunk_bytes: int):
    layout, chunks = plan([data], fmt, chunk_bytes=chunk_bytes, max_line_bytes=1000)
    parser = Parser(fmt, LIMITS, layout.columns)
    items = []
    for c in chunks:
        records = split_records([data[c.start:c.end]], quote_aware=fmt == "csv", max_bytes=1000,
                                first_number=c.first_line, offset=c.start)
        part = [parser.parse(r) for r in records]
        assert len(part) == c.lines
        items += part
    return chunks, items


@pytest.mark.parametrize("chunk_bytes", [1, 10, 37, 100, 10_000])
def test_csv_chunks_hold_whole_records_and_number_lines_globally(chunk_bytes):
    data = _csv_body(30)
    chunks, items = _items_by_chunks(data, "csv", chunk_bytes)
    layout, records = _open([data], "csv", 1000)
    whole = [Parser("csv", LIMITS, layout.columns).parse(r) for r in records]
    assert items == whole
    assert [i.line for i in items] == list(range(1, 31))
    assert [i.id for i in items] == [str(i) for i in range(30)]
    assert chunks[0].start == layout.data_start
    assert all(a.end == b.start for a, b in zip(chunks, chunks[1:])) and chunks[-1].end == len(data)
    if chunk_bytes == 1:
        assert len(chunks) == 30


@pytest.mark.parametrize("chunk_bytes", [1, 20, 10_000])
def test_jsonl_chunks(chunk_bytes):
    data = b"".join(b'{"text": "line %d"}\n' % i for i in range(25)) + b'{"text": "last, no newline"}'
    chunks, items = _items_by_chunks(data, "jsonl", chunk_bytes)
    assert [i.line for i in items] == list(range(1, 27))
    assert items[-1].text == "last, no newline"


def test_empty_object_plans_one_empty_chunk():
    layout, chunks = plan([b""], "jsonl", chunk_bytes=10, max_line_bytes=100)
    assert [(c.start, c.end, c.lines) for c in chunks] == [(0, 0, 0)]
