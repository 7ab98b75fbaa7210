"""Embedding encodings a caller may ask for (``embedding_types``), defined once.

- ``float``: the float32 vector as numbers.
- ``base64``: the float32 vector, little-endian bytes, base64 (what OpenAI's client decodes).
- ``int8``: ``round(x / max|x| * 127)`` per vector, in [-127, 127]. Cosine similarity is
  scale-free, so the per-vector scale needs no side channel: compare int8 vectors directly.
- ``uint8``: the int8 value + 128, in [1, 255]; subtract 128 before comparing.
- ``binary``: one bit per dimension (1 where x > 0), packed big-endian into bytes
  (``numpy.packbits``), as integers 0-255: ``dim / 8`` bytes; compare with Hamming distance.

What each costs in retrieval quality against float is measured by ``bench/`` on its pairs.
"""
from __future__ import annotations

import base64
from typing import Any

import numpy as np

from .errors import InputTypeError

EMBEDDING_TYPES = ("float", "int8", "uint8", "binary", "base64")


def parse_types(value: Any) -> tuple[str, ...] | None:
    """None (plain float lists, the default) or the requested types, in request order."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InputTypeError(f"embedding_types must be a list of: {', '.join(EMBEDDING_TYPES)}")
    unknown = [v for v in value if v not in EMBEDDING_TYPES]
    if unknown:
        raise InputTypeError(f"unknown embedding type {unknown[0]!r}; use {', '.join(EMBEDDING_TYPES)}")
    return tuple(dict.fromkeys(value))


def to_int8(vectors: np.ndarray) -> np.ndarray:
    scale = np.max(np.abs(vectors), axis=-1, keepdims=True)
    return np.round(vectors / np.maximum(scale, 1e-12) * 127).astype(np.int8)


def to_uint8(vectors: np.ndarray) -> np.ndarray:
    return (to_int8(vectors).astype(np.int16) + 128).astype(np.uint8)


def to_binary(vectors: np.ndarray) -> np.ndarray:
    return np.packbits(vectors > 0, axis=-1)


def to_base64(vectors: np.ndarray) -> list[str]:
    little = np.ascontiguousarray(vectors, dtype="<f4")
    return [base64.b64encode(row.tobytes()).decode("ascii") for row in little]


def encode(vectors: np.ndarray, types: tuple[str, ...]) -> dict[str, list[Any]]:
    """{type: one encoded vector per row} for JSON."""
    out: dict[str, list[Any]] = {}
    for kind in types:
        if kind == "float":
            out[kind] = vectors.tolist()
        elif kind == "base64":
            out[kind] = to_base64(vectors)
        else:
            out[kind] = {"int8": to_int8, "uint8": to_uint8, "binary": to_binary}[kind](vectors).tolist()
    return out


__all__ = ["EMBEDDING_TYPES", "parse_types", "encode", "to_int8", "to_uint8", "to_binary", "to_base64"]
