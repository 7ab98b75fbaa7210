"""The OpenAI Batch API: /v1/files and /v1/batches, thin adapters over
:class:`functions.batch.openai_batch.OpenAIBatches` (the batch pipeline does the work).

The official ``openai`` client's flow works unchanged: ``files.create(purpose="batch")`` ->
``batches.create(endpoint="/v1/embeddings" | "/v1/classify", completion_window="24h")`` ->
``batches.retrieve`` -> ``files.content(output_file_id)``. Errors carry OpenAI's ``error``
member (the app's "openai" error style) on top of problem+json.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from flask import Blueprint, Response, redirect, request

from functions.api.context import json_response, read_json_body
from functions.api.errors import PayloadTooLargeError, UnsupportedMediaTypeError
from functions.nlp.errors import InputTypeError

from .routes_batch import _field, _require_model

PATHS = ("/v1/files", "/v1/batches")  # the routes of this module (error style: openai)


def _limit(value: str | None) -> int:
    if value is None:
        return 20
    if not re.fullmatch(r"[0-9]{1,3}", value) or not 1 <= int(value) <= 100:
        raise InputTypeError("limit must be an integer from 1 to 100")
    return int(value)


def openai_batch_blueprint(batches: Any, current_token: Callable[[], Any]) -> Blueprint:
    """Routes over ``batches`` (OpenAIBatches); ``current_token()`` is the caller's token record."""
    bp = Blueprint("openai_batch", __name__)

    def owner_id() -> str:
        return str(_field(current_token(), "token_id"))

    @bp.post("/v1/files")
    def create_file() -> Response:
        owner = owner_id()
        if request.mimetype != "multipart/form-data":
            raise UnsupportedMediaTypeError("upload the file as multipart/form-data: fields 'file' and 'purpose'")
        upload = request.files.get("file")
        if upload is None:
            raise InputTypeError("the form has no 'file' field")
        limit = batches.max_file_bytes
        data = upload.read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLargeError(f"the file is over the limit of {limit} bytes: split it into several batches")
        return json_response(batches.create_file(owner, upload.filename or "", request.form.get("purpose", ""), data))

    @bp.get("/v1/files/<file_id>")
    def get_file(file_id: str) -> Response:
        return json_response(batches.get_file(file_id, owner_id()))

    @bp.get("/v1/files/<file_id>/content")
    def file_content(file_id: str) -> Response:
        data, url = batches.file_content(file_id, owner_id())
        if url is not None:  # larger than a Lambda response may be: straight from S3
            return redirect(url, code=302)
        return Response(data, content_type="application/octet-stream")

    @bp.post("/v1/batches")
    def create_batch() -> Response:
        token = current_token()
        body = read_json_body(shape='the body must be a JSON object: {"input_file_id", "endpoint", '
                                    '"completion_window": "24h", "metadata"?}')
        # the token record itself: the job is admitted against its quota, as POST /v1/batch does
        owner = token if hasattr(token, "quota_per_day") else str(_field(token, "token_id"))
        return json_response(batches.create_batch(owner, str(_field(token, "token_id")), body,
                                                  lambda ref: _require_model(token, ref)))

    @bp.get("/v1/batches/<batch_id>")
    def get_batch(batch_id: str) -> Response:
        return json_response(batches.get_batch(batch_id, owner_id()))

    @bp.post("/v1/batches/<batch_id>/cancel")
    def cancel_batch(batch_id: str) -> Response:
        return json_response(batches.cancel_batch(batch_id, owner_id()))

    @bp.get("/v1/batches")
    def list_batches() -> Response:
        return json_response(batches.list_batches(owner_id(), _limit(request.args.get("limit")),
                                                  request.args.get("after")))

    return bp


__all__ = ["openai_batch_blueprint", "PATHS"]
