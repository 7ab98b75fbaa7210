"""POST /v1/batch and GET /v1/batch/<job_id>: thin HTTP adapters over the batch job service.

Errors are raised as typed errors (functions.nlp.errors, functions.auth.errors) and turned
into problem+json by the app's single error mapper.
"""
from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, jsonify

from functions.api.context import read_json_body
from functions.api.errors import PayloadTooLargeError
from functions.auth.errors import ModelNotAllowedError
from functions.nlp.errors import InputTypeError
from functions.store.refs import parse_ref

FORMATS_BY_SUFFIX = {".jsonl": "jsonl", ".csv": "csv"}


def _field(token: Any, name: str) -> Any:
    return token.get(name) if isinstance(token, dict) else getattr(token, name, None)


def _require_model(token: Any, ref: str) -> None:
    name = parse_ref(ref).name  # an invalid reference is a 404 model-not-found
    if hasattr(token, "require_model"):  # functions.auth.tokens.TokenRecord
        token.require_model(name)
        return
    models = _field(token, "models")
    if models in (None, "*") or (not isinstance(models, str) and "*" in models):
        return
    allowed = (models,) if isinstance(models, str) else tuple(models)
    if name not in allowed:
        raise ModelNotAllowedError(f"this token may not use model {name}")


def _read_body() -> dict[str, Any]:
    """The body as a JSON object ({} when empty), parsed like every other API route."""
    return read_json_body(allow_empty=True, shape='the body must be a JSON object: '
                                                  '{"format": "jsonl"|"csv", "model"?, "texts"?, "bytes"?}')


def _check_size(declared: Any, limit: int) -> None:
    """A file declared bigger than an upload may be gets its 413 now, before any job or reservation."""
    if declared is None:
        return
    if isinstance(declared, bool) or not isinstance(declared, int) or declared < 0:
        raise InputTypeError("bytes must be the file's size: a non-negative integer")
    if declared > limit:
        raise PayloadTooLargeError(f"the file has {declared} bytes; a batch upload may have at most {limit}: "
                                   "split it into several jobs")


def batch_blueprint(jobs: Any, current_token: Callable[[], Any]) -> Blueprint:
    """Routes over ``jobs`` (a functions.batch.jobs.JobService); ``current_token()`` is the caller."""
    bp = Blueprint("batch", __name__)

    @bp.post("/v1/batch")
    def create_job():  # type: ignore[no-untyped-def]
        token = current_token()  # 401 before anything about the body
        body = _read_body()
        fmt = body.get("format")
        filename = body.get("filename")
        if fmt is None and isinstance(filename, str):
            fmt = next((f for s, f in FORMATS_BY_SUFFIX.items() if filename.lower().endswith(s)), None)
        if fmt is None:
            fmt = "jsonl"
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise InputTypeError("model must be a string")
        if not isinstance(fmt, str) or fmt.lower() not in FORMATS_BY_SUFFIX.values():
            raise InputTypeError("format must be one of jsonl, csv")
        _require_model(token, model or jobs.default_model)
        _check_size(body.get("bytes"), jobs.max_upload_bytes)
        # the token record itself: the job is admitted against its quota (429 when it is used up)
        owner = token if hasattr(token, "quota_per_day") else str(_field(token, "token_id"))
        job = jobs.create_job(owner, fmt, model, texts=body.get("texts"))
        response = jsonify(job)
        response.status_code = 201
        response.headers["Location"] = f"/v1/batch/{job['job_id']}"
        return response

    @bp.get("/v1/batch/<job_id>")
    def job_status(job_id: str):  # type: ignore[no-untyped-def]
        token = current_token()
        return jsonify(jobs.get_job(job_id, str(_field(token, "token_id"))))

    return bp


__all__ = ["batch_blueprint"]
