"""OpenAI-compatible embeddings: POST /v1/embeddings, so OpenAI / LangChain clients work unchanged.

``input``: a string or a list of strings (token-id arrays are refused with 422).
``encoding_format``: "float" (lists of numbers) or "base64" (little-endian float32 bytes,
what the official Python client asks for by default). ``usage`` counts the model's real
tokens, special tokens included.
"""
from __future__ import annotations

import base64
from typing import Any

import numpy as np
from flask import Flask, Response

from functions.nlp.errors import InputTypeError

from .context import ApiContext, json_response

FORMATS = ("float", "base64")


def check_input(value: Any) -> Any:
    if isinstance(value, list) and value and not all(isinstance(v, str) for v in value):
        if all(isinstance(v, (int, list)) for v in value):
            raise InputTypeError("token-id arrays are not supported: send input as strings")
    return value


def register(app: Flask, ctx: ApiContext) -> None:
    @app.post("/v1/embeddings", endpoint="openai_embeddings")
    def embeddings() -> Response:
        body = ctx.read_json()
        texts = ctx.texts(check_input(body.get("input")), "input")
        encoding = body.get("encoding_format") or "float"
        if encoding not in FORMATS:
            raise InputTypeError("encoding_format must be 'float' or 'base64'")
        requested = body.get("model") or ctx.settings.default_embed_model
        model = ctx.model_for(requested, "embed")
        dimensions = body.get("dimensions")
        if dimensions is not None and dimensions != model.manifest.dim:
            raise InputTypeError(f"this model has {model.manifest.dim} dimensions; it cannot return {dimensions!r}")

        def work():
            result = model.embed(texts, truncate=ctx.limits.truncate)
            return result.outputs, result

        vectors, result = ctx.execute(model, len(texts), work)
        if encoding == "base64":
            little = np.ascontiguousarray(vectors, dtype="<f4")
            data = [{"object": "embedding", "index": i, "embedding": base64.b64encode(row.tobytes()).decode("ascii")}
                    for i, row in enumerate(little)]
        else:
            data = [{"object": "embedding", "index": i, "embedding": row}
                    for i, row in enumerate(vectors.tolist())]
        tokens = result.total_tokens
        return json_response({"object": "list", "data": data, "model": requested,
                              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
