"""How every route runs a model: long-input options from the body, texts, windows, one metered run.

Every protocol (native, TensorFlow Serving, Open Inference Protocol v2, OpenAI) reads the
same options and runs through ``ApiServices.infer`` (model choice, quota, metering, metrics), so
a request is admitted and billed by the *windows* the model runs: one per text, or more for a
text chunked with ``on_overflow: chunk``.

Options (all optional; the defaults cut long texts on the right and say so):
``truncate`` true|false (false = ``on_overflow: error``), ``truncation_direction`` right|left,
``on_overflow`` truncate|error|chunk, ``chunk_overlap`` tokens shared by consecutive windows.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from functions.nlp.errors import InputTypeError
from functions.nlp.model import Limits, RunResult
from functions.nlp.overflow import DEFAULT_OVERLAP, Overflow

from .context import ApiServices, RequestFacts

TRUNCATED_HEADER = "X-Truncated-Texts"  # how many texts of this request were cut (0: none)
WINDOWS_HEADER = "X-Windows"  # windows the model ran (= texts unless some were chunked): what is metered


OPTIONS = ("truncate", "on_overflow", "truncation_direction", "chunk_overlap")
_DEFAULT = {True: Overflow("truncate"), False: Overflow("error")}  # a body without options (most of them)


def overflow_from(ctx: ApiServices, options: Mapping[str, Any]) -> Overflow:
    """The request's long-input options; ``truncate`` is the short form of ``on_overflow``."""
    if not any(key in options for key in OPTIONS):
        return _DEFAULT[bool(ctx.limits.truncate)]
    truncate = options.get("truncate")
    if truncate is not None and not isinstance(truncate, bool):
        raise InputTypeError("truncate must be true or false")
    mode = options.get("on_overflow")
    if mode is None:
        mode = "truncate" if (ctx.limits.truncate if truncate is None else truncate) else "error"
    elif not isinstance(mode, str):
        raise InputTypeError("on_overflow must be a string")
    elif truncate is not None and mode != "chunk" and truncate != (mode == "truncate"):
        raise InputTypeError(f"truncate: {str(truncate).lower()} contradicts on_overflow: {mode}; send one of them")
    direction = options.get("truncation_direction", "right")
    overlap = options.get("chunk_overlap", DEFAULT_OVERLAP)
    if not isinstance(direction, str):
        raise InputTypeError("truncation_direction must be 'right' or 'left'")
    return Overflow(mode=mode, direction=direction.lower(), overlap=overlap)


def limits_for(ctx: ApiServices, overflow: Overflow) -> Limits:
    """Chunked texts may be whole documents: the per-text character cap is the document cap."""
    if overflow.mode == "chunk":
        return replace(ctx.limits, max_chars=ctx.settings.max_document_chars)
    return ctx.limits


def texts_from(ctx: ApiServices, seen: RequestFacts, value: Any, field: str, overflow: Overflow) -> list[str]:
    return ctx.texts(seen, value, field, limits_for(ctx, overflow))


def report(result: RunResult) -> dict[str, Any]:
    """Per-text ``chunks`` and ``truncated`` for bodies that have room for them."""
    chunks = result.chunks.tolist() if result.chunks is not None else [1] * len(result.token_counts)
    cut = result.truncated.tolist() if result.truncated is not None else [False] * len(result.token_counts)
    return {"chunks": chunks, "truncated": cut}


def truncated_count(result: RunResult) -> int:
    return int(result.truncated.sum()) if result.truncated is not None else 0


def headers(result: RunResult) -> dict[str, str]:
    """Every inference response says whether a text was cut, whatever its body's shape."""
    return {TRUNCATED_HEADER: str(truncated_count(result)), WINDOWS_HEADER: str(result.windows)}


__all__ = ["overflow_from", "limits_for", "texts_from", "report", "headers", "truncated_count",
           "TRUNCATED_HEADER", "WINDOWS_HEADER"]
