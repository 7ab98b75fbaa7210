"""Hypothesis strategies for hostile batch input files (shared by the unit and functional tests)."""
from __future__ import annotations

import json

from hypothesis import strategies as st

from functions.batch.records import BOM

BOOM = "\u2603boom"  # a text the tests' flaky model fails on

_NASTY_LINES = [
    b"[" * 20_000, b'{"text": ' + b"[" * 5000 + b"}", b"\x00\x00", b"\xff\xfe\xfa", b'{"text": "\\ud800"}',
    b'{"id": NaN, "text": "x"}', b'{"id": "\\udc00", "text": "x"}', BOM + b'{"text": "bom"}', b"",
    b'{"text": "ok"}', b'{"id": 7, "text": "good movie"}', b'{"text": "' + BOOM.encode() + b'"}',
    b'{"text": "' + b"a" * 5000 + b'"}', b'"just a string"', b"{}", b'{"text": 5}', b'{"text": ""}',
    b'{"text": "tab\\tand\\u0000nul"}', b"\r", b'{"text": "x"}\r',
]
_CSV_PIECES = ["1", "2", ",", '"', '""', "\r\n", "\n", "\r", " ", "my 12\" pizza", "good", "\u00e9t\u00e9", "\x00",
               BOOM, "a" * 300]


def jsonl_files() -> st.SearchStrategy[bytes]:
    """Whole JSONL files: nasty lines, random bytes and plain texts, LF or CRLF, last terminator optional."""
    line = st.one_of(st.sampled_from(_NASTY_LINES), st.binary(max_size=60),
                     st.text(max_size=40).map(lambda t: json.dumps({"text": t}).encode()))
    ending = st.sampled_from([b"\n", b"\r\n"])
    return st.tuples(st.lists(st.tuples(line, ending), max_size=25), st.booleans()).map(
        lambda t: b"".join(text + end for text, end in t[0])[: None if t[1] else -1])


def csv_texts(max_size: int = 40) -> st.SearchStrategy[str]:
    """CSV bodies built from quotes, commas, every line ending, NULs and long fields, anywhere."""
    return st.lists(st.sampled_from(_CSV_PIECES), max_size=max_size).map("".join)
