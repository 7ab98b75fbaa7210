"""The one place where errors become HTTP: RFC 9457 problem+json (TF Serving routes: {"error"}).

Every expected error carries a stable ``code``; its problem ``type`` is
``https://serverless-nlp.dev/problems/<code>``. Anything unexpected is logged with its stack
trace by the caller and answered with a generic 500 whose body says nothing about the inside.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from functions.auth.errors import AccessError
from functions.nlp.errors import NlpError

TYPE_BASE = "https://serverless-nlp.dev/problems/"
PROBLEM_JSON = "application/problem+json"
UNAVAILABLE_RETRY_S = 5


class ApiError(Exception):
    """An error of the HTTP layer itself (malformed body, route, size, method); its status is CATALOG's."""

    code = "bad-request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class MalformedJsonError(ApiError):
    code = "malformed-json"


class UnsupportedMediaTypeError(ApiError):
    code = "unsupported-media-type"


class TokenInQueryError(ApiError):
    code = "token-in-query"


class RouteNotFoundError(ApiError):
    code = "not-found"


class MethodNotAllowedError(ApiError):
    code = "method-not-allowed"


class PayloadTooLargeError(ApiError):
    code = "payload-too-large"


@dataclass(frozen=True)
class Problem:
    code: str
    status: int
    title: str
    detail: str
    headers: dict[str, str]

    @property
    def type(self) -> str:
        return TYPE_BASE + self.code

    def body(self, instance: str, request_id: str | None = None, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status,
                               "detail": self.detail, "instance": instance}
        if request_id:
            out["request_id"] = request_id
        out.update(extra)
        return out


# code -> (status, title). The codes are the public contract (openapi.json lists them).
CATALOG: dict[str, tuple[int, str]] = {
    "bad-request": (400, "Bad request"),
    "malformed-json": (400, "Malformed JSON body"),
    "token-in-query": (400, "Token in the query string"),
    "missing-token": (401, "Missing access token"),
    "invalid-token": (401, "Invalid access token"),
    "token-revoked": (403, "Access token revoked"),
    "model-not-allowed": (403, "Model not allowed for this token"),
    "not-model-owner": (403, "Not the model's owner"),
    "not-found": (404, "Not found"),
    "model-not-found": (404, "Model not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "conflict": (409, "Conflict"),
    "precondition-failed": (412, "Precondition failed"),
    "payload-too-large": (413, "Payload too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "validation": (422, "Invalid input"),
    "invalid-input": (422, "Invalid input"),
    "empty-input": (422, "Empty input"),
    "too-many-texts": (422, "Too many texts"),
    "text-too-long": (422, "Text too long"),
    "wrong-task": (422, "Model does not do this task"),
    "quota-exceeded": (429, "Daily quota exceeded"),
    "rate-limited": (429, "Rate limit exceeded"),
    "internal": (500, "Internal server error"),
    "invalid-manifest": (503, "Model unavailable"),
    "artifact-integrity": (503, "Model unavailable"),
    "model-unavailable": (503, "Model unavailable"),
    "auth-unavailable": (503, "Token service unavailable"),
    "jobs-unavailable": (503, "Batch service unavailable"),
}
_INTERNAL_DETAIL = "an unexpected error occurred; it has been logged"
# what the artifact errors say inside goes to the logs, not to users
_OPAQUE_DETAIL = {
    "artifact-integrity": "the model artifact failed verification and is not served; try again later",
    "invalid-manifest": "the model artifact is invalid and is not served; try again later",
}


def to_problem(exc: BaseException) -> Problem:
    """Map any exception to a Problem. Unknown ones become a detail-free 500."""
    if isinstance(exc, (NlpError, AccessError, ApiError)):
        code = exc.code if exc.code in CATALOG else "internal"
        status, title = CATALOG[code]
        headers: dict[str, str] = dict(getattr(exc, "headers", {}) or {})
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is None and status == 503:
            retry_after = UNAVAILABLE_RETRY_S
        if retry_after is not None:
            headers["Retry-After"] = str(int(retry_after))
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="serverless-nlp"'
        detail = _INTERNAL_DETAIL if code == "internal" else _OPAQUE_DETAIL.get(code, exc.detail)
        return Problem(code, status, title, detail, headers)
    return Problem("internal", 500, CATALOG["internal"][1], _INTERNAL_DETAIL, {})


def problem_payload(problem: Problem, instance: str, request_id: str | None, *, style: str = "problem") -> tuple[
        str, str]:
    """(body text, content type) in the route family's error style.

    ``problem``: RFC 9457. ``tfserving``: ``{"error": detail}``. ``openai``: RFC 9457 plus an
    ``error`` member shaped like OpenAI's, so OpenAI clients show a useful message.
    """
    if style == "tfserving":
        return json.dumps({"error": problem.detail}), "application/json"
    extra: dict[str, Any] = {}
    if style == "openai":
        extra["error"] = {"message": problem.detail, "type": problem.code, "code": problem.code}
    return json.dumps(problem.body(instance, request_id, **extra)), PROBLEM_JSON


__all__ = ["ApiError", "MalformedJsonError", "UnsupportedMediaTypeError", "TokenInQueryError", "RouteNotFoundError",
           "MethodNotAllowedError", "PayloadTooLargeError", "Problem", "CATALOG", "TYPE_BASE", "PROBLEM_JSON",
           "to_problem", "problem_payload"]
