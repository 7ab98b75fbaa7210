"""Input records: split a byte stream into JSONL lines or CSV records, then parse each one.

Splitting works on bytes so that one bad line (invalid UTF-8, unbalanced JSON) costs one
error row, never the job. CSV records end where Python's ``csv`` module (RFC 4180 plus its
lenient rules) ends them: a quote opens a quoted field only at the start of a field, so a
stray ``"`` inside an unquoted field (``my 12" pizza``) is just a character. The chunk planner
uses the same splitter, so a chunk boundary can never fall inside a quoted field.
"""
from __future__ import annotations

import csv
import json
import re
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

    ``quote_aware`` (CSV) ends records where Python's ``csv`` module does (:class:`_CsvSplitter`);
    otherwise (JSONL) every ``\\n`` ends one. ``offset`` is the file position of the first
    byte, so ``RawRecord.end`` is absolute. A record longer than ``max_bytes`` is reported with
    ``too_long`` and its bytes dropped.
    """
    acc = _Record(max_bytes, first_number, offset)
    if quote_aware:
        splitter = _CsvSplitter(acc)
        for chunk in chunks:
            yield from splitter.feed(chunk)
        yield from splitter.close()
        return
    for chunk in chunks:
        start, size = 0, len(chunk)
        while start < size:
            nl = chunk.find(b"\n", start)
            stop = size if nl < 0 else nl + 1
            acc.add(chunk[start:stop])
            start = stop
            if nl >= 0:
                yield acc.emit()
    if acc.pending:  # the last record had no terminator
        yield acc.emit()


class _Record:
    """The record being read: its bytes (up to the size cap), number and end offset."""

    def __init__(self, max_bytes: int, number: int, offset: int) -> None:
        self.max_bytes, self.number, self.pos = max_bytes, number, offset
        self.buf = bytearray()
        self.too_long = False

    @property
    def pending(self) -> bool:
        return bool(self.buf) or self.too_long

    def add(self, piece: bytes) -> None:
        self.pos += len(piece)
        if self.too_long:
            return
        if len(self.buf) + len(piece) > self.max_bytes + 2:  # +2: the terminator does not count
            self.too_long = True
            self.buf.clear()
        else:
            self.buf += piece

    def emit(self, *, terminated: bool = True) -> RawRecord:
        """The record so far; ``terminated``: it ends with its terminator, which is not data."""
        data = b"" if self.too_long else bytes(self.buf)
        record = RawRecord(self.number, _strip_eol(data) if terminated else data, self.pos, self.too_long)
        self.number += 1
        self.buf.clear()
        self.too_long = False
        return record


# states of the CSV reader (CPython Modules/_csv.c, excel dialect, strict off), as far as they
# decide where a record ends: a quote opens a quoted field only at the start of a field; inside
# one, "" is a quote and a quote followed by anything else closes it (the rest of the field is
# read unquoted); outside quotes \n, \r\n and a lone \r end the record.
_START, _FIELD, _QUOTED, _QUOTE_IN_QUOTED = range(4)
_CSV_SPECIAL = re.compile(rb'["\r\n]')  # commas matter only as the byte before a quote (a field's start)


class _CsvSplitter:
    """Record boundaries of a CSV byte stream, fed in chunks of any size."""

    def __init__(self, acc: _Record) -> None:
        self.acc, self.state, self.after_cr = acc, _START, False

    def feed(self, chunk: bytes) -> Iterator[RawRecord]:
        acc, i, n = self.acc, 0, len(chunk)
        while i < n:
            if self.after_cr:  # a \r ended the record: a \n right after it belongs to the terminator
                self.after_cr = False
                if chunk[i] == 0x0A:
                    acc.add(chunk[i:i + 1])
                    i += 1
                yield acc.emit()
                continue
            if self.state == _QUOTED:
                j = chunk.find(b'"', i)
                if j < 0:
                    acc.add(chunk[i:])
                    return
                acc.add(chunk[i:j + 1])
                self.state, i = _QUOTE_IN_QUOTED, j + 1
                continue
            m = _CSV_SPECIAL.search(chunk, i)
            j = n if m is None else m.start()
            if j > i:  # ordinary bytes: the last one says whether a new field starts here
                self.state = _START if chunk[j - 1] == 0x2C else _FIELD
            if m is None:
                acc.add(chunk[i:])
                return
            acc.add(chunk[i:j + 1])
            i = j + 1
            c = chunk[j]
            if c == 0x22:  # "
                if self.state != _FIELD:  # at a field's start, or "" inside a quoted field
                    self.state = _QUOTED
            elif c == 0x0A:  # \n
                self.state = _START
                yield acc.emit()
            else:  # \r: the record ends here or after a \n that follows
                self.state, self.after_cr = _START, True

    def close(self) -> Iterator[RawRecord]:
        """The last record, when the stream does not end with a terminator (or ends inside quotes)."""
        if self.after_cr or self.acc.pending:
            # no terminator: a \r or \n at the end is data (inside quotes the file ended early)
            yield self.acc.emit(terminated=self.after_cr)
            self.after_cr = False


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
        """One Item per record, whatever its bytes: a failure to read a record is that record's
        error row, never an exception (one hostile line must not cost the chunk its other lines)."""
        try:
            return self._parse(record)
        except Exception as exc:  # noqa: BLE001 - a parser bug or a case not foreseen: still one row
            return Item(record.number, code="invalid-input", reason=f"line cannot be read ({type(exc).__name__})")

    def _parse(self, record: RawRecord) -> Item:
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
            obj = json.loads(text, parse_constant=_no_constant)
        except ValueError as exc:
            return Item(number, code="invalid-json", reason=f"not valid JSON: {exc.args[0] if exc.args else exc}")
        except RecursionError:
            return Item(number, code="invalid-json", reason="not valid JSON: nested too deeply")
        if not isinstance(obj, dict):
            return Item(number, code="invalid-input", reason="line must be a JSON object with a 'text' field")
        ident = obj.get("id", _MISSING)
        if ident is not _MISSING and not _encodable(ident):
            return Item(number, code="invalid-input", reason="id holds a lone surrogate (\\ud800-\\udfff escape)")
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
        if not _encodable(text):
            return Item(number, ident, code="invalid-input",
                        reason="text holds a lone surrogate (\\ud800-\\udfff escape)")
        return Item(number, ident, text=text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _encodable(value: Any) -> bool:
    """True when value can be written back as UTF-8 JSON (a lone surrogate from a \\ud800 escape cannot)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
        return True
    except (UnicodeEncodeError, ValueError, RecursionError):
        return False


__all__ = ["BOM", "FORMATS", "FormatError", "RawRecord", "Item", "split_records", "CsvColumns", "Parser"]
