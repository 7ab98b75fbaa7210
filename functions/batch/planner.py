"""Reading an input object: the CSV header, byte-range chunks on record boundaries, parsed items.

The planner streams the object once and cuts it where a record ends (for CSV: a newline
outside quotes), so every chunk holds whole records and knows the number of its first
line. Chunk workers then read only their byte range.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from .s3_streams import Source, read_range
from .records import BOM, CsvColumns, FormatError, Item, Parser, split_records


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # byte offsets [start, end) in the object
    end: int
    first_line: int
    lines: int

    def as_dict(self) -> dict[str, int]:
        return {"index": self.index, "start": self.start, "end": self.end, "first_line": self.first_line,
                "lines": self.lines}


@dataclass(frozen=True)
class Layout:
    """Where the data starts (after a BOM and the CSV header) and the CSV columns."""

    data_start: int
    columns: CsvColumns | None

    def as_dict(self) -> dict[str, Any]:
        cols = self.columns
        return {"data_start": self.data_start,
                "columns": None if cols is None else {"names": list(cols.names), "text": cols.text, "id": cols.id}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Layout":
        cols = data.get("columns")
        columns = None if not cols else CsvColumns(tuple(cols["names"]), int(cols["text"]),
                                                   None if cols.get("id") is None else int(cols["id"]))
        return cls(int(data["data_start"]), columns)


def _skip_bom(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Drop a UTF-8 BOM at the start of the stream (it may straddle chunk boundaries)."""
    head = b""
    it = iter(chunks)
    for chunk in it:
        head += chunk
        if len(head) >= len(BOM):
            break
    if head.startswith(BOM):
        head = head[len(BOM):]
    if head:
        yield head
    yield from it


def _records(chunks: Iterable[bytes], fmt: str, max_bytes: int, first: int, offset: int):
    return split_records(chunks, quote_aware=fmt == "csv", max_bytes=max_bytes, first_number=first,
                         offset=offset)


def _open(chunks: Iterable[bytes], fmt: str, max_bytes: int):
    """(layout, iterator of data records) for a stream that starts at byte 0."""
    raw = iter(chunks)
    first = next(raw, b"")
    offset = len(BOM) if first.startswith(BOM) else 0

    def rest() -> Iterator[bytes]:
        yield first
        yield from raw

    records = _records(_skip_bom(rest()), fmt, max_bytes, 0 if fmt == "csv" else 1, offset)
    if fmt != "csv":
        return Layout(offset, None), records
    header = next(records, None)
    if header is None:
        raise FormatError("CSV file is empty: no header")
    if header.too_long:
        raise FormatError("CSV header is longer than the line size limit")
    return Layout(header.end, CsvColumns.from_header(header.data)), records


def plan(chunks: Iterable[bytes], fmt: str, *, chunk_bytes: int, max_line_bytes: int) -> tuple[Layout, list[Chunk]]:
    """Cut the object into chunks of about chunk_bytes that end on record boundaries."""
    layout, records = _open(chunks, fmt, max_line_bytes)
    out: list[Chunk] = []
    start, first, count, end = layout.data_start, 1, 0, layout.data_start
    for record in records:
        count += 1
        end = record.end
        if end - start >= chunk_bytes:
            out.append(Chunk(len(out), start, end, first, count))
            start, first, count = end, record.number + 1, 0
    if count or not out:
        out.append(Chunk(len(out), start, end, first, count))
    return layout, out


def whole_object_items(s3: Any, source: Source, fmt: str, parser_limits: Any, *,
                       max_line_bytes: int) -> tuple[Layout, Iterator[Item]]:
    """Layout and parsed items of a whole object, streamed (the single-worker path)."""
    layout, records = _open(read_range(s3, source), fmt, max_line_bytes)
    parser = Parser(fmt, parser_limits, layout.columns)
    return layout, (parser.parse(r) for r in records)


def chunk_items(s3: Any, source: Source, fmt: str, parser_limits: Any, layout: Layout, chunk: Chunk, *,
                max_line_bytes: int) -> Iterator[Item]:
    """Parsed items of one chunk's byte range."""
    parser = Parser(fmt, parser_limits, layout.columns)
    records = _records(read_range(s3, source, chunk.start, chunk.end), fmt, max_line_bytes,
                       chunk.first_line, chunk.start)
    return (parser.parse(r) for r in records)


__all__ = ["Chunk", "Layout", "plan", "whole_object_items", "chunk_items"]
