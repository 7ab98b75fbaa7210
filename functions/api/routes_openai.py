"""OpenAI-compatible embeddings: POST /v1/embeddings, so OpenAI / LangChain clients work unchanged.

``input``: a string or a list of strings. Token-id arrays (what LangChain's OpenAIEmbeddings
sends unless ``check_embedding_ctx_length=False``) are refused with 422: our models use their
own tokenizers, so OpenAI's token ids mean nothing here. ``encoding_format``: "float" (lists of
numbers) or "base64" (little-endian float32 bytes, what the official Python client asks for by
default). ``dimensions``: the model's own size, or a smaller size the model's manifest declares
it was Matryoshka-trained for (``source.matryoshka_dims``): the vector's first ``dimensions``
values, re-normalised; any other value is a 400 that says so. ``user``: accepted (a string)
and not stored. ``usage`` counts the model's real tokens, special tokens included (all windows
of a chunked text). The long-input options (``on_overflow`` …) may come as extra body fields.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from functions.nlp.embedding_types import to_base64
from functions.nlp.errors import InputTypeError
from functions.nlp.manifest import Manifest
from functions.nlp.postprocess import l2_normalize

from . import current, inference
from .context import ApiServices, RequestFacts, json_response
from .errors import ApiError

if TYPE_CHECKING:  # Flask is imported when the Flask app is built, not for the direct path
    from flask import Flask, Response

FORMATS = ("float", "base64")
MAX_USER_CHARS = 256
TOKEN_IDS = ("token-id arrays are not supported: send input as strings (our models use their own tokenizers). "
             "LangChain: OpenAIEmbeddings(..., check_embedding_ctx_length=False); other clients: send the text")


def check_input(value: Any) -> Any:
    if isinstance(value, list) and value and not all(isinstance(v, str) for v in value):
        if all(isinstance(v, (int, list)) and not isinstance(v, bool) for v in value):
            raise InputTypeError(TOKEN_IDS)
    return value


def matryoshka_dims(manifest: Manifest) -> tuple[int, ...]:
    """Sizes the model was trained to be cut to, as its manifest's source declares them."""
    dims = manifest.source.get("matryoshka_dims") or ()
    return tuple(sorted({d for d in dims if isinstance(d, int) and 0 < d <= (manifest.dim or 0)}))


def check_dimensions(value: Any, manifest: Manifest) -> int | None:
    """None (the full vector) or the size to cut to; a 400 unless the model supports it."""
    if value is None or value == manifest.dim:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InputTypeError("dimensions must be a positive integer")
    allowed = matryoshka_dims(manifest)
    if value in allowed:
        return value
    if not allowed:
        raise ApiError(f"model {manifest.name} is not Matryoshka-trained: its {manifest.dim}-dimensional vectors "
                       f"cannot be shortened without losing quality; omit dimensions or send {manifest.dim}")
    raise ApiError(f"model {manifest.name} supports dimensions {', '.join(map(str, allowed))} "
                   f"or {manifest.dim}, not {value}")


def embeddings(ctx: ApiServices, seen: RequestFacts, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """POST /v1/embeddings as (payload, headers), free of Flask (the direct path calls it too)."""
    overflow = inference.overflow_from(ctx, body)
    texts = inference.texts_from(ctx, seen, check_input(body.get("input")), "input", overflow)
    encoding = body.get("encoding_format") or "float"
    if encoding not in FORMATS:
        raise InputTypeError("encoding_format must be 'float' or 'base64'")
    user = body.get("user")
    if user is not None and (not isinstance(user, str) or len(user) > MAX_USER_CHARS):
        raise InputTypeError(f"user must be a string of at most {MAX_USER_CHARS} characters")
    requested = body.get("model") or ctx.settings.default_embed_model
    dimensions = body.get("dimensions")
    done = ctx.infer(seen, requested, texts, "embed", overflow,
                     check=lambda manifest: check_dimensions(dimensions, manifest))
    result, cut = done.result, done.checked
    vectors = result.outputs if cut is None else l2_normalize(result.outputs[:, :cut])
    rows: Any = to_base64(np.asarray(vectors, dtype=np.float32)) if encoding == "base64" else vectors
    data = [{"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)]
    tokens = result.total_tokens
    return ({"object": "list", "data": data, "model": requested,
             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}, inference.headers(result))


def register(app: Flask, ctx: ApiServices) -> None:
    @app.post("/v1/embeddings", endpoint="openai_embeddings")
    def embeddings_route() -> Response:
        payload, headers = embeddings(ctx, current.facts(), ctx.read_json())
        return json_response(payload, headers=headers)


__all__ = ["register", "embeddings", "check_input", "check_dimensions", "matryoshka_dims", "TOKEN_IDS"]
