"""Native routes: health, classify, embed, similarity.

``classify`` and ``embed`` are written as functions of (services, request facts, JSON body) ->
(payload, headers), free of Flask: the Flask routes call them, and so does the direct path for
API Gateway HTTP API events (functions/api/direct.py).
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from functions.nlp import embedding_types
from functions.nlp.errors import InputTypeError, TooManyTextsError
from functions.nlp.postprocess import cosine_matrix

from . import current, inference
from .context import ApiServices, RequestFacts, json_response, usage

if TYPE_CHECKING:  # Flask is imported when the Flask app is built, not for the direct path
    from flask import Flask, Response

Answer = tuple[dict[str, Any], dict[str, str]]  # a route's JSON payload and its own headers


def classify(ctx: ApiServices, seen: RequestFacts, body: dict[str, Any]) -> Answer:
    overflow = inference.overflow_from(ctx, body)
    texts = inference.texts_from(ctx, seen, body.get("texts"), "texts", overflow)
    done = ctx.infer(seen, body.get("model", ctx.settings.default_classify_model), texts, "classify", overflow)
    result = done.result
    return ({"model": done.manifest.ref, "predictions": done.model.labelled(result.outputs),
             **inference.report(result), "usage": usage(len(texts), result.total_tokens)},
            inference.headers(result))


def embed(ctx: ApiServices, seen: RequestFacts, body: dict[str, Any]) -> Answer:
    overflow = inference.overflow_from(ctx, body)
    texts = inference.texts_from(ctx, seen, body.get("texts"), "texts", overflow)
    types = embedding_types.parse_types(body.get("embedding_types"))
    done = ctx.infer(seen, body.get("model", ctx.settings.default_embed_model), texts, "embed", overflow)
    result = done.result
    vectors = result.outputs
    encoded = vectors if types is None else embedding_types.encode(vectors, types)
    return ({"model": done.manifest.ref, "dim": int(vectors.shape[1]), "embeddings": encoded,
             **inference.report(result), "usage": usage(len(texts), result.total_tokens)},
            inference.headers(result))


def register(app: Flask, ctx: ApiServices) -> None:
    @app.get("/health", endpoint="health")
    def health() -> Response:
        return json_response({"status": "ok"})

    @app.post("/v1/classify", endpoint="classify")
    def classify_route() -> Response:
        payload, headers = classify(ctx, current.facts(), ctx.read_json())
        return json_response(payload, headers=headers)

    @app.post("/v1/embed", endpoint="embed")
    def embed_route() -> Response:
        payload, headers = embed(ctx, current.facts(), ctx.read_json())
        return json_response(payload, headers=headers)

    target_limits = replace(ctx.limits, max_texts=max(1, ctx.limits.max_texts - 1))

    @app.post("/v1/similarity", endpoint="similarity")
    def similarity() -> Response:
        seen = current.facts()
        body = ctx.read_json()
        source = body.get("source")
        if not isinstance(source, str):
            raise InputTypeError("source must be a string")
        overflow = inference.overflow_from(ctx, body)
        [source] = inference.texts_from(ctx, seen, [source], "source", overflow)
        try:
            targets = ctx.texts(seen, body.get("targets"), "targets",
                                replace(target_limits, max_chars=inference.limits_for(ctx, overflow).max_chars))
        except TooManyTextsError:
            raise TooManyTextsError(f"at most {target_limits.max_texts} targets per request "
                                    f"(the source counts as one of the {ctx.limits.max_texts} texts)") from None
        n = 1 + len(targets)
        done = ctx.infer(seen, body.get("model", ctx.settings.default_embed_model), [source, *targets], "embed",
                         overflow)
        result = done.result
        scores = cosine_matrix(result.outputs[:1], result.outputs[1:])
        return json_response({"model": done.manifest.ref, "scores": scores[0],
                              **inference.report(result), "usage": usage(n, result.total_tokens)},
                             headers=inference.headers(result))


__all__ = ["register", "classify", "embed"]
