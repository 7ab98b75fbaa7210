"""Input records: split a byte stream into JSONL lines or CSV records, then parse each one.

Splitting works on bytes so that one bad line (invalid UTF-8, unbalanced JSON) costs one
error row, never the job. CSV splitting is quote-aware: RFC 4180 escapes a quote by doubling
it, so a newline ends a record only when the number of quotes seen so far is even. The chunk
planner uses the same splitter, so a chunk boundary can never fall inside a quoted field.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from functions.nlp.errors import ValidationError
from functions.nlp.model import Limits, validate_texts

from .errors import FormatError

BOM = b"\xef\xbb\xbf"
FORMATS = ("jsonl", "csv")
_MISSING = object()


@dataclass(frozen=True)
class RawRecord:
    number: int  # 1-based record number in the file (CSV: data rows, the header not counted)
    data: bytes  # the record without its line terminator; empty when too_long
    end: int  # byte offset just past the record's terminator, in file coordinates
    too_long: bool = False


@dataclass(frozen=True)
class Item:
    """One parsed input record: either a text to run or an error to report."""

    line: int
    id: Any = _MISSING
    text: str | None = None
    code: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.text is not None

    def head(self) -> dict[str, Any]:
        """The fields every output row starts with: line and, when given, id."""
        row: dict[str, Any] = {"line": self.line}
        if self.id is not _MISSING:
            row["id"] = self.id
        return row


def split_records(chunks: Iterable[bytes], *, quote_aware: bool, max_bytes: int,
                  first_number: int = 1, offset: int = 0) -> Iterator[RawRecord]:
    """Yield records from a stream of byte chunks; memory stays within ~max_bytes per record.

    ``offset`` is the file position of the first byte, so ``RawRecord.end`` is absolute.
    A record longer than ``max_bytes`` is reported with ``too_long`` and its bytes dropped.
    """
    buf = bytearray()
    too_long = False
    in_quotes = False
    number = first_number
    pos = offset
    for chunk in chunks:
        start = 0
        size = len(chunk)
        while start < size:
            nl = chunk.find(b"\n", start)
            stop = size if nl < 0 else nl + 1
            piece = chunk[start:stop]
            pos += stop - start
            start = stop
            if quote_aware and piece.count(b'"') % 2:
                in_quotes = not in_quotes
            if not too_long:
                if len(buf) + len(piece) > max_bytes + 2:  # +2: the terminator does not count
                    too_long = True
                    buf.clear()
                else:
                    buf += piece
            if nl < 0 or in_quotes:
                continue
            yield RawRecord(number, b"" if too_long else _strip_eol(bytes(buf)), pos, too_long)
            number += 1
            buf.clear()
            too_long = False
    if buf or too_long:  # the last record had no terminator
        yield RawRecord(number, b"" if too_long else _strip_eol(bytes(buf)), pos, too_long)


def _strip_eol(data: bytes) -> bytes:
    if data.endswith(b"\n"):
        data = data[:-1]
    if data.endswith(b"\r"):
        data = data[:-1]
    return data


# --- parsing ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CsvColumns:
    names: tuple[str, ...]
    text: int
    id: int | None

    @classmethod
    def from_header(cls, data: bytes) -> "CsvColumns":
        if data.startswith(BOM):
            data = data[len(BOM):]
        try:
            names = next(csv.reader([data.decode("utf-8")]), [])
        except (UnicodeDecodeError, csv.Error) as exc:
            raise FormatError(f"CSV header cannot be read: {exc}") from exc
        lowered = [n.strip().lower() for n in names]
        if "text" not in lowered:
            raise FormatError("CSV header has no 'text' column")
        return cls(tuple(names), lowered.index("text"), lowered.index("id") if "id" in lowered else None)


class Parser:
    """Turns raw records into Items, applying the same limits as the HTTP API."""

    def __init__(self, fmt: str, limits: Limits, columns: CsvColumns | None = None) -> None:
        if fmt not in FORMATS:
            raise FormatError(f"unsupported format {fmt!r}; use one of {', '.join(FORMATS)}")
        if fmt == "csv" and columns is None:
            raise FormatError("CSV needs its header")
        self.fmt, self.columns = fmt, columns
        self.limits = Limits(max_texts=1, max_chars=limits.max_chars, truncate=limits.truncate)

    def parse(self, record: RawRecord) -> Item:
        if record.too_long:
            return Item(record.number, code="line-too-long", reason="line is longer than the line size limit")
        try:
            text = record.data.decode("utf-8")
        except UnicodeDecodeError:
            return Item(record.number, code="invalid-encoding", reason="line is not valid UTF-8")
        if self.fmt == "jsonl":
            return self._jsonl(record.number, text)
        return self._csv(record.number, text)

    def _jsonl(self, number: int, text: str) -> Item:
        if not text.strip():
            return Item(number, code="invalid-json", reason="empty line")
        try:
            obj = json.loads(text)
        except ValueError as exc:
            return Item(number, code="invalid-json", reason=f"not valid JSON: {exc.args[0] if exc.args else exc}")
        if not isinstance(obj, dict):
            return Item(number, code="invalid-input", reason="line must be a JSON object with a 'text' field")
        ident = obj.get("id", _MISSING)
        if "text" not in obj:
            return Item(number, ident, code="missing-text", reason="no 'text' field")
        return self._checked(number, ident, obj["text"])

    def _csv(self, number: int, text: str) -> Item:
        assert self.columns is not None
        try:
            row = next(csv.reader([text]), [])
        except csv.Error as exc:
            return Item(number, code="invalid-csv", reason=f"not valid CSV: {exc}")
        cols = self.columns
        ident: Any = row[cols.id] if cols.id is not None and cols.id < len(row) else _MISSING
        if not row:
            return Item(number, code="missing-text", reason="empty line")
        if cols.text >= len(row):
            return Item(number, ident, code="missing-text", reason=f"row has {len(row)} fields; no 'text' value")
        return self._checked(number, ident, row[cols.text])

    def _checked(self, number: int, ident: Any, value: Any) -> Item:
        if self.limits.truncate and isinstance(value, str) and len(value) > self.limits.max_chars:
            # truncation on: a long text is cut (the character cap still bounds tokeniser work),
            # then the tokenizer truncates to the model's max_length; only truncation off rejects it
            value = value[: self.limits.max_chars]
        try:
            (text,) = validate_texts([value], self.limits)
        except ValidationError as exc:
            return Item(number, ident, code=exc.code, reason=exc.detail.replace("texts[0]", "text"))
        return Item(number, ident, text=text)


__all__ = ["BOM", "FORMATS", "FormatError", "RawRecord", "Item", "split_records", "CsvColumns", "Parser"]
