"""The Open Inference Protocol v2 (KServe, Triton, Seldon), REST/JSON.

    GET  /v2/health/live · /v2/health/ready                     public, like /health
    GET  /v2                                                    server metadata
    GET  /v2/models/{m}[/versions/{v}]                          model metadata (inputs, outputs)
    GET  /v2/models/{m}[/versions/{v}]/ready                    {"name", "ready"}
    POST /v2/models/{m}[/versions/{v}]/infer                    inference

The model takes one input tensor ``text`` (``BYTES``, shape ``[n]`` or ``[n, 1]``, data: UTF-8
strings) and answers one output tensor, ``FP32`` shape ``[n, k]`` data row-major:
``probabilities`` (classify, k labels in ``parameters.labels`` order of the model metadata) or
``embeddings`` (embed, k = dim). ``{v}`` is a version number (1, 2, …) or a version string.
Request ``parameters`` may carry the long-input options (``on_overflow``, ``truncate``,
``truncation_direction``, ``chunk_overlap``); the response ``parameters`` say how many texts
were cut and how many windows ran. Errors: ``{"error": "..."}`` with a 4xx/5xx status, as the
protocol specifies. Tensors travel as JSON only: Triton's binary tensor extension is refused
with a message naming the client setting (``binary_data=False``).
"""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, request

from functions.nlp.errors import InputTypeError
from functions.nlp.manifest import Manifest

from . import current, inference
from .context import ApiServices, json_response
from .errors import UnsupportedMediaTypeError

INPUT = "text"
SERVER_NAME = "serverless-nlp"
SERVER_VERSION = "1.0.0"
BINARY_HEADER = "Inference-Header-Content-Length"
PUBLIC = frozenset({"v2_live", "v2_ready"})


def is_v2_path(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/")


def tensor_metadata(manifest: Manifest) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    k = manifest.dim if manifest.task == "embed" else len(manifest.labels)
    return ([{"name": INPUT, "datatype": "BYTES", "shape": [-1]}],
            [{"name": manifest.output_name, "datatype": "FP32", "shape": [-1, k]}])


def parameters_of(obj: dict[str, Any], where: str) -> dict[str, Any]:
    """An object's ``parameters`` (the protocol's free-form options): {} when absent, 422 unless an object."""
    parameters = obj.get("parameters")
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise InputTypeError(f"{where}parameters must be an object")
    return parameters


def texts_of(body: dict[str, Any]) -> list[Any]:
    """The ``text`` input tensor's strings, checked against its declared shape and datatype."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise InputTypeError(f"inputs must hold exactly one tensor, named \"{INPUT}\"")
    tensor = inputs[0]
    if tensor.get("name") != INPUT:
        raise InputTypeError(f"unknown input {str(tensor.get('name'))[:40]!r}; the model's input is \"{INPUT}\"")
    if tensor.get("datatype") != "BYTES":
        raise InputTypeError(f"input \"{INPUT}\" has datatype BYTES, not {str(tensor.get('datatype'))[:20]}")
    if "binary_data_size" in parameters_of(tensor, f"input \"{INPUT}\" "):
        raise UnsupportedMediaTypeError("binary tensor data is not supported: send JSON data "
                                        "(tritonclient: InferInput.set_data_from_numpy(..., binary_data=False))")
    shape = tensor.get("shape")
    if "data" not in tensor:
        raise InputTypeError(f"input \"{INPUT}\" has no data")
    data = tensor["data"]
    if not isinstance(data, list):
        raise InputTypeError(f"input \"{INPUT}\" data must be a list of strings")
    data = [d[0] if isinstance(d, list) and len(d) == 1 else d for d in data]  # shape [n, 1], nested
    if (not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
            or len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1)):
        raise InputTypeError(f"input \"{INPUT}\" must have shape [n] or [n, 1]")
    if shape[0] != len(data):
        raise InputTypeError(f"input \"{INPUT}\" has shape {shape} but {len(data)} elements")
    return data


def requested_outputs(body: dict[str, Any], manifest: Manifest) -> None:
    outputs = body.get("outputs")
    if outputs is None:
        return
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise InputTypeError("outputs must be a list of {\"name\": ...}")
    for out in outputs:
        if out.get("name") != manifest.output_name:
            raise InputTypeError(f"unknown output {str(out.get('name'))[:40]!r}; "
                                 f"the model's output is {manifest.output_name!r}")
        if parameters_of(out, "output ").get("binary_data"):
            raise UnsupportedMediaTypeError("binary output data is not supported: ask for JSON data "
                                            "(tritonclient: InferRequestedOutput(name, binary_data=False))")


def register(app: Flask, ctx: ApiServices) -> None:
    def number_of(name: str, version: str) -> str:
        """The version's number as the protocol's clients expect it, else its name."""
        numbers = {v: n for n, v in ctx.store.version_numbers(name).items()}
        return str(numbers.get(version, version))

    def manifest_for(name: str, version: str | None) -> Manifest:
        return ctx.visible_manifest(f"{name}@{version}" if version else name, current.principal())

    @app.get("/v2/health/live", endpoint="v2_live")
    def live() -> Response:
        return json_response({"live": True})

    @app.get("/v2/health/ready", endpoint="v2_ready")
    def ready() -> Response:
        return json_response({"ready": True})

    @app.get("/v2", endpoint="v2_server", strict_slashes=False)  # the spec writes it /v2/, Triton v2
    def server() -> Response:
        return json_response({"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": []})

    def model_metadata(name: str, version: str | None = None) -> Response:
        manifest = manifest_for(name, version)
        inputs, outputs = tensor_metadata(manifest)
        body: dict[str, Any] = {"name": name, "versions": [str(n) for n in sorted(ctx.store.version_numbers(name))],
                                "platform": "onnxruntime_onnx", "inputs": inputs, "outputs": outputs,
                                "parameters": {"task": manifest.task, "version": manifest.version,
                                               "max_length": manifest.max_length}}
        if manifest.labels:
            body["parameters"]["labels"] = ",".join(manifest.labels)
        return json_response(body)

    def model_ready(name: str, version: str | None = None) -> Response:
        manifest_for(name, version)  # 404 for an unknown model or version: not ready, not there
        return json_response({"name": name, "ready": True})

    def infer(name: str, version: str | None = None) -> Response:
        if request.headers.get(BINARY_HEADER):
            raise UnsupportedMediaTypeError("binary tensor data is not supported: send JSON data "
                                            "(tritonclient: binary_data=False on inputs and outputs)")
        seen = current.facts()
        body = ctx.read_json()
        overflow = inference.overflow_from(ctx, parameters_of(body, ""))
        texts = inference.texts_from(ctx, seen, texts_of(body), f"inputs[\"{INPUT}\"]", overflow)
        done = ctx.infer(seen, f"{name}@{version}" if version else name, texts, None, overflow,
                         check=lambda manifest: requested_outputs(body, manifest))
        manifest, result = done.manifest, done.result
        outputs = result.outputs
        response: dict[str, Any] = {
            "model_name": name, "model_version": number_of(name, manifest.version),
            "parameters": {"truncated_texts": inference.truncated_count(result), "windows": result.windows},
            "outputs": [{"name": manifest.output_name, "datatype": "FP32", "shape": list(outputs.shape),
                         "data": outputs.reshape(-1)}]}
        if isinstance(body.get("id"), str):
            response["id"] = body["id"]
        return json_response(response, headers=inference.headers(result))

    for suffix, fn, method in (("", model_metadata, "GET"), ("/ready", model_ready, "GET"),
                               ("/infer", infer, "POST")):
        kind = suffix.strip("/") or "metadata"
        app.add_url_rule(f"/v2/models/<name>{suffix}", f"v2_model_{kind}", fn, methods=[method])
        app.add_url_rule(f"/v2/models/<name>/versions/<version>{suffix}", f"v2_model_{kind}_version", fn,
                         methods=[method])


__all__ = ["register", "is_v2_path", "tensor_metadata", "texts_of", "PUBLIC"]
