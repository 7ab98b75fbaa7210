"""The OpenAPI 3.1 document, built once per app from the settings (limits appear in schemas)."""
from __future__ import annotations

from typing import Any

from functions.settings import Settings

from functions.nlp.embedding_types import EMBEDDING_TYPES
from functions.nlp.overflow import DEFAULT_OVERLAP

from .errors import CATALOG, TYPE_BASE

REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def _schemas(s: Settings) -> dict[str, Any]:
    text = {"type": "string", "minLength": 1, "maxLength": s.max_chars}
    document = {"type": "string", "minLength": 1, "maxLength": s.max_document_chars,
                "description": f"one text: at most {s.max_chars} characters, or a whole document of up to "
                               f"{s.max_document_chars} with on_overflow: chunk (list items may be documents too, "
                               "within the body limit)"}
    texts = {"type": "array", "items": text, "minItems": 1, "maxItems": s.max_texts}
    model = {"type": "string", "description": "`name` (alias prod), `name:alias` or `name@version`",
             "examples": ["sentiment", "sentiment:fp32", "minilm-embed@3-int8"]}
    truncate = {"type": "boolean", "default": s.truncate,
                "description": "cut texts longer than the model's max_length tokens (false: 422 instead)"}
    long_inputs = {
        "truncate": truncate,
        "on_overflow": {"enum": ["truncate", "error", "chunk"],
                        "description": "a text longer than the model's window: cut it (the default while "
                                       "truncate is true), refuse it (422), or split it into overlapping windows "
                                       "that are all run and pooled (token-weighted mean; embeddings "
                                       "re-normalised). Metering counts the windows run."},
        "truncation_direction": {"enum": ["right", "left"], "default": "right",
                                 "description": "right keeps a cut text's start, left its end"},
        "chunk_overlap": {"type": "integer", "minimum": 0, "default": DEFAULT_OVERLAP,
                          "description": "tokens two consecutive windows share (at most half a window)"},
    }
    report = {"chunks": {"type": "array", "items": {"type": "integer"}, "description": "windows run per text"},
              "truncated": {"type": "array", "items": {"type": "boolean"}, "description": "per text: was it cut"}}
    usage = {"type": "object", "required": ["texts", "tokens"],
             "properties": {"texts": {"type": "integer"}, "tokens": {"type": "integer"}}}
    floats = {"type": "array", "items": {"type": "number"}}
    numbers = {"type": "object", "additionalProperties": {"type": "integer"},
               "description": "version -> version number (1, 2, … in publish order; usable as /versions/{n} "
                              "and name@n)"}
    return {
        "Problem": {"type": "object", "description": "RFC 9457 problem details",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {"type": {"type": "string", "format": "uri",
                                            "enum": sorted(TYPE_BASE + c for c in CATALOG)},
                                   "title": {"type": "string"}, "status": {"type": "integer"},
                                   "detail": {"type": "string"}, "instance": {"type": "string"},
                                   "request_id": {"type": "string"},
                                   "error": {"type": "object", "description": "OpenAI-style copy (/v1/embeddings)"}}},
        "TFServingError": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        "Health": {"type": "object", "properties": {"status": {"const": "ok"}}},
        "ClassifyRequest": {"type": "object", "required": ["texts"],
                            "properties": {"model": model, "texts": {"oneOf": [document, texts]}, **long_inputs}},
        "Prediction": {"type": "object", "required": ["label", "score", "scores"],
                       "properties": {"label": {"type": "string"}, "score": {"type": "number"},
                                      "scores": {"type": "object", "additionalProperties": {"type": "number"}}}},
        "ClassifyResponse": {"type": "object", "required": ["model", "predictions", "usage"],
                             "properties": {"model": {"type": "string"}, "usage": usage, **report,
                                            "predictions": {"type": "array", "items": _ref("Prediction")}}},
        "EmbedRequest": {"type": "object", "required": ["texts"],
                         "properties": {"model": model, "texts": {"oneOf": [document, texts]}, **long_inputs,
                                        "embedding_types": {
                                            "type": "array", "minItems": 1, "items": {"enum": list(EMBEDDING_TYPES)},
                                            "description": "answer embeddings as an object with one list per "
                                                           "type (see the docs page for the quantisation)"}}},
        "EmbedResponse": {"type": "object", "required": ["model", "dim", "embeddings", "usage"],
                          "properties": {"model": {"type": "string"}, "dim": {"type": "integer"}, "usage": usage,
                                         **report,
                                         "embeddings": {"oneOf": [
                                             {"type": "array", "items": floats},
                                             {"type": "object", "description": "embedding_types: type -> vectors",
                                              "additionalProperties": {"type": "array", "items": {
                                                  "oneOf": [{"type": "string"}, floats]}}}]}}},
        "SimilarityRequest": {"type": "object", "required": ["source", "targets"],
                              "description": "cosine similarity of one source text against each target",
                              "properties": {"model": model, "source": text, **long_inputs,
                                             "targets": {**texts, "maxItems": max(1, s.max_texts - 1)}}},
        "SimilarityResponse": {"type": "object", "required": ["model", "scores", "usage"],
                               "properties": {"model": {"type": "string"}, "usage": usage, **report,
                                              "scores": {**floats, "description": "one per target, in order"}}},
        "PredictRequest": {"type": "object", "description": "row format (instances) or columnar (inputs), not both",
                           "properties": {"signature_name": {"type": "string",
                                                             "description": "serving_default (or empty)"},
                                          "instances": {"type": "array", "minItems": 1, "maxItems": s.max_texts,
                                                        "items": {"oneOf": [text, {
                                                            "type": "object", "required": ["text"],
                                                            "properties": {"text": text},
                                                            "additionalProperties": False}]}},
                                          "inputs": {"oneOf": [texts, text, {
                                              "type": "object", "required": ["text"], "additionalProperties": False,
                                              "properties": {"text": {"oneOf": [texts, text]}}}]},
                                          **long_inputs}},
        "PredictResponse": {"type": "object", "description": "predictions (row request) or outputs (columnar)",
                            "properties": {"predictions": {"type": "array", "items": floats, "description":
                                           "class probabilities in label order, or embedding vectors"},
                                           "outputs": {"type": "array", "items": floats}}},
        "TFClassifyRequest": {"type": "object", "required": ["examples"],
                              "properties": {"signature_name": {"type": "string"},
                                             "context": {"type": "object", "description": "features of every example"},
                                             "examples": {"type": "array", "minItems": 1, "maxItems": s.max_texts,
                                                          "items": {"type": "object", "properties": {"text": text}}},
                                             **long_inputs}},
        "TFClassifyResponse": {"type": "object", "required": ["result"], "properties": {"result": {
            "type": "array", "description": "per example: [label, score] for every label, in label order",
            "items": {"type": "array", "items": {"type": "array", "prefixItems": [{"type": "string"},
                                                                                  {"type": "number"}]}}}}},
        "TFRegressRequest": {"type": "object", "properties": {"examples": {"type": "array"}}},
        "TFRegressResponse": {"type": "object", "description": "never returned: no model here regresses",
                              "properties": {"result": floats}},
        "TFModelStatus": {"type": "object", "required": ["model_version_status"], "properties": {
            "model_version_status": {"type": "array", "items": {
                "type": "object", "required": ["version", "state", "status"],
                "properties": {"version": {"type": "string", "description": "the version number"},
                               "state": {"type": "string"},
                               "status": {"type": "object", "properties": {
                                   "error_code": {"type": "string"}, "error_message": {"type": "string"}}}}}}}},
        "TFModelMetadata": {"type": "object", "required": ["model_spec", "metadata"], "properties": {
            "model_spec": {"type": "object", "properties": {"name": {"type": "string"},
                                                            "signature_name": {"type": "string"},
                                                            "version": {"type": "string"}}},
            "metadata": {"type": "object", "properties": {"signature_def": {"type": "object"}}}}},
        "V2Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        "V2Live": {"type": "object", "properties": {"live": {"type": "boolean"}}},
        "V2Ready": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
        "V2Server": {"type": "object", "required": ["name", "version", "extensions"],
                     "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                                    "extensions": {"type": "array", "items": {"type": "string"}}}},
        "V2Tensor": {"type": "object", "required": ["name", "datatype", "shape"],
                     "properties": {"name": {"type": "string"}, "datatype": {"type": "string"},
                                    "shape": {"type": "array", "items": {"type": "integer"}}}},
        "V2ModelMetadata": {"type": "object", "required": ["name", "platform", "inputs", "outputs"],
                            "properties": {"name": {"type": "string"},
                                           "versions": {"type": "array", "items": {"type": "string"}},
                                           "platform": {"type": "string"}, "parameters": {"type": "object"},
                                           "inputs": {"type": "array", "items": _ref("V2Tensor")},
                                           "outputs": {"type": "array", "items": _ref("V2Tensor")}}},
        "V2ModelReady": {"type": "object", "required": ["name", "ready"],
                         "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}}},
        "V2InferRequest": {"type": "object", "required": ["inputs"], "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object", "description": "the long-input options", "properties": long_inputs},
            "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
                "type": "object", "required": ["name", "datatype", "shape", "data"],
                "properties": {"name": {"const": "text"}, "datatype": {"const": "BYTES"},
                               "shape": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2},
                               "parameters": {"type": "object"},
                               "data": {"type": "array", "minItems": 1, "maxItems": s.max_texts, "items": text}}}},
            "outputs": {"type": "array", "items": {"type": "object", "required": ["name"],
                                                   "properties": {"name": {"type": "string"},
                                                                  "parameters": {"type": "object"}}}}}},
        "V2InferResponse": {"type": "object", "required": ["model_name", "outputs"], "properties": {
            "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
            "parameters": {"type": "object", "properties": {"truncated_texts": {"type": "integer"},
                                                            "windows": {"type": "integer"}}},
            "outputs": {"type": "array", "items": {
                "type": "object", "required": ["name", "datatype", "shape", "data"],
                "properties": {"name": {"type": "string"}, "datatype": {"const": "FP32"},
                               "shape": {"type": "array", "items": {"type": "integer"}},
                               "data": {**floats, "description": "row-major"}}}}}},
        "EmbeddingsRequest": {"type": "object", "required": ["input"],
                              "properties": {"input": {"oneOf": [document, texts]}, "model": model,
                                             "encoding_format": {"enum": ["float", "base64"], "default": "float"},
                                             "dimensions": {"type": "integer", "description": (
                                                 "the model's dim, or a size its manifest declares it was "
                                                 "Matryoshka-trained for; anything else: 400")},
                                             "user": {"type": "string", "maxLength": 256,
                                                      "description": "accepted, not stored"},
                                             **long_inputs}},
        "EmbeddingsResponse": {"type": "object", "required": ["object", "data", "model", "usage"],
                               "properties": {
                                   "object": {"const": "list"}, "model": {"type": "string"},
                                   "data": {"type": "array", "items": {
                                       "type": "object", "required": ["object", "index", "embedding"],
                                       "properties": {"object": {"const": "embedding"}, "index": {"type": "integer"},
                                                      "embedding": {"oneOf": [floats, {
                                                          "type": "string", "contentEncoding": "base64",
                                                          "description": "little-endian float32"}]}}}},
                                   "usage": {"type": "object", "required": ["prompt_tokens", "total_tokens"],
                                             "properties": {"prompt_tokens": {"type": "integer"},
                                                            "total_tokens": {"type": "integer"}}}}},
        "BatchRequest": {"type": "object", "properties": {
            "format": {"enum": ["jsonl", "csv"], "default": "jsonl"}, "model": model,
            "filename": {"type": "string", "description": "alternative to format: its suffix decides"},
            "bytes": {"type": "integer", "minimum": 0,
                      "description": "the file's size: over the upload limit, 413 before any job is made"},
            "texts": {"type": "integer", "minimum": 1, "default": 1,
                      "description": "lines the file holds: reserved from the token's daily quota now (429 when "
                                     "they do not fit); the job is billed for what it runs and the rest goes back"}}},
        "BatchCounts": {"type": "object", "properties": {"lines_read": {"type": "integer"},
                                                          "ok": {"type": "integer"}, "failed": {"type": "integer"}}},
        "BatchJob": {"type": "object", "required": ["job_id", "status", "upload_url", "upload_method"],
                     "description": "PUT the file to upload_url with exactly upload_headers (one object, at most "
                                    "max_upload_bytes, before expires_in seconds); then poll its status",
                     "properties": {"job_id": {"type": "string"}, "status": {"const": "queued"},
                                    "upload_url": {"type": "string"}, "upload_method": {"const": "PUT"},
                                    "upload_headers": {"type": "object",
                                                       "additionalProperties": {"type": "string"}},
                                    "key": {"type": "string"}, "model": {"type": "string"},
                                    "format": {"type": "string"}, "expires_in": {"type": "integer"},
                                    "max_upload_bytes": {"type": "integer"},
                                    "reserved_texts": {"type": "integer"}}},
        "BatchStatus": {"type": "object", "required": ["job_id", "status", "counts"],
                        "properties": {"job_id": {"type": "string"},
                                       "status": {"enum": ["queued", "running", "done", "failed",
                                                           "quota-exceeded"]},
                                       "counts": _ref("BatchCounts"), "model": {},
                                       "format": {"type": ["string", "null"]},
                                       "created_at": {}, "finished_at": {}, "reason": {"type": ["string", "null"]},
                                       "results_url": {"type": "string"}, "errors_url": {"type": "string"},
                                       "summary_url": {"type": "string"}, "expires_in": {"type": "integer"}}},
        "OpenAIFile": {"type": "object", "required": ["id", "object", "bytes", "created_at", "filename", "purpose"],
                       "properties": {"id": {"type": "string"}, "object": {"const": "file"},
                                      "bytes": {"type": "integer"}, "created_at": {"type": "integer"},
                                      "filename": {"type": "string"}, "purpose": {"type": "string"},
                                      "status": {"type": "string"}}},
        "OpenAIBatchRequest": {"type": "object", "required": ["input_file_id", "endpoint", "completion_window"],
                               "description": "the input file: one request a line, {custom_id, method: POST, url: "
                                              "the endpoint, body: the endpoint's request (one model for all)}",
                               "properties": {"input_file_id": {"type": "string"},
                                              "endpoint": {"enum": ["/v1/embeddings", "/v1/classify"]},
                                              "completion_window": {"const": "24h"},
                                              "metadata": {"type": "object", "maxProperties": 16,
                                                           "additionalProperties": {"type": "string"}}}},
        "OpenAIBatch": {"type": "object", "required": ["id", "object", "endpoint", "input_file_id", "status",
                                                       "created_at", "request_counts"],
                        "properties": {"id": {"type": "string"}, "object": {"const": "batch"},
                                       "endpoint": {"type": "string"}, "input_file_id": {"type": "string"},
                                       "completion_window": {"type": "string"},
                                       "status": {"enum": ["validating", "failed", "in_progress", "finalizing",
                                                           "completed", "expired", "cancelling", "cancelled"]},
                                       "output_file_id": {"type": ["string", "null"]},
                                       "error_file_id": {"type": ["string", "null"]},
                                       "errors": {"type": ["object", "null"]},
                                       "request_counts": {"type": "object", "properties": {
                                           "total": {"type": "integer"}, "completed": {"type": "integer"},
                                           "failed": {"type": "integer"}}},
                                       "metadata": {"type": ["object", "null"]}}},
        "OpenAIBatchList": {"type": "object", "required": ["object", "data", "has_more"],
                            "properties": {"object": {"const": "list"}, "data": {"type": "array",
                                                                                 "items": _ref("OpenAIBatch")},
                                           "first_id": {"type": ["string", "null"]},
                                           "last_id": {"type": ["string", "null"]},
                                           "has_more": {"type": "boolean"}}},
        "Usage": {"type": "object", "required": ["object", "token_id", "quota_per_day", "month", "rate_limits"],
                  "description": "the calling token's own usage; texts are what is billed",
                  "properties": {
                      "object": {"const": "usage"}, "token_id": {"type": "string"}, "owner": {"type": "string"},
                      "quota_per_day": {"type": ["integer", "null"]},
                      "today": {"type": ["object", "null"], "properties": {
                          "date": {"type": "string"}, "requests": {"type": "integer"}, "texts": {"type": "integer"},
                          "tokens": {"type": "integer"}, "remaining": {"type": ["integer", "null"]}}},
                      "month": {"type": "object", "properties": {
                          "month": {"type": "string"}, "requests": {"type": "integer"}, "texts": {"type": "integer"},
                          "tokens": {"type": "integer"}, "days": {"type": "array", "items": {"type": "object"}}}},
                      "rate_limits": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                          "limit": {"type": "integer"}, "remaining": {"type": "integer"},
                          "reset_seconds": {"type": "integer"}}}}}},
        "ModelList": {"type": "object", "required": ["object", "data"],
                      "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": {
                          "type": "object", "required": ["id", "object"],
                          "properties": {"id": {"type": "string"}, "object": {"const": "model"},
                                         "created": {"type": "integer"}, "owned_by": {"type": "string"},
                                         "aliases": {"type": "object", "additionalProperties": {"type": "string"}},
                                         "versions": {"type": "array", "items": {"type": "string"}},
                                         "numbers": numbers}}}}},
        "ModelInfo": {"type": "object", "required": ["name", "aliases", "versions", "loaded"],
                      "properties": {"name": {"type": "string"}, "object": {"const": "model"},
                                     "aliases": {"type": "object", "additionalProperties": {"type": "string"}},
                                     "versions": {"type": "array", "items": {"type": "string"}},
                                     "loaded": {"type": "array", "items": {"type": "string"}},
                                     "manifest": {"type": ["object", "null"]},
                                     "manifests": {"type": "object", "description": "per version (newest 20)",
                                                   "additionalProperties": {"type": ["object", "null"]}},
                                     "numbers": numbers,
                                     "model_version_status": {"type": "array", "items": {"type": "object"}}}},
    }


def _errors(codes: tuple[int, ...], schema: str = "Problem") -> dict[str, Any]:
    media = "application/json" if schema in ("TFServingError", "V2Error") else "application/problem+json"
    out: dict[str, Any] = {}
    for status in codes:
        titles = sorted({t for c, (st, t) in CATALOG.items() if st == status})
        headers = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}} if status in (429, 503) \
            else {}
        out[str(status)] = {"description": "; ".join(titles), "content": {media: {"schema": _ref(schema)}},
                            **({"headers": headers} if headers else {})}
    return out


INFER_ERRORS = (400, 401, 403, 404, 413, 415, 422, 429, 500, 503)
READ_ERRORS = (400, 401, 403, 404, 500, 503)


EXAMPLES: dict[str, dict[str, Any]] = {
    "ClassifyRequest": {"model": "sentiment", "texts": ["I love this!", "The service was slow."]},
    "EmbedRequest": {"model": "minilm-embed", "texts": ["a sentence to embed"]},
    "SimilarityRequest": {"model": "minilm-embed", "source": "How do I reset my password?",
                          "targets": ["Password reset steps", "Opening hours"]},
    "PredictRequest": {"instances": ["I love this!", {"text": "Not great."}]},
    "EmbeddingsRequest": {"model": "minilm-embed", "input": ["a sentence to embed"], "encoding_format": "float"},
    "TFClassifyRequest": {"examples": [{"text": "I love this!"}, {"text": "Not great."}]},
    "V2InferRequest": {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2],
                                   "data": ["I love this!", "Not great."]}]},
    "BatchRequest": {"format": "jsonl", "model": "sentiment", "texts": 1000},
    "TrainRequest": {"name": "support-tickets", "base_model": "minilm-embed",
                     "rows": "text,label\nMy invoice is wrong,billing\nThe app crashes on start,bug"},
    "PublishRequest": {"alias": "prod"},
    "SharingRequest": {"tokens": ["tok_0123456789abcdef"], "public": False},
    "SharingPatch": {"add": ["tok_0123456789abcdef"], "remove": ["tok_fedcba9876543210"]},
    "OpenAIBatchRequest": {"input_file_id": "file-0123456789abcdef01234567", "endpoint": "/v1/embeddings",
                           "completion_window": "24h"},
}


def _op(summary: str, tag: str, *, request: str | None = None, response: str, errors: tuple[int, ...],
        error_schema: str = "Problem", public: bool = False, params: list[dict] | None = None,
        description: str = "") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "operationId": summary.lower().replace(" ", "_"),
                          "responses": {"200": {"description": "OK", "content": {
                              "application/json": {"schema": _ref(response)}}}, **_errors(errors, error_schema)}}
    if description:
        op["description"] = description
    if request:
        media: dict[str, Any] = {"schema": _ref(request)}
        if request in EXAMPLES:
            media["example"] = EXAMPLES[request]
        op["requestBody"] = {"required": True, "content": {"application/json": media}}
    if public:
        op["security"] = []
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


def _page(summary: str, description: str) -> dict[str, Any]:
    return {"summary": summary, "description": description, "tags": ["service"], "security": [],
            "operationId": summary.lower().replace(" ", "_"),
            "responses": {"200": {"description": "a packaged static file"},
                          "404": {"description": "no such file", "content": {
                              "application/problem+json": {"schema": _ref("Problem")}}}}}


# one runnable example per protocol with its own client library ("{base}": the API's URL)
CODE_SAMPLES: dict[tuple[str, str], dict[str, str]] = {
    ("/v2/models/{name}/infer", "post"): {"label": "Python, tritonclient[http]", "source": """\
import os, numpy as np, tritonclient.http as http
client = http.InferenceServerClient(url="{base}".split("://", 1)[1], ssl="{base}".startswith("https"))
auth = {"Authorization": "Bearer " + os.environ["SNLP_TOKEN"]}
text = http.InferInput("text", [2], "BYTES")
text.set_data_from_numpy(np.array(["I love this!", "Not great."], dtype=object), binary_data=False)
out = http.InferRequestedOutput("probabilities", binary_data=False)  # JSON tensors: binary_data=False
result = client.infer("sentiment", [text], outputs=[out], headers=auth)
print(result.as_numpy("probabilities"))"""},
    ("/v1/embeddings", "post"): {"label": "Python, openai", "source": """\
import os
from openai import OpenAI
client = OpenAI(base_url="{base}/v1", api_key=os.environ["SNLP_TOKEN"])
got = client.embeddings.create(model="minilm-embed", input=["a sentence to embed"])
print(len(got.data[0].embedding), got.usage.total_tokens)
# a whole document, chunked and pooled: extra_body={"on_overflow": "chunk"}"""},
    ("/v1/models/{name}:predict", "post"): {"label": "Python, requests (TF Serving's own client is gRPC only)",
                                           "source": """\
import os, requests
auth = {"Authorization": "Bearer " + os.environ["SNLP_TOKEN"]}
rows = requests.post("{base}/v1/models/sentiment/versions/1:predict", headers=auth,
                     json={"instances": ["I love this!", "Not great."]}).json()["predictions"]
cols = requests.post("{base}/v1/models/sentiment:predict", headers=auth,
                     json={"inputs": {"text": ["I love this!"]}}).json()["outputs"]"""},
}
TF = "TensorFlow Serving"
V2 = "Open Inference Protocol v2"
VERSION_PARAM = _path_param("version", "version number (1, 2, … in publish order) or version name")
LABEL_PARAM = _path_param("label", "alias, e.g. prod or candidate")


def _tfserving_paths(name: dict[str, Any]) -> dict[str, Any]:
    """Every TF Serving route, for the model's default version, a version and an alias."""
    paths: dict[str, Any] = {}
    tf_err = dict(error_schema="TFServingError")
    verbs = {"predict": ("PredictRequest", "PredictResponse", ""),
             "classify": ("TFClassifyRequest", "TFClassifyResponse", "classification models only"),
             "regress": ("TFRegressRequest", "TFRegressResponse",
                         "answered with a clear 422: no model here is a regression model")}
    for suffix, params, what in (("", [name], ""), ("/versions/{version}", [name, VERSION_PARAM], " version"),
                                 ("/labels/{label}", [name, LABEL_PARAM], " label")):
        base = "/v1/models/{name}" + suffix
        for verb, (req, resp, description) in verbs.items():
            paths[f"{base}:{verb}"] = {"post": _op(f"TF {verb}{what}", TF, request=req, response=resp,
                                                   errors=INFER_ERRORS, params=params, description=description,
                                                   **tf_err)}
        paths[f"{base}/metadata"] = {"get": _op(f"TF metadata{what}", TF, response="TFModelMetadata",
                                                errors=READ_ERRORS, params=params, **tf_err)}
        if suffix:
            paths[base] = {"get": _op(f"TF model status{what}", TF, response="TFModelStatus", errors=READ_ERRORS,
                                      params=params, **tf_err)}
    return paths


def _v2_paths(name: dict[str, Any]) -> dict[str, Any]:
    err = dict(error_schema="V2Error")
    paths: dict[str, Any] = {
        "/v2/health/live": {"get": _op("V2 server live", V2, response="V2Live", errors=(500,), public=True, **err)},
        "/v2/health/ready": {"get": _op("V2 server ready", V2, response="V2Ready", errors=(500,), public=True,
                                        **err)},
        "/v2": {"get": _op("V2 server metadata", V2, response="V2Server", errors=READ_ERRORS, **err)},
    }
    for suffix, params, what in (("", [name], ""), ("/versions/{version}", [name, VERSION_PARAM], " version")):
        base = "/v2/models/{name}" + suffix
        paths[base] = {"get": _op(f"V2 model metadata{what}", V2, response="V2ModelMetadata", errors=READ_ERRORS,
                                  params=params, **err)}
        paths[base + "/ready"] = {"get": _op(f"V2 model ready{what}", V2, response="V2ModelReady",
                                             errors=READ_ERRORS, params=params, **err)}
        paths[base + "/infer"] = {"post": _op(f"V2 infer{what}", V2, request="V2InferRequest",
                                              response="V2InferResponse", errors=INFER_ERRORS, params=params, **err)}
    return paths


def _openai_batch_paths(settings: Settings) -> dict[str, Any]:
    """The OpenAI Batch API (functions/api/routes_openai_batch.py): files and batches."""
    file_id = _path_param("file_id", "the id POST /v1/files returned, or a batch's output/error file id")
    batch_id = _path_param("batch_id", "the id POST /v1/batches returned")
    upload = {**_op("Upload batch file", "OpenAI", response="OpenAIFile", errors=INFER_ERRORS,
                    description=f"multipart/form-data: file (JSONL, at most {settings.batch_file_max_bytes} bytes) "
                                "and purpose=batch")}
    upload["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file", "purpose"],
        "properties": {"file": {"type": "string", "format": "binary"}, "purpose": {"const": "batch"}}}}}}
    content = _op("Batch file content", "OpenAI", response="OpenAIFile", errors=READ_ERRORS, params=[file_id])
    content["responses"]["200"] = {"description": "the file's bytes (JSONL); a large file answers 302 to a "
                                                  "presigned S3 URL", "content": {"application/octet-stream": {}}}
    limit = {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1,
                                                                           "maximum": 100}}
    after = {"name": "after", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "a batch id: list the batches created before it"}
    return {
        "/v1/files": {"post": upload},
        "/v1/files/{file_id}": {"get": _op("Batch file", "OpenAI", response="OpenAIFile", errors=READ_ERRORS,
                                           params=[file_id])},
        "/v1/files/{file_id}/content": {"get": content},
        "/v1/batches": {"post": _op("Create OpenAI batch", "OpenAI", request="OpenAIBatchRequest",
                                    response="OpenAIBatch", errors=INFER_ERRORS,
                                    description="runs on the batch pipeline, on the same quota and meter as "
                                                "POST /v1/batch"),
                        "get": _op("List OpenAI batches", "OpenAI", response="OpenAIBatchList",
                                   errors=(*READ_ERRORS, 422), params=[limit, after])},
        "/v1/batches/{batch_id}": {"get": _op("OpenAI batch", "OpenAI", response="OpenAIBatch", errors=READ_ERRORS,
                                              params=[batch_id])},
        "/v1/batches/{batch_id}/cancel": {"post": _op("Cancel OpenAI batch", "OpenAI", response="OpenAIBatch",
                                                      errors=READ_ERRORS, params=[batch_id])},
    }


TRAIN_SCHEMAS: dict[str, Any] = {
    "TrainRequest": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,63}$",
                 "description": "the new model's name (taken by another token's model: 409)"},
        "base_model": {"type": "string", "default": "minilm-embed", "description": "an embedding model"},
        "rows": {"oneOf": [{"type": "string", "description": "CSV text,label (a header naming text and label "
                                                             "is allowed)"},
                           {"type": "array", "items": {"oneOf": [
                               {"type": "object", "properties": {"text": {"type": "string"},
                                                                 "label": {"type": "string"}}},
                               {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}]}}],
                 "description": "20-50,000 rows and 2-50 labels; with descriptions: an optional labelled sample"},
        "descriptions": {"type": "object", "additionalProperties": {"type": "string"},
                         "description": "zero-shot: label -> description; classifies by similarity to them"}}},
    "TrainJob": {"type": "object", "required": ["job_id", "status"], "properties": {
        "job_id": {"type": "string"}, "name": {"type": "string"}, "base_model": {"type": "string"},
        "kind": {"enum": ["train", "zero-shot"]},
        "status": {"enum": ["queued", "embedding", "fitting", "done", "failed", "publishing", "published"]},
        "rows": {"type": "integer"}, "training_data_sha256": {"type": ["string", "null"]},
        "progress": {"type": "object", "description": "stage, rows_embedded, rows, fold, folds, eta_s"},
        "metrics": {"type": "object"}, "evaluation": {"type": ["object", "null"], "description":
            "held_out, accuracy, macro_f1, per_label {precision, recall, f1, support}, labels, confusion "
            "(rows: true label), mistakes (the ten most confident)"},
        "model": {"type": "string", "description": "name@version once published"},
        "version_number": {"type": "integer"}, "error": {"type": ["string", "null"]}}},
    "SharingRequest": {"type": "object", "additionalProperties": False, "properties": {
        "tokens": {"type": "array", "maxItems": 50, "items": {"type": "string", "pattern": "^tok_[0-9a-f]{16}$"},
                   "default": [], "description": "token ids that may use the model besides you"},
        "public": {"type": "boolean", "default": False,
                   "description": "every token whose allowed models admit it may use the model"}}},
    "SharingPatch": {"type": "object", "additionalProperties": False, "properties": {
        "add": {"type": "array", "maxItems": 50, "items": {"type": "string", "pattern": "^tok_[0-9a-f]{16}$"}},
        "remove": {"type": "array", "maxItems": 50, "items": {"type": "string", "pattern": "^tok_[0-9a-f]{16}$"}},
        "public": {"type": "boolean"}}},
    "Sharing": {"type": "object", "required": ["model", "tokens", "public", "set_by"], "properties": {
        "model": {"type": "string"}, "tokens": {"type": "array", "items": {"type": "string"}},
        "public": {"type": "boolean"},
        "set_by": {"enum": ["publish", "owner"], "description": "publish: the manifests' publish-time sharing "
                                                                "(no change since); owner: the sharing record"},
        "propagation_s": {"type": "number", "description": "other API instances apply a change within this many "
                                                           "seconds (the alias cache TTL); this one at once"}}},
    "PublishRequest": {"type": "object", "properties": {
        "alias": {"type": "string", "default": "prod"},
        "share_with": {"type": "array", "maxItems": 50, "items": {"type": "string", "pattern": "^tok_[0-9a-f]{16}$"},
                       "description": "token ids that may use this version besides yours"}}},
    "EdgeBundle": {"type": "object", "required": ["model", "files", "runtime"], "properties": {
        "model": {"type": "string"}, "task": {"type": "string"}, "labels": {"type": "array", "items": {"type": "string"}},
        "max_length": {"type": "integer"}, "output_name": {"type": "string"}, "quantization": {"type": "string"},
        "files": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "url": {"type": "string"}, "bytes": {"type": "integer"}, "sha256": {"type": "string"}}}},
        "runtime": {"type": "object"}, "expires_in": {"type": "integer"}, "download_bytes": {"type": "integer"},
        "downloads_today": {"type": ["integer", "null"], "description": "this token's edge downloads today, this one "
                                                                        "included (null: not metered)"},
        "downloads_per_day": {"type": ["integer", "null"], "description": "the daily cap (null: none)"}}},
}


def _train_paths() -> dict[str, Any]:
    job_id = _path_param("job_id", "the id POST /v1/train returned")
    accepted = {"202": {"description": "accepted; poll GET /v1/train/{job_id}",
                        "content": {"application/json": {"schema": _ref("TrainJob")}}}}
    start = _op("Train a classifier", "training", request="TrainRequest", response="TrainJob", errors=INFER_ERRORS,
                description="Queues a training job: the rows are embedded with the base model (counted against "
                            "the daily quota: one text per row, plus each label description) and a logistic-"
                            "regression head is fitted with cross-validated regularisation.")
    publish = _op("Publish a trained classifier", "training", request="PublishRequest", response="TrainJob",
                  errors=(*READ_ERRORS, 409, 415, 422),
                  description="Composes the base model and the head into one ONNX model and publishes it as a new "
                              "immutable version, visible to this token only.", params=[job_id])
    for op in (start, publish):
        op["responses"] = {**accepted, **{k: v for k, v in op["responses"].items() if k != "200"}}
    publish["requestBody"]["required"] = False
    return {"/v1/train": {"post": start},
            "/v1/train/{job_id}": {"get": _op("Training job", "training", response="TrainJob", errors=READ_ERRORS,
                                              params=[job_id])},
            "/v1/train/{job_id}/publish": {"post": publish}}


def _sharing_paths(name: dict[str, Any]) -> dict[str, Any]:
    """The owner's share-later / unshare routes of a trained model."""
    owner_only = ("Only the model's owner (the token that trained it): 403 not-model-owner for a token that "
                  "can see it, 404 for one that cannot. ")
    cond = ("Conditional: send the ETag you read as If-Match and a record changed since is 412 "
            "precondition-failed; without If-Match, concurrent changes are applied one after the other. ")
    after = ("Replaces the versions' publish-time sharing for every version. Other API instances apply it "
             "within the alias cache TTL (propagation_s); after unsharing, every route answers 404 to the others.")
    if_match = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
                "description": "the ETag of GET /v1/models/{name}/sharing"}
    write = (*READ_ERRORS, 412, 415, 422)
    ops = {
        "get": _op("Model sharing", "models", response="Sharing", errors=READ_ERRORS, params=[name],
                   description=owner_only + "Who the model is shared with now; the ETag header versions it."),
        "put": _op("Set model sharing", "models", request="SharingRequest", response="Sharing", errors=write,
                   params=[name, if_match], description=owner_only + "Replaces the sharing. " + cond + after),
        "patch": _op("Change model sharing", "models", request="SharingPatch", response="Sharing", errors=write,
                     params=[name, if_match],
                     description=owner_only + "Adds and removes token ids, and/or sets public. " + cond + after),
        "delete": _op("Unshare model", "models", response="Sharing", errors=(*READ_ERRORS, 412),
                      params=[name, if_match],
                      description=owner_only + "Shares the model with nobody: only you see it. " + cond + after),
    }
    return {"/v1/models/{name}/sharing": ops}


def build_openapi(settings: Settings) -> dict[str, Any]:
    name = _path_param("name", "model name")
    paths: dict[str, Any] = {
        "/health": {"get": _op("Health", "service", response="Health", errors=(500,), public=True)},
        "/v1/models": {"get": _op("List models", "models", response="ModelList", errors=READ_ERRORS,
                                  description="Models this token may use (OpenAI list shape).")},
        "/v1/models/{name}": {"get": _op("Describe model", "models", response="ModelInfo", errors=READ_ERRORS,
                                         params=[name])},
        "/v1/classify": {"post": _op("Classify", "native", request="ClassifyRequest", response="ClassifyResponse",
                                     errors=INFER_ERRORS)},
        "/v1/embed": {"post": _op("Embed", "native", request="EmbedRequest", response="EmbedResponse",
                                  errors=INFER_ERRORS)},
        "/v1/similarity": {"post": _op("Similarity", "native", request="SimilarityRequest",
                                       response="SimilarityResponse", errors=INFER_ERRORS)},
        **_sharing_paths(name),
        **_tfserving_paths(name),
        **_v2_paths(name),
        "/v1/embeddings": {"post": _op("Create embeddings", "OpenAI", request="EmbeddingsRequest",
                                       response="EmbeddingsResponse", errors=INFER_ERRORS)},
        "/v1/batch": {"post": {**_op("Create batch job", "batch", request="BatchRequest", response="BatchJob",
                                     errors=(400, 401, 403, 404, 413, 415, 422, 429, 500, 503)),
                               "responses": {"201": {"description": "job created; upload the file next",
                                                     "content": {"application/json": {"schema": _ref("BatchJob")}}},
                                             **_errors((400, 401, 403, 404, 413, 415, 422, 429, 500, 503))}}},
        "/v1/usage": {"get": _op("Usage", "service", response="Usage", errors=(400, 401, 403, 422, 500, 503),
                                 params=[{"name": "month", "in": "query", "required": False,
                                          "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}$"},
                                          "description": "YYYY-MM (default: this month, UTC)"}],
                                 description="Your token's requests, texts and tokens today and this month, "
                                             "its quota and its per-minute rate limits.")},
        "/v1/batch/{job_id}": {"get": _op("Batch job status", "batch", response="BatchStatus", errors=READ_ERRORS,
                                          params=[_path_param("job_id", "the id POST /v1/batch returned")])},
        **_openai_batch_paths(settings),
        **_train_paths(),
        "/v1/edge/{ref}": {"get": _op(
            "Edge bundle", "models", response="EdgeBundle", errors=(*READ_ERRORS, 422, 429),
            params=[_path_param("ref", "a model reference: name, name:alias or name@version"),
                    {"name": "runtime", "in": "query", "required": True,
                     "schema": {"type": "string", "pattern": r"^\d{1,3}\.\d{1,3}\.\d{1,3}$"},
                     "description": "the page's onnxruntime-web version (its WebAssembly binary must match)"}],
            description="Presigned S3 URLs of the model's ONNX file and tokenizer.json and of onnxruntime-web's "
                        "WebAssembly binary, to run the model in the browser (edge mode). Runs no model, so "
                        "no texts are metered; downloads are capped per token per UTC day (429 rate-limited "
                        "with Retry-After over the cap).")},
        "/openapi.json": {"get": {"summary": "This document", "tags": ["service"], "operationId": "openapi",
                                  "security": [], "responses": {"200": {"description": "OpenAPI 3.1 document",
                                                                        "content": {"application/json": {}}}}}},
        "/": {"get": _page("Web page", "the web page for people (sign in with a token, try a model)")},
        "/app/{name}": {"get": {**_page("Web page asset", "the page's script, style and cost table"),
                                "parameters": [_path_param("name", "app.js, app.css or cost.json")]}},
        "/app/vendor/{name}": {"get": {**_page("Web page module", "an npm ES module packaged with the page "
                                                                  "(onnxruntime-web, tokenizers)"),
                                       "parameters": [_path_param("name", "a packaged module file name")]}},
        "/static/{filename}": {"get": {**_page("Docs asset", "this page's script and style"),
                                       "parameters": [_path_param("filename", "docs.js or docs.css")]}},
        "/docs": {"get": {"summary": "API documentation page", "tags": ["service"], "operationId": "docs",
                          "security": [], "responses": {"200": {"description": "HTML page",
                                                                "content": {"text/html": {}}}}}},
    }
    for (path, method), sample in CODE_SAMPLES.items():
        paths[path][method]["x-codeSamples"] = [sample]
    return {
        "openapi": "3.1.0",
        "info": {"title": "Serverless NLP API", "version": "1.0.0",
                 "description": (
                     "Sentiment classification and sentence embeddings. Every route except /health, "
                     "/v2/health/* and the "
                     "docs needs `Authorization: Bearer <token>` or `x-api-key: <token>` (never in the URL). "
                     "Errors are RFC 9457 `application/problem+json` with a stable `type` "
                     f"({TYPE_BASE}<code>); TensorFlow Serving and Open Inference Protocol v2 routes answer "
                     "`{\"error\": ...}` as those protocols specify. "
                     f"Limits: {settings.max_texts} texts per request, {settings.max_chars} characters per text "
                     f"({settings.max_document_chars} with on_overflow: chunk, and {settings.max_windows} model "
                     "windows per request), "
                     f"{settings.max_body_bytes} bytes per body. Quotas count texts per UTC day; over it, 429 "
                     "with Retry-After (seconds to 00:00 UTC). Rate limits count requests and texts per token "
                     "per minute: every answer carries x-ratelimit-limit-*, x-ratelimit-remaining-* and "
                     "x-ratelimit-reset-* for requests and texts; over a limit, 429 rate-limited with "
                     "Retry-After. GET /v1/usage shows a token its own usage. A revoked token stops working within "
                     f"{settings.token_cache_ttl_s:g} s (the token cache TTL); an unshared model (DELETE "
                     f"/v1/models/{{name}}/sharing) within {settings.alias_ttl_s:g} s (the alias cache TTL). "
                     "Wrong Content-Type: 415.")},
        "servers": [{"url": "/"}],
        "tags": [{"name": t} for t in ("native", "OpenAI", TF, V2, "models", "batch", "training", "service")],
        "paths": paths,
        "components": {"schemas": {**_schemas(settings), **TRAIN_SCHEMAS}, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}}},
        "security": [{"bearer": []}, {"apiKey": []}],
    }


__all__ = ["build_openapi"]
