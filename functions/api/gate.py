"""What every request goes through before and after its route, with or without Flask.

The Flask app's hooks (functions/api/app.py) and the direct path for hot HTTP API routes
(functions/api/direct.py) both call these, so a request is checked, answered on error, given
its headers and logged by one set of rules whichever way it came in:

- ``request_id``: the caller's x-request-id / x-correlation-id, else API Gateway's requestId, else new;
- ``check_query``: 400 for a token in the query string, before anything could log it (Flask's
  path: the direct path serves no request with a query string);
- ``check_length``, ``check_body``: 413 before the body is parsed;
- ``problem``: any exception as its problem answer (RFC 9457; the route family's error style),
  logged (unexpected ones with their stack trace) and counted in the Errors metric;
- ``finish_headers``: the request id and the caller's rate-limit headers on every answer;
- ``access_log``: the access line (sampled per stage; errors always), from the request's facts.
"""
from __future__ import annotations

import sys
import uuid
from typing import Any, Mapping

from .context import ApiServices, RequestFacts
from .errors import (ApiError, MethodNotAllowedError, PayloadTooLargeError, RouteNotFoundError, TokenInQueryError,
                     problem_payload, to_problem)
from .telemetry import keep_access_log, write_access_log

REQUEST_ID_HEADERS = ("x-request-id", "x-correlation-id")
BODY_METHODS = ("POST", "PUT", "PATCH")  # whose bodies are read, and size-checked, before the route
QUERY_SECRETS = ("token", "api_key", "apikey", "access_token", "key")


def request_id(headers: Any, event: Mapping[str, Any] | None) -> str:
    """The caller's x-request-id / x-correlation-id, else API Gateway's requestId, else a new one.
    ``headers``: anything with a case-insensitive ``get``; ``event``: the Lambda event, if any."""
    for header in REQUEST_ID_HEADERS:
        value = headers.get(header)
        if value and len(value) <= 128 and value.isprintable():
            return value
    rid = ((event or {}).get("requestContext") or {}).get("requestId")
    return str(rid) if rid else uuid.uuid4().hex


def check_query(args: Any) -> None:
    """400 for a query string that carries a token (``args``: its parameter names, iterable)."""
    if any(k.lower() in QUERY_SECRETS for k in args):
        raise TokenInQueryError("tokens in the URL end up in access logs: send it in the Authorization "
                                "header (Bearer) or x-api-key instead; consider this token exposed")


def check_length(max_body: int, content_length: int | None) -> None:
    """413 for a body whose declared length is over ``max_body``, before anything reads it."""
    if content_length is not None and content_length > max_body:
        raise PayloadTooLargeError(f"the body has {content_length} bytes; the limit is {max_body}")


def check_body(max_body: int, body: bytes) -> None:
    """413 for a body (of a BODY_METHODS request) whose bytes are over ``max_body``."""
    if len(body) > max_body:
        raise PayloadTooLargeError(f"the body is over the limit of {max_body} bytes")


def error_style(path: str) -> str:
    # the protocols' modules hold their path rules; they import Flask, so only when an error is answered
    from . import routes_openai_batch, routes_tfserving, routes_v2

    if routes_tfserving.is_tfserving_path(path) or routes_v2.is_v2_path(path):
        return "tfserving"  # both protocols answer errors as {"error": "..."}
    if path == "/v1/embeddings" or path.startswith(routes_openai_batch.PATHS):
        return "openai"
    return "problem"


def problem(ctx: ApiServices, exc: Exception, method: str, path: str,
            seen: RequestFacts | None) -> tuple[int, dict[str, str], str, str]:
    """(status, headers, body, content type) of the answer to ``exc``. Call it while ``exc`` is
    being handled: an unexpected error is logged with its stack trace."""
    exc = from_werkzeug(exc, method, path)
    answer = to_problem(exc)
    rid = seen.request_id if seen is not None else None
    if answer.code == "internal":
        ctx.logger.exception("unhandled error", extra={"path": path, "request_id": rid})
    elif answer.status >= 500:
        ctx.logger.warning("unavailable", extra={"code": answer.code, "detail": getattr(exc, "detail", ""),
                                                 "path": path})
    ctx.telemetry.error(answer.code)
    body, content_type = problem_payload(answer, path, rid, style=error_style(path))
    return answer.status, answer.headers, body, content_type


def from_werkzeug(exc: Exception, method: str, path: str) -> Exception:
    """Flask's routing and size errors as the API's own (404, 405 with Allow, 413); other
    werkzeug HTTP errors as a plain 400."""
    exceptions = sys.modules.get("werkzeug.exceptions")  # not loaded: no werkzeug error can have been raised
    if exceptions is None or not isinstance(exc, exceptions.HTTPException):
        return exc
    NotFound, MethodNotAllowed = exceptions.NotFound, exceptions.MethodNotAllowed  # noqa: N806
    if isinstance(exc, NotFound):
        return RouteNotFoundError(f"no route {method} {path[:200]}")
    if isinstance(exc, MethodNotAllowed):
        allow = ", ".join(sorted(exc.valid_methods or ()))
        return MethodNotAllowedError(f"{method} is not allowed here; use {allow}", headers={"Allow": allow})
    if isinstance(exc, exceptions.RequestEntityTooLarge):
        return PayloadTooLargeError("the request body is over the size limit")
    return ApiError("the request could not be understood")


def rate_limit_headers(status: dict[str, tuple[int, int, int]]) -> dict[str, str]:
    """{"requests"|"texts": (limit, remaining, reset seconds)} -> the x-ratelimit-* headers
    (functions/api/routes_usage.py says what they mean)."""
    headers: dict[str, str] = {}
    for kind, (limit, remaining, reset) in status.items():
        headers[f"x-ratelimit-limit-{kind}"] = str(limit)
        headers[f"x-ratelimit-remaining-{kind}"] = str(remaining)
        headers[f"x-ratelimit-reset-{kind}"] = f"{reset}s"
    return headers


def finish_headers(ctx: ApiServices, seen: RequestFacts | None) -> dict[str, str]:
    """The headers every answer gets: its request id, and the caller's rate-limit figures."""
    headers = {"x-request-id": seen.request_id if seen is not None else ""}
    principal = seen.principal if seen is not None else None
    if principal is not None and ctx.metered:
        headers.update(rate_limit_headers(ctx.meter.rate_status(principal)))
    return headers


def access_log(ctx: ApiServices, status: int, seen: RequestFacts | None, method: str, path: str) -> None:
    """One line per request (successes sampled per stage); never the token, never the texts."""
    if not keep_access_log(status, ctx.settings.access_log_sample_rate, (seen.request_id if seen else None) or ""):
        return
    seen = seen or RequestFacts(ctx.clock(), None)  # failed before the gate ran
    principal = seen.principal
    write_access_log(ctx.logger, ctx.settings.access_log_fields, status,
                     {"input": seen.input_texts} if ctx.settings.log_texts else None,
                     method=method, path=path, request_id=seen.request_id,
                     token_id=principal.token_id if principal is not None else None, model=seen.model,
                     texts=seen.texts, tokens=seen.tokens, ms=round((ctx.clock() - seen.t0) * 1e3, 3))


__all__ = ["request_id", "check_query", "check_length", "check_body", "error_style", "problem", "from_werkzeug",
           "finish_headers", "access_log", "rate_limit_headers", "REQUEST_ID_HEADERS", "BODY_METHODS", "QUERY_SECRETS"]
