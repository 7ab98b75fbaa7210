"""functions/api/lambda_http.py gives exactly the answers serverless_wsgi.handle_request gives."""
from __future__ import annotations

import base64
import json

import pytest
import serverless_wsgi
from flask import Flask, Response, redirect, request

from functions.api import lambda_http
from functions.api.app import create_app
from functions.settings import Settings
from infra.local.events import http_v2_event, rest_v1_event
from tests.unit.api.conftest import SETTINGS, TOKEN

GATEWAY = {"host": "abc123.execute-api.us-east-1.amazonaws.com", "x-forwarded-port": "443",
           "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.9", "user-agent": "curl/8"}


def echo_app() -> Flask:
    app = Flask("echo")

    @app.route("/echo/<path:rest>", methods=["GET", "POST", "HEAD"])
    def echo(rest: str) -> Response:
        seen = {k: v for k, v in request.environ.items() if isinstance(v, (str, int, bool)) and not k.startswith("werkzeug")}
        return Response(json.dumps({"rest": rest, "environ": seen, "body": request.get_data(as_text=True),
                                    "url": request.url, "args": request.args.to_dict(flat=False)}),
                        content_type="application/json")

    @app.get("/png")
    def png() -> Response:
        return Response(b"\x89PNG\r\n\x1a\n\x00\xff", content_type="image/png")

    @app.get("/cookies")
    def cookies() -> Response:
        response = Response("two cookies", content_type="text/plain; charset=utf-8")
        response.headers.add("Set-Cookie", "a=1")
        response.headers.add("Set-Cookie", "b=2")
        return response

    @app.get("/empty")
    def empty() -> Response:
        return Response(status=204)

    @app.get("/bare")
    def bare():
        return Response(b"no type", headers=[("X-Only", "1")], content_type=None, mimetype=None)

    @app.get("/gone")
    def gone():
        return redirect("/elsewhere")

    @app.get("/gzip")
    def gzip() -> Response:
        return Response(b"\x1f\x8b....", content_type="application/json", headers={"Content-Encoding": "gzip"})

    @app.get("/svg")
    def svg() -> Response:
        return Response("<svg/>", content_type="image/svg+xml")

    return app


def events() -> list[dict]:
    out = [
        http_v2_event("GET", "/echo/plain"),
        http_v2_event("POST", "/echo/json", body={"texts": ["héllo", "😀"]},
                      headers={"content-type": "application/json", **GATEWAY}),
        http_v2_event("GET", "/echo/query", query="a=1&a=2&b=%C3%A9", headers=GATEWAY),
        http_v2_event("GET", "/echo/caf%C3%A9/x%2Fy", headers={"Host": "example.org", "X-Forwarded-Proto": "http"}),
        http_v2_event("GET", "/png", headers=GATEWAY),
        http_v2_event("GET", "/cookies"),
        http_v2_event("GET", "/empty"),
        http_v2_event("GET", "/bare"),
        http_v2_event("GET", "/gone", headers=GATEWAY),
        http_v2_event("GET", "/gzip"),
        http_v2_event("GET", "/svg"),
        http_v2_event("GET", "/nowhere"),
        http_v2_event("DELETE", "/png"),
        http_v2_event("HEAD", "/echo/head"),
    ]
    binary = http_v2_event("POST", "/echo/b64", headers={"content-type": "application/octet-stream"})
    binary["body"], binary["isBase64Encoded"] = base64.b64encode(b"\x00\x01binary").decode(), True
    no_cookies = http_v2_event("GET", "/echo/nocookies")
    no_cookies.pop("cookies", None)
    no_body = http_v2_event("POST", "/echo/nobody")
    no_body["body"] = None
    staged = http_v2_event("GET", "/echo/staged", headers=GATEWAY)
    staged["requestContext"]["stage"] = "prod"
    multi = http_v2_event("GET", "/cookies")
    multi["multiValueHeaders"] = {"x": ["1"]}
    return [*out, binary, no_cookies, no_body, staged, multi]


@pytest.mark.parametrize("env", [{}, {"STRIP_STAGE_PATH": "true"}, {"API_GATEWAY_BASE_PATH": "echo"}])
def test_http_api_events_get_the_answers_serverless_wsgi_gives(env, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # serverless-wsgi reads them per request; lambda_http once
    app = echo_app()
    handle = lambda_http.make(app, Settings.from_env(env))
    for event in events():
        assert handle(event, None) == serverless_wsgi.handle_request(app, event, None), event["rawPath"]


def test_rest_api_and_warmup_events_go_through_serverless_wsgi():
    app = echo_app()
    handle = lambda_http.make(app, Settings())
    rest = rest_v1_event("POST", "/echo/rest", body={"a": 1}, headers={"Content-Type": "application/json"})
    assert handle(rest, None) == serverless_wsgi.handle_request(app, rest, None)
    assert handle({"source": "aws.events", "version": "2.0"}, None) == {}


def test_the_api_answers_the_same_through_both(parts):
    store, tokens, meter, telemetry = parts
    app = create_app(SETTINGS, store, tokens, meter=meter, telemetry=telemetry)
    handle = lambda_http.make(app, Settings())
    bearer = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json", **GATEWAY}
    cases = [http_v2_event("GET", "/health"),
             http_v2_event("POST", "/v1/classify", body={"texts": ["good", "bad"]}, headers=bearer),
             http_v2_event("POST", "/v1/embed", body={"texts": ["good"]}, headers=bearer),
             http_v2_event("POST", "/v1/embeddings", body={"input": "good", "encoding_format": "base64"}, headers=bearer),
             http_v2_event("POST", "/v1/classify", body={"texts": []}, headers=bearer),
             http_v2_event("POST", "/v1/classify", body={"texts": ["x"]}),
             http_v2_event("GET", "/v1/models", query="token=abc", headers=bearer)]
    for event in cases:
        assert handle(event, None) == serverless_wsgi.handle_request(app, event, None), event["rawPath"]
