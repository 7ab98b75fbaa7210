"""TensorFlow Serving REST predict: POST /v1/models/{name}[/versions/{v}|/labels/{alias}]:predict.

Row format only: ``{"instances": [...]}`` where each instance is a string or ``{"text": str}``.
Each prediction is the model's output row: class probabilities in label order (labels from
GET /v1/models/{name}) or the embedding vector. Errors answer ``{"error": "..."}``.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, Response

from functions.nlp.errors import InputTypeError

from .context import ApiContext, json_response


def instances_to_texts(body: dict[str, Any]) -> list[Any]:
    if "instances" not in body:
        if "inputs" in body:
            raise InputTypeError("only the row format is supported: send {\"instances\": [...]}")
        raise InputTypeError("instances is required")
    instances = body["instances"]
    if not isinstance(instances, list):
        raise InputTypeError("instances must be a list")
    texts: list[Any] = []
    for index, item in enumerate(instances):
        if isinstance(item, dict):
            if set(item) != {"text"}:
                raise InputTypeError(f"instances[{index}] must be a string or {{\"text\": string}}")
            item = item["text"]
        texts.append(item)
    return texts


def register(app: Flask, ctx: ApiContext) -> None:
    def predict(ref: str) -> Response:
        body = ctx.read_json()
        texts = ctx.texts(instances_to_texts(body), "instances")
        model = ctx.model_for(ref, None)  # either task: the model decides what a prediction is

        def work():
            result = model.run(texts, truncate=ctx.limits.truncate)
            return result.outputs, result

        outputs, _ = ctx.execute(model, len(texts), work)
        return json_response({"predictions": outputs.tolist()})

    @app.post("/v1/models/<name>:predict", endpoint="tf_predict")
    def tf_predict(name: str) -> Response:
        return predict(name)

    @app.post("/v1/models/<name>/versions/<version>:predict", endpoint="tf_predict_version")
    def tf_predict_version(name: str, version: str) -> Response:
        return predict(f"{name}@{version}")

    @app.post("/v1/models/<name>/labels/<label>:predict", endpoint="tf_predict_label")
    def tf_predict_label(name: str, label: str) -> Response:
        return predict(f"{name}:{label}")

