"""API Gateway HTTP API (payload 2.0) events straight into the WSGI app, without a werkzeug detour.

``serverless_wsgi.handle_request`` wraps the headers in a werkzeug ``Headers``, runs the app
through ``Response.from_app`` and walks the answer's headers again: about half the framework
time of a request (~75 µs of ~150 µs measured with Flask, bench/overhead.py). ``handle`` builds
the same WSGI environ from the event with plain dicts, calls the app once and builds the same
Lambda answer; the event-independent settings serverless-wsgi reads from the environment on
every request (``STRIP_STAGE_PATH``, ``API_GATEWAY_BASE_PATH``) are read once, when the adapter
is made. Everything else (REST API 1.0, ALB, warm-up and Lambda-integration events) goes to
serverless-wsgi itself. tests/unit/api/test_lambda_http.py checks both give the same answers.
"""
from __future__ import annotations

import base64
import io
import sys
from typing import Any, Callable, Mapping
from urllib.parse import unquote

import serverless_wsgi
from werkzeug.datastructures import Headers

_TRUE = ("yes", "y", "true", "t", "1")  # serverless-wsgi's STRIP_STAGE_PATH values
_SKIPPED = ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH")


def make(app: Any, environ: Mapping[str, str]) -> Callable[[dict, Any], dict]:
    """``handle(event, context)`` for ``app``; ``environ`` is read now, not per request."""
    strip_stage_path = environ.get("STRIP_STAGE_PATH", "").lower().strip() in _TRUE
    base_path = environ.get("API_GATEWAY_BASE_PATH")

    def handle(event: dict, context: Any) -> dict:
        if event.get("version") != "2.0" or event.get("source") in ("aws.events", "serverless-plugin-warmup"):
            return serverless_wsgi.handle_request(app, event, context)
        return _respond(app, _environ_v2(event, context, strip_stage_path, base_path), event)

    return handle


def _environ_v2(event: dict, context: Any, strip_stage_path: bool, base_path: str | None) -> dict[str, Any]:
    """serverless_wsgi.handle_payload_v2's environ, built from plain dicts."""
    headers: dict[str, str] = dict(event["headers"])
    lower: dict[str, str] = {}
    for key, value in headers.items():
        lower.setdefault(key.lower(), value)  # werkzeug's Headers.get: the first match, any case
    request_context = event.get("requestContext", {})
    host = lower.get("host", "")
    script_name = f"/{request_context.get('stage', '')}" if "amazonaws.com" in host and not strip_stage_path else ""
    path_info = event["rawPath"]
    if "?" in path_info:
        path_info = path_info.split("?")[0]
    if base_path:
        script_name = "/" + base_path
        if path_info.startswith(script_name):
            path_info = path_info[len(script_name):]
    body = event.get("body", "")
    if event.get("isBase64Encoded", False):
        body = base64.b64decode(body)
    if isinstance(body, str):
        body = body.encode("utf-8")
    http = request_context.get("http", {})
    environ: dict[str, Any] = {
        "CONTENT_LENGTH": str(len(body or "")),
        "CONTENT_TYPE": lower.get("content-type", ""),
        "PATH_INFO": unquote(path_info),
        "QUERY_STRING": event.get("rawQueryString", ""),
        "REMOTE_ADDR": http.get("sourceIp", ""),
        "REMOTE_USER": request_context.get("authorizer", {}).get("principalId", ""),
        "REQUEST_METHOD": http.get("method", ""),
        "SCRIPT_NAME": script_name,
        "SERVER_NAME": host or "lambda",
        "SERVER_PORT": lower.get("x-forwarded-port", "443"),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.errors": sys.stderr,
        "wsgi.input": io.BytesIO(body),
        "wsgi.multiprocess": False,
        "wsgi.multithread": False,
        "wsgi.run_once": False,
        "wsgi.url_scheme": lower.get("x-forwarded-proto", "https"),
        "wsgi.version": (1, 0),
        "serverless.authorizer": request_context.get("authorizer"),
        "serverless.event": event,
        "serverless.context": context,
    }
    for key, value in environ.items():  # WSGI strings are latin-1 (PEP 3333)
        if isinstance(value, str) and not value.isascii():
            environ[key] = value.encode("utf-8").decode("latin1", "replace")
    cookie = "; ".join(event.get("cookies", []))
    for key, value in (*headers.items(), ("Cookie", cookie)):
        name = "HTTP_" + key.upper().replace("-", "_")
        if name not in _SKIPPED:
            environ[name] = value
    return environ


def _respond(app: Any, environ: dict[str, Any], event: dict) -> dict:
    """Run the app once; the Lambda answer serverless_wsgi.generate_response would give."""
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
        started[:] = (status, headers)
        return _no_write

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    status, header_list = started
    if not any(name.lower() == "content-type" for name, _ in header_list):
        header_list = [*header_list, ("Content-Type", "text/plain; charset=utf-8")]  # as Response.from_app
    answer: dict[str, Any] = {"statusCode": int(status.split(" ", 1)[0])}
    names = {name.lower() for name, _ in header_list}
    if event.get("multiValueHeaders"):
        answer["multiValueHeaders"] = serverless_wsgi.group_headers(Headers(header_list))
    elif len(names) < len(header_list):  # a repeated header: serverless-wsgi's casing trick
        answer["headers"] = serverless_wsgi.split_headers(Headers(header_list))
    else:
        answer["headers"] = dict(header_list)
    if body:
        fields = {name.lower(): value for name, value in reversed(header_list)}  # the first wins
        mimetype = fields.get("content-type", "").partition(";")[0].strip() or "text/plain"
        if (mimetype.startswith("text/") or mimetype in serverless_wsgi.TEXT_MIME_TYPES) \
                and not fields.get("content-encoding", ""):
            answer["body"] = body.decode()
            answer["isBase64Encoded"] = False
        else:
            answer["body"] = base64.b64encode(body).decode("utf-8")
            answer["isBase64Encoded"] = True
    return answer


def _no_write(data: bytes) -> None:
    raise RuntimeError("this adapter does not support the WSGI write() callable")


__all__ = ["make"]
