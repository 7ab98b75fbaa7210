"""The hot inference routes served straight from HTTP API events, without Flask.

Flask's request and application contexts, URL matching, ``Response`` objects and header
bookkeeping cost a one-text request about as much as everything the API itself does
(bench/overhead.py lean rows). POST /v1/classify, /v1/embed and /v1/embeddings (the routes
nearly all traffic takes) are answered here instead, for API Gateway HTTP API (2.0) events
without a query string (functions/api/lambda_http.py decides; everything else goes to Flask).

Nothing is re-implemented: the request is checked, answered on error, closed and logged by
functions/api/gate.py, exactly as the Flask app's hooks do it; the routes are the same functions
the Flask routes call (``routes_native.classify`` …: auth -> quota and rate limits -> infer ->
metering, via ``ApiServices``); errors become the same problem+json. The request's facts are
a local value handed from step to step. tests/unit/api/test_direct.py compares the answers
(status, headers, bodies, errors included), access lines, metrics and usage of both paths.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from . import gate, jsonio, routes_native, routes_openai
from .context import JSON, JSON_UTF8, ApiServices, RequestFacts, parse_json_body

Route = Callable[[ApiServices, RequestFacts, dict[str, Any]], tuple[dict[str, Any], dict[str, str]]]
METHOD = "POST"


def hot_routes() -> dict[str, Route]:
    """The paths served directly, and the route functions their Flask routes call too."""
    return {"/v1/classify": routes_native.classify, "/v1/embed": routes_native.embed,
            "/v1/embeddings": routes_openai.embeddings}


class DirectRoutes:
    """``serve`` answers a POST to one of ``routes``' paths ({path: route function}) as the Flask
    app would; built once per app (functions/api/app.py)."""

    def __init__(self, ctx: ApiServices, routes: Mapping[str, Route]) -> None:
        self.ctx = ctx
        self.routes = dict(routes)
        self.paths = frozenset(self.routes)
        self.max_body = ctx.settings.max_body_bytes

    def serve(self, event: dict, context: Any, path: str, headers: Any, body: bytes) -> tuple[
            int, list[tuple[str, str]], bytes]:
        """(status, header list, body) for one request; ``headers``: lambda_http.HttpHeaders."""
        ctx = self.ctx
        seen = RequestFacts(ctx.clock(), gate.request_id(headers, event))
        try:
            gate.check_length(self.max_body, len(body))  # the environ's CONTENT_LENGTH is len(body)
            gate.check_body(self.max_body, body)
            seen.principal = ctx.authenticate(headers)  # no hot route is public
            payload, route_headers = self.routes[path](ctx, seen, parse_json_body(body, mimetype(headers.content_type)))
            status, out, content_type = 200, jsonio.dumps(payload), JSON_UTF8
        except Exception as exc:  # noqa: BLE001 - every error is answered, as Flask's errorhandler(Exception)
            status, route_headers, text, content_type = gate.problem(ctx, exc, METHOD, path, seen)
            out = text.encode()
        header_list = [*route_headers.items(), ("Content-Type", content_type), ("Content-Length", str(len(out))),
                       *gate.finish_headers(ctx, seen).items()]
        gate.access_log(ctx, status, seen, METHOD, path)
        return status, header_list, out


_MIMETYPES: dict[str, str] = {JSON: JSON}  # content type -> mimetype, as parsed once
_MIMETYPES_KEPT = 64


def mimetype(content_type: str) -> str:
    """werkzeug's ``Request.mimetype``: the content type without its parameters, lower case."""
    known = _MIMETYPES.get(content_type)
    if known is None:
        from werkzeug.http import parse_options_header  # the first unusual content type loads werkzeug

        known = parse_options_header(content_type)[0].lower()
        if len(_MIMETYPES) < _MIMETYPES_KEPT:
            _MIMETYPES[content_type] = known
    return known


__all__ = ["DirectRoutes", "hot_routes", "mimetype", "Route"]
