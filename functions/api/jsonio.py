"""JSON in and out of the API: orjson on the hot path, the standard library where orjson refuses.

``dumps`` writes numpy arrays directly (no ``.tolist()``): a float32 embedding comes out as the
shortest decimal that reads back to the same float32 (about 4x less text than the float64
expansion ``tolist()`` + ``json`` wrote, and ~30x faster for 384 floats). ``loads`` parses
every body as ``json.loads`` did: what orjson refuses (lone surrogates, NaN, very deep nesting)
is handed to ``json.loads``, which accepts it or raises as before, so the API answers the same
status for the same body. (One difference: an integer beyond 64 bits reads as a float; every
field that takes an integer refuses both.)
"""
from __future__ import annotations

import json
from typing import Any

import orjson

_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON (``separators=(",", ":")``, ``ensure_ascii=False``) as bytes."""
    try:
        return orjson.dumps(payload, option=_DUMP_OPTIONS)
    except TypeError:  # integers beyond 64 bits, non-string keys, non-contiguous arrays, …
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=_plain).encode()


def loads(data: bytes | str) -> Any:
    """``json.loads`` semantics (same values, same errors), orjson's speed on well-formed input."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


_LOG_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def log_line(record: dict[str, Any]) -> str:
    """Powertools Logger's ``json_serializer``: its own default (compact, UTF-8, ``str()`` for
    anything else, datetimes and dataclasses included), at orjson's speed."""
    try:
        return orjson.dumps(record, default=str, option=_LOG_OPTIONS).decode()
    except TypeError:  # integers beyond 64 bits: what Powertools' json.dumps would write
        return json.dumps(record, default=str, separators=(",", ":"), ensure_ascii=False)


_JSON_STARTS = frozenset('{["-0123456789tfnNI')  # what a JSON text (json.loads' dialect) can start with


def log_message(text: str) -> Any:
    """Powertools Logger's ``json_deserializer``: it tries to decode every str message (a JSON
    message becomes an object). ``json.loads`` semantics, but a plain sentence such as "request"
    is refused at its first character instead of by a raised and caught JSONDecodeError."""
    if text.lstrip()[:1] not in _JSON_STARTS:
        raise ValueError("not a JSON text")
    return loads(text)


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


__all__ = ["dumps", "loads", "log_line", "log_message"]
