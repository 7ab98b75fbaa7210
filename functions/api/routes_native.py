"""Native routes: health, classify, embed, similarity."""
from __future__ import annotations

from dataclasses import replace

from flask import Flask, Response

from functions.nlp.errors import InputTypeError, TooManyTextsError

from .context import ApiContext, json_response, usage


def register(app: Flask, ctx: ApiContext) -> None:
    settings = ctx.settings

    @app.get("/health", endpoint="health")
    def health() -> Response:
        return json_response({"status": "ok"})

    @app.post("/v1/classify", endpoint="classify")
    def classify() -> Response:
        body = ctx.read_json()
        texts = ctx.texts(body.get("texts"))
        truncate = ctx.truncate(body)
        model = ctx.model_for(body.get("model", settings.default_classify_model), "classify")
        predictions, result = ctx.execute(model, len(texts), lambda: model.classify(texts, truncate=truncate))
        return json_response({"model": model.manifest.ref, "predictions": predictions,
                              "usage": usage(len(texts), result.total_tokens)})

    @app.post("/v1/embed", endpoint="embed")
    def embed() -> Response:
        body = ctx.read_json()
        texts = ctx.texts(body.get("texts"))
        truncate = ctx.truncate(body)
        model = ctx.model_for(body.get("model", settings.default_embed_model), "embed")

        def work():
            result = model.embed(texts, truncate=truncate)
            return result.outputs, result

        vectors, result = ctx.execute(model, len(texts), work)
        return json_response({"model": model.manifest.ref, "dim": int(vectors.shape[1]),
                              "embeddings": vectors.tolist(), "usage": usage(len(texts), result.total_tokens)})

    target_limits = replace(ctx.limits, max_texts=max(1, ctx.limits.max_texts - 1))

    @app.post("/v1/similarity", endpoint="similarity")
    def similarity() -> Response:
        body = ctx.read_json()
        source = body.get("source")
        if not isinstance(source, str):
            raise InputTypeError("source must be a string")
        [source] = ctx.texts([source], "source")
        try:
            targets = ctx.texts(body.get("targets"), "targets", target_limits)
        except TooManyTextsError:
            raise TooManyTextsError(f"at most {target_limits.max_texts} targets per request "
                                    f"(the source counts as one of the {ctx.limits.max_texts} texts)") from None
        truncate = ctx.truncate(body)
        model = ctx.model_for(body.get("model", settings.default_embed_model), "embed")
        n = 1 + len(targets)
        scores, result = ctx.execute(model, n, lambda: model.similarity([source], targets, truncate=truncate))
        return json_response({"model": model.manifest.ref, "scores": scores[0].tolist(),
                              "usage": usage(n, result.total_tokens)})
