"""Native routes: health, classify, embed, similarity."""
from __future__ import annotations

from dataclasses import replace

from flask import Flask, Response

from functions.nlp import embedding_types
from functions.nlp.errors import InputTypeError, TooManyTextsError
from functions.nlp.postprocess import cosine_matrix

from . import inference
from .context import ApiServices, json_response, usage


def register(app: Flask, ctx: ApiServices) -> None:
    settings = ctx.settings

    @app.get("/health", endpoint="health")
    def health() -> Response:
        return json_response({"status": "ok"})

    @app.post("/v1/classify", endpoint="classify")
    def classify() -> Response:
        body = ctx.read_json()
        overflow = inference.overflow_from(ctx, body)
        texts = inference.texts_from(ctx, body.get("texts"), "texts", overflow)
        model = ctx.model_for(body.get("model", settings.default_classify_model), "classify")
        result = inference.run(ctx, model, texts, overflow)
        return json_response({"model": model.manifest.ref, "predictions": model.labelled(result.outputs),
                              **inference.report(result), "usage": usage(len(texts), result.total_tokens)},
                             headers=inference.headers(result))

    @app.post("/v1/embed", endpoint="embed")
    def embed() -> Response:
        body = ctx.read_json()
        overflow = inference.overflow_from(ctx, body)
        texts = inference.texts_from(ctx, body.get("texts"), "texts", overflow)
        types = embedding_types.parse_types(body.get("embedding_types"))
        model = ctx.model_for(body.get("model", settings.default_embed_model), "embed")
        result = inference.run(ctx, model, texts, overflow)
        vectors = result.outputs
        encoded = vectors if types is None else embedding_types.encode(vectors, types)
        return json_response({"model": model.manifest.ref, "dim": int(vectors.shape[1]), "embeddings": encoded,
                              **inference.report(result), "usage": usage(len(texts), result.total_tokens)},
                             headers=inference.headers(result))

    target_limits = replace(ctx.limits, max_texts=max(1, ctx.limits.max_texts - 1))

    @app.post("/v1/similarity", endpoint="similarity")
    def similarity() -> Response:
        body = ctx.read_json()
        source = body.get("source")
        if not isinstance(source, str):
            raise InputTypeError("source must be a string")
        overflow = inference.overflow_from(ctx, body)
        [source] = inference.texts_from(ctx, [source], "source", overflow)
        try:
            targets = ctx.texts(body.get("targets"), "targets",
                                replace(target_limits, max_chars=inference.limits_for(ctx, overflow).max_chars))
        except TooManyTextsError:
            raise TooManyTextsError(f"at most {target_limits.max_texts} targets per request "
                                    f"(the source counts as one of the {ctx.limits.max_texts} texts)") from None
        model = ctx.model_for(body.get("model", settings.default_embed_model), "embed")
        n = 1 + len(targets)
        result = inference.run(ctx, model, [source, *targets], overflow)
        scores = cosine_matrix(result.outputs[:1], result.outputs[1:])
        return json_response({"model": model.manifest.ref, "scores": scores[0],
                              **inference.report(result), "usage": usage(n, result.total_tokens)},
                             headers=inference.headers(result))
