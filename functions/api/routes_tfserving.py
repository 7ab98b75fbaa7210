"""TensorFlow Serving's REST API, as its documentation (tensorflow_serving/g3doc/api_rest.md) defines it.

    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]            model status (model_version_status)
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata   signature_def of our one input/output
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict    instances -> predictions, inputs -> outputs
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:classify   examples -> result of [label, score] pairs
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:regress    a clear error: no model here regresses

``{v}`` is a version number (1, 2, … in publish order, as TF Serving clients send) or one of our
version strings; ``{l}`` an alias. The input is one string tensor, ``text``; the output one float
tensor: class probabilities in label order (``probabilities``) or the embedding (``embeddings``).
Errors answer ``{"error": "..."}`` with the usual status codes. The bare ``GET /v1/models/{name}``
is shared with our model catalog: its body carries ``model_version_status`` next to our fields.
The long-input options (``truncate``, ``on_overflow`` …) may ride along in any POST body.
"""
from __future__ import annotations

import re
from typing import Any

from flask import Flask, Response

from functions.nlp.errors import InputTypeError, ModelNotFoundError, WrongTaskError
from functions.nlp.manifest import Manifest

from . import current, inference
from .context import ApiServices, json_response

INPUT = "text"
PREDICT_SIGNATURE = "serving_default"
CLASSIFY_SIGNATURE = "tensorflow/serving/classify"
METHODS = {PREDICT_SIGNATURE: "tensorflow/serving/predict", CLASSIFY_SIGNATURE: "tensorflow/serving/classify"}
# every path of this protocol except the bare GET /v1/models/{name} (that one is also our catalog's)
PATH_RE = re.compile(r"^/v1/models/[^/]+(/(versions|labels)/[^/]+)?(:(predict|classify|regress)|/metadata)$"
                     r"|^/v1/models/[^/]+/(versions|labels)/[^/]+$")


def is_tfserving_path(path: str) -> bool:
    return bool(PATH_RE.match(path))


def _text_of(item: Any, where: str) -> Any:
    if isinstance(item, dict):
        if set(item) != {INPUT}:
            raise InputTypeError(f"{where} must be a string or {{\"{INPUT}\": string}}")
        return item[INPUT]
    return item


def instances_to_texts(body: dict[str, Any]) -> tuple[list[Any], str]:
    """(texts, "rows" | "columns"): ``instances`` (row format) or ``inputs`` (columnar), not both."""
    if "instances" in body and "inputs" in body:
        raise InputTypeError("send either instances (row format) or inputs (columnar format), not both")
    if "inputs" in body:
        inputs = body["inputs"]
        if isinstance(inputs, dict):
            if set(inputs) != {INPUT}:
                raise InputTypeError(f"inputs must be a list of strings or {{\"{INPUT}\": [strings]}}")
            inputs = inputs[INPUT]
        return (inputs if isinstance(inputs, list) else [inputs]), "columns"
    if "instances" not in body:
        raise InputTypeError("instances (row format) or inputs (columnar format) is required")
    instances = body["instances"]
    if not isinstance(instances, list):
        raise InputTypeError("instances must be a list")
    return [_text_of(item, f"instances[{i}]") for i, item in enumerate(instances)], "rows"


def examples_to_texts(body: dict[str, Any]) -> list[Any]:
    """Classify ``examples``: objects with a ``text`` feature (``context`` features apply to all)."""
    context = body.get("context") or {}
    examples = body.get("examples")
    if not isinstance(context, dict):
        raise InputTypeError("context must be an object of features")
    if not isinstance(examples, list):
        raise InputTypeError(f"examples must be a list of objects with a \"{INPUT}\" feature")
    texts = []
    for index, example in enumerate(examples):
        merged = {**context, **example} if isinstance(example, dict) else example
        if not isinstance(merged, dict) or INPUT not in merged:
            raise InputTypeError(f"examples[{index}] has no \"{INPUT}\" feature")
        texts.append(merged[INPUT])
    return texts


def signatures(manifest: Manifest) -> dict[str, dict[str, Any]]:
    """The model's signature_def map, in TF Serving's JSON form."""
    batch = {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}
    k = manifest.dim if manifest.task == "embed" else len(manifest.labels)
    out = {"dtype": "DT_FLOAT", "name": f"{manifest.output_name}:0",
           "tensor_shape": {"dim": [{"size": "-1", "name": ""}, {"size": str(k), "name": ""}], "unknown_rank": False}}
    signature = {"inputs": {INPUT: {"dtype": "DT_STRING", "tensor_shape": batch, "name": f"{INPUT}:0"}},
                 "outputs": {manifest.output_name: out}}
    defs = {PREDICT_SIGNATURE: {**signature, "method_name": METHODS[PREDICT_SIGNATURE]}}
    if manifest.task == "classify":
        defs[CLASSIFY_SIGNATURE] = {**signature, "method_name": METHODS[CLASSIFY_SIGNATURE]}
    return defs


def check_signature(body: dict[str, Any], manifest: Manifest, method: str) -> None:
    name = body.get("signature_name")
    if name in (None, ""):
        return
    if not isinstance(name, str) or name not in signatures(manifest):
        raise InputTypeError(f"serving signature name {str(name)[:80]!r} not found; "
                             f"this model has {', '.join(signatures(manifest))}")
    if METHODS[name] != method and not (name == PREDICT_SIGNATURE and method == METHODS[CLASSIFY_SIGNATURE]):
        raise InputTypeError(f"signature {name!r} does not do {method.rsplit('/', 1)[-1]}")


def version_status(numbers: dict[str, int], versions: list[str] | None = None) -> list[dict[str, Any]]:
    """TF Serving's model_version_status for numbered versions (a published version is served
    on demand: AVAILABLE), newest first as TF Serving lists them."""
    chosen = versions if versions is not None else list(numbers)
    return [{"version": str(numbers[v]), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            for v in sorted((v for v in chosen if v in numbers), key=lambda v: -numbers[v])]


def register(app: Flask, ctx: ApiServices) -> None:
    def predict(ref: str) -> Response:
        seen = current.facts()
        body = ctx.read_json()
        overflow = inference.overflow_from(ctx, body)
        raw, layout = instances_to_texts(body)
        texts = inference.texts_from(ctx, seen, raw, "instances" if layout == "rows" else "inputs", overflow)
        # either task: the model decides what a prediction is
        result = ctx.infer(seen, ref, texts, None, overflow,
                           check=lambda manifest: check_signature(body, manifest, METHODS[PREDICT_SIGNATURE])).result
        key = "predictions" if layout == "rows" else "outputs"
        return json_response({key: result.outputs}, headers=inference.headers(result))

    def classify(ref: str) -> Response:
        seen = current.facts()
        body = ctx.read_json()
        overflow = inference.overflow_from(ctx, body)
        texts = inference.texts_from(ctx, seen, examples_to_texts(body), "examples", overflow)
        done = ctx.infer(seen, ref, texts, "classify", overflow,
                         check=lambda manifest: check_signature(body, manifest, METHODS[CLASSIFY_SIGNATURE]))
        result = done.result
        labels = done.manifest.labels
        return json_response({"result": [[[label, float(p)] for label, p in zip(labels, row)]
                                         for row in result.outputs.tolist()]}, headers=inference.headers(result))

    def regress(ref: str) -> Response:
        manifest = ctx.visible_manifest(ref, current.principal())
        raise WrongTaskError(f"model {manifest.name} does {manifest.task}, not regression: it has no regress "
                             f"signature; use :predict{' or :classify' if manifest.task == 'classify' else ''}")

    def status(ref: str | None, name: str) -> Response:
        principal = current.principal()
        principal.require_model(name)
        info = ctx.store.describe(name)
        if not ctx.model_visible(principal, name, list(info["versions"]), info.get("manifest")):
            raise ModelNotFoundError(f"model {name} not found")
        numbers = info.get("numbers") or {}
        if ref is None:
            return json_response({"model_version_status": version_status(numbers)})
        _, version = ctx.store.resolve(ref)
        if version not in numbers:
            raise ModelNotFoundError(f"version {version} of {name} has no version number (published before "
                                     "numbering): address it as /versions/<its name>")
        return json_response({"model_version_status": version_status(numbers, [version])})

    def metadata(ref: str) -> Response:
        manifest = ctx.visible_manifest(ref, current.principal())
        name, version = manifest.name, manifest.version
        numbers = {v: n for n, v in ctx.store.version_numbers(name).items()}
        return json_response({
            "model_spec": {"name": name, "signature_name": "", "version": str(numbers.get(version, version))},
            "metadata": {"signature_def": {"signature_def": signatures(manifest)}}})

    verbs = {"predict": predict, "classify": classify, "regress": regress}
    for verb, fn in verbs.items():
        app.add_url_rule(f"/v1/models/<name>:{verb}", f"tf_{verb}", lambda name, fn=fn: fn(name),
                         methods=["POST"])
        app.add_url_rule(f"/v1/models/<name>/versions/<version>:{verb}", f"tf_{verb}_version",
                         lambda name, version, fn=fn: fn(f"{name}@{version}"), methods=["POST"])
        app.add_url_rule(f"/v1/models/<name>/labels/<label>:{verb}", f"tf_{verb}_label",
                         lambda name, label, fn=fn: fn(f"{name}:{label}"), methods=["POST"])

    app.add_url_rule("/v1/models/<name>/versions/<version>", "tf_status_version",
                     lambda name, version: status(f"{name}@{version}", name), methods=["GET"])
    app.add_url_rule("/v1/models/<name>/labels/<label>", "tf_status_label",
                     lambda name, label: status(f"{name}:{label}", name), methods=["GET"])
    app.add_url_rule("/v1/models/<name>/metadata", "tf_metadata", lambda name: metadata(name), methods=["GET"])
    app.add_url_rule("/v1/models/<name>/versions/<version>/metadata", "tf_metadata_version",
                     lambda name, version: metadata(f"{name}@{version}"), methods=["GET"])
    app.add_url_rule("/v1/models/<name>/labels/<label>/metadata", "tf_metadata_label",
                     lambda name, label: metadata(f"{name}:{label}"), methods=["GET"])


__all__ = ["register", "is_tfserving_path", "instances_to_texts", "examples_to_texts", "signatures",
           "version_status"]
