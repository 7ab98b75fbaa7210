"""API Gateway HTTP API (payload 2.0) events straight into the WSGI app, without a werkzeug detour.

``serverless_wsgi.handle_request`` wraps the headers in a werkzeug ``Headers``, runs the app
through ``Response.from_app`` and walks the answer's headers again: about half the framework
time of a request (~75 µs of ~150 µs measured with Flask, bench/overhead.py). ``handle`` builds
the same WSGI environ from the event with plain dicts, calls the app once and builds the same
Lambda answer; the event-independent settings serverless-wsgi reads from the environment on
every request (``STRIP_STAGE_PATH``, ``API_GATEWAY_BASE_PATH``) are read once, when the adapter
is made. Everything else (REST API 1.0, ALB, warm-up and Lambda-integration events) goes to
serverless-wsgi itself. tests/unit/api/test_lambda_http.py checks both give the same answers.

With ``direct`` (functions/api/direct.py), HTTP API POSTs to its few hot paths skip the WSGI app
altogether: the event's headers and body are read the way the environ would hold them
(``HttpHeaders``) and the answer is built by the same ``_answer``; tests/unit/api/test_direct.py
checks the direct and the Flask answers are the same.
"""
from __future__ import annotations

import base64
import io
import sys
from typing import TYPE_CHECKING, Any, Callable, Protocol
from urllib.parse import unquote

if TYPE_CHECKING:
    from functions.settings import Settings

# serverless-wsgi's TEXT_MIME_TYPES (answered as text, not base64) and the API's own: problem+json.
# serverless-wsgi (and werkzeug under it) is imported only for what goes through it, so the hot
# routes' cold start loads neither; ``_serverless_wsgi`` adds EXTRA_TEXT_MIME_TYPES to its list.
SERVERLESS_WSGI_TEXT_MIME_TYPES = ("application/json", "application/javascript", "application/xml",
                                   "application/vnd.api+json", "image/svg+xml")
EXTRA_TEXT_MIME_TYPES = ("application/problem+json",)
_SKIPPED = ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH")  # the environ has CONTENT_TYPE / _LENGTH instead


class Direct(Protocol):
    """Routes served without the WSGI app (functions/api/direct.py): ``paths`` it answers
    (POST, no query string), and ``serve(event, context, path, headers, body)`` -> (status,
    header list, body bytes) for one of them."""

    paths: frozenset[str]

    def serve(self, event: dict, context: Any, path: str, headers: "HttpHeaders", body: bytes) -> tuple[
            int, list[tuple[str, str]], bytes]: ...


def make(app: Any, settings: Settings, direct: Direct | None = None) -> Callable[[dict, Any], dict]:
    """``handle(event, context)`` for ``app``; serverless-wsgi's path settings come from ``settings``
    (read once at cold start; serverless-wsgi itself reads them per request).
    ``direct``: HTTP API POSTs to its paths (without a query string) go to it instead of the app."""
    strip_stage_path = settings.strip_stage_path
    base_path = settings.base_path or None
    paths = direct.paths if direct is not None else frozenset()

    def handle(event: dict, context: Any) -> dict:
        if event.get("version") != "2.0" or event.get("source") in ("aws.events", "serverless-plugin-warmup"):
            return _serverless_wsgi().handle_request(app, event, context)
        if paths and not event.get("rawQueryString") \
                and event.get("requestContext", {}).get("http", {}).get("method") == "POST":
            path = _path_info(event, base_path)
            if path in paths:
                body = _body(event)
                headers = HttpHeaders(event, body)
                if headers.get("Transfer-Encoding") is None:  # werkzeug reads a chunked body as empty: Flask's
                    status, header_list, answer = direct.serve(event, context, path, headers, body)
                    return _answer(status, header_list, answer, event)
        return _respond(app, _environ_v2(event, context, strip_stage_path, base_path), event)

    return handle


class HttpHeaders:
    """A v2 event's request headers as the WSGI app reads them (werkzeug's EnvironHeaders over
    the environ ``_environ_v2`` builds): ``get`` is case-insensitive, ``-`` and ``_`` are one, the
    last of two spellings wins; ``content_type`` is the environ's CONTENT_TYPE."""

    __slots__ = ("_http", "content_type", "content_length")

    def __init__(self, event: dict, body: bytes) -> None:
        http: dict[str, str] = {}
        content_type = None
        for key, value in event["headers"].items():
            http["HTTP_" + key.upper().replace("-", "_")] = value
            if content_type is None and key.lower() == "content-type":
                content_type = value  # werkzeug's Headers.get: the first match, any case
        http["HTTP_COOKIE"] = "; ".join(event.get("cookies", []))
        self._http = http
        self.content_type = _wsgi_str(content_type or "")
        self.content_length = str(len(body))

    def get(self, name: str, default: Any = None) -> Any:
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":  # the environ's CONTENT_TYPE and CONTENT_LENGTH, not headers
            return self.content_type
        if key == "CONTENT_LENGTH":
            return self.content_length
        return self._http.get("HTTP_" + key, default)


def _wsgi_str(value: str) -> str:
    """WSGI strings are latin-1 (PEP 3333): what the environ holds for a non-ASCII value."""
    return value if value.isascii() else value.encode("utf-8").decode("latin1", "replace")


def _path_info(event: dict, base_path: str | None) -> str:
    """The environ's PATH_INFO: the raw path without a query, less the base path, unquoted."""
    path_info = event["rawPath"]
    if "?" in path_info:
        path_info = path_info.split("?")[0]
    if base_path:
        script_name = "/" + base_path
        if path_info.startswith(script_name):
            path_info = path_info[len(script_name):]
    return unquote(path_info)


def _body(event: dict) -> bytes:
    body = event.get("body", "")
    if event.get("isBase64Encoded", False):
        body = base64.b64decode(body)
    if isinstance(body, str):
        body = body.encode("utf-8")
    return body or b""


def _environ_v2(event: dict, context: Any, strip_stage_path: bool, base_path: str | None) -> dict[str, Any]:
    """serverless_wsgi.handle_payload_v2's environ, built from plain dicts."""
    headers: dict[str, str] = dict(event["headers"])
    lower: dict[str, str] = {}
    for key, value in headers.items():
        lower.setdefault(key.lower(), value)  # werkzeug's Headers.get: the first match, any case
    request_context = event.get("requestContext", {})
    host = lower.get("host", "")
    script_name = f"/{request_context.get('stage', '')}" if "amazonaws.com" in host and not strip_stage_path else ""
    if base_path:
        script_name = "/" + base_path
    body = _body(event)
    http = request_context.get("http", {})
    environ: dict[str, Any] = {
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": lower.get("content-type", ""),
        "PATH_INFO": _path_info(event, base_path),
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
    return _answer(int(status.split(" ", 1)[0]), header_list, body, event)


def _answer(status: int, header_list: list[tuple[str, str]], body: bytes, event: dict) -> dict:
    """The Lambda answer serverless_wsgi.generate_response gives for this status, headers and body."""
    answer: dict[str, Any] = {"statusCode": status}
    names = {name.lower() for name, _ in header_list}
    if event.get("multiValueHeaders"):
        from werkzeug.datastructures import Headers

        answer["multiValueHeaders"] = _serverless_wsgi().group_headers(Headers(header_list))
    elif len(names) < len(header_list):  # a repeated header: serverless-wsgi's casing trick
        from werkzeug.datastructures import Headers

        answer["headers"] = _serverless_wsgi().split_headers(Headers(header_list))
    else:
        answer["headers"] = dict(header_list)
    if body:
        fields = {name.lower(): value for name, value in reversed(header_list)}  # the first wins
        mimetype = fields.get("content-type", "").partition(";")[0].strip() or "text/plain"
        if (mimetype.startswith("text/") or mimetype in _text_mime_types()) \
                and not fields.get("content-encoding", ""):
            answer["body"] = body.decode()
            answer["isBase64Encoded"] = False
        else:
            answer["body"] = base64.b64encode(body).decode("utf-8")
            answer["isBase64Encoded"] = True
    return answer


def _serverless_wsgi() -> Any:
    """serverless_wsgi, imported on first use, its TEXT_MIME_TYPES with EXTRA_TEXT_MIME_TYPES."""
    import serverless_wsgi

    for mime in EXTRA_TEXT_MIME_TYPES:
        if mime not in serverless_wsgi.TEXT_MIME_TYPES:
            serverless_wsgi.TEXT_MIME_TYPES.append(mime)
    return serverless_wsgi


def _text_mime_types() -> Any:
    """The MIME types answered as text: serverless-wsgi's list once it is loaded (whoever changed
    it), else the list it starts with; EXTRA_TEXT_MIME_TYPES either way."""
    if "serverless_wsgi" in sys.modules:
        return _serverless_wsgi().TEXT_MIME_TYPES
    return (*SERVERLESS_WSGI_TEXT_MIME_TYPES, *EXTRA_TEXT_MIME_TYPES)


def _no_write(data: bytes) -> None:
    raise RuntimeError("this adapter does not support the WSGI write() callable")


__all__ = ["make", "HttpHeaders", "EXTRA_TEXT_MIME_TYPES", "SERVERLESS_WSGI_TEXT_MIME_TYPES"]
