"""The direct path (functions/api/direct.py) answers exactly as the Flask app does.

Two identical worlds (same registry, tokens, settings; each its own meter, metrics and logger)
get the same events, one through ``lambda_http.make(app, settings, direct=...)`` and one through the
Flask app alone: answers (status, headers, bodies), usage, metric points, access lines and error
logs must be the same, errors included; and the hot routes must really skip Flask.
"""
from __future__ import annotations

import base64
import copy
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from functions.api import lambda_http
from functions.api.app import create_app
from functions.api.direct import DirectRoutes, mimetype
from functions.api.telemetry import Telemetry
from functions.nlp.errors import ModelUnavailableError
from functions.settings import platform_values
from infra.local.events import http_v2_event, response_json, rest_v1_event
from tests.unit.api.conftest import SETTINGS, TOKEN, TOKENS
from tests.unit.api.fakes import FakeMeter, FakeStore, FakeTokens

GATEWAY = {"host": "abc123.execute-api.us-east-1.amazonaws.com", "x-forwarded-port": "443",
           "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.9", "user-agent": "curl/8"}
JSON_HEADERS = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json", **GATEWAY}
LONG = " ".join(["good"] * 40)  # more tokens than the tiny models' window of 16
PARITY = SETTINGS.with_(max_windows=8)  # [LONG] * 3 chunked without overlap: 9 windows


class Lines(logging.Handler):
    """Every record the app logs, as comparable data (the access line's ``ms`` left out)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = {k: v for k, v in record.__dict__.items()
                  if k in ("method", "path", "status", "request_id", "token_id", "model", "texts", "tokens", "code",
                           "detail", "input")}
        self.lines.append({"level": record.levelname, "message": record.getMessage(), **fields,
                           "traceback": record.exc_info is not None and record.exc_info[0] is not None})


@dataclass
class World:
    direct: bool
    settings: Any = SETTINGS
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.store = FakeStore(self.registry)
        self.tokens = FakeTokens(dict(TOKENS))
        self.meter = FakeMeter()
        self.telemetry = Telemetry()
        self.lines = Lines()
        self.logger = logging.getLogger(f"snlp.test.direct.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(self.lines)
        self.app = create_app(self.settings, self.store, self.tokens, meter=self.meter, telemetry=self.telemetry,
                              logger=self.logger)
        self.flask_calls = 0
        wsgi = self.app.wsgi_app

        def counted(environ, start_response):
            self.flask_calls += 1
            return wsgi(environ, start_response)
        self.app.wsgi_app = counted
        direct = self.app.extensions["snlp_direct"] if self.direct else None
        # env: the platform's variables (serverless-wsgi's path settings), read as a cold start reads them
        self.handle = lambda_http.make(self.app, self.settings.with_(**platform_values(self.env)), direct=direct)

    registry: Any = None

    def __call__(self, event: dict) -> dict:
        return self.handle(copy.deepcopy(event), None)

    def facts(self) -> dict[str, Any]:
        points = [(p.name, p.unit, p.dims, None if p.name == "InferenceMs" else p.value)
                  for p in self.telemetry.drain()]
        lines, self.lines.lines = self.lines.lines, []
        return {"usage": copy.deepcopy(self.meter.used), "points": points, "lines": lines}


def pair(tiny_registry, **kw) -> tuple[World, World]:
    return World(direct=True, registry=tiny_registry, **kw), World(direct=False, registry=tiny_registry, **kw)


def post(path: str, body: Any = None, headers: dict[str, str] | None = None, **kw) -> dict:
    return http_v2_event("POST", path, body=body, headers=JSON_HEADERS if headers is None else headers, **kw)


def with_headers(extra: dict[str, str], drop: tuple[str, ...] = ()) -> dict[str, str]:
    return {**{k: v for k, v in JSON_HEADERS.items() if k not in drop}, **extra}


def raw_body(path: str, text: str, headers: dict[str, str] | None = None) -> dict:
    return post(path, text, headers)


HOT_CASES = {
    # successes
    "classify": post("/v1/classify", {"texts": ["good movie", "awful day"]}),
    "classify one": post("/v1/classify", {"texts": ["good"]}),
    "classify string": post("/v1/classify", {"texts": "good"}),
    "classify alias": post("/v1/classify", {"texts": ["good"], "model": "tiny-sentiment:candidate"}),
    "classify version": post("/v1/classify", {"texts": ["good"], "model": "tiny-sentiment@2-fp32"}),
    "classify number": post("/v1/classify", {"texts": ["good"], "model": "tiny-sentiment@2"}),
    "classify truncated": post("/v1/classify", {"texts": [LONG, "good"]}),
    "classify left": post("/v1/classify", {"texts": [LONG], "truncation_direction": "left"}),
    "classify chunked": post("/v1/classify", {"texts": [LONG, "good"], "on_overflow": "chunk", "chunk_overlap": 2}),
    "embed": post("/v1/embed", {"texts": ["good", "bad day"]}),
    "embed types": post("/v1/embed", {"texts": ["good"], "embedding_types": ["float", "int8", "uint8", "binary",
                                                                            "base64"]}),
    "embed chunked": post("/v1/embed", {"texts": [LONG], "on_overflow": "chunk"}),
    "embeddings": post("/v1/embeddings", {"input": "good"}),
    "embeddings list": post("/v1/embeddings", {"input": ["good", "bad"], "model": "tiny-embed"}),
    "embeddings base64": post("/v1/embeddings", {"input": "good", "encoding_format": "base64"}),
    "embeddings full dims": post("/v1/embeddings", {"input": "good", "dimensions": 8, "user": "u1"}),
    "charset": post("/v1/classify", {"texts": ["good"]}, with_headers({"content-type": "application/json; charset=utf-8"})),
    "+json": post("/v1/classify", {"texts": ["good"]}, with_headers({"content-type": "application/vnd.api+json"})),
    "upper content type": post("/v1/classify", {"texts": ["good"]},
                               with_headers({"Content-Type": "Application/JSON"}, drop=("content-type",))),
    "x-api-key": post("/v1/classify", {"texts": ["good"]}, with_headers({"x-api-key": f" {TOKEN} "}, ("authorization",))),
    "request id": post("/v1/classify", {"texts": ["good"]}, with_headers({"x-request-id": "my-id-1"})),
    "correlation id": post("/v1/classify", {"texts": ["good"]}, with_headers({"X-Correlation-Id": "corr-7"})),
    "bad request id": post("/v1/classify", {"texts": ["good"]}, with_headers({"x-request-id": "x" * 129})),
    "two spellings": post("/v1/classify", {"texts": ["good"]},
                          with_headers({"Authorization": "Bearer snlp_nope", "x_request_id": "second"})),
    "unicode": post("/v1/embed", {"texts": ["café naïve 😀 great day"]}),
    "base64 body": post("/v1/embed", json.dumps({"texts": ["good"]}).encode()),
    "no gateway headers": post("/v1/classify", {"texts": ["good"]},
                               {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}),
    # errors
    "no token": post("/v1/classify", {"texts": ["good"]}, with_headers({}, ("authorization",))),
    "basic auth": post("/v1/classify", {"texts": ["good"]}, with_headers({"authorization": "Basic abc"})),
    "unknown token": post("/v1/classify", {"texts": ["good"]}, with_headers({"authorization": "Bearer snlp_nope"})),
    "revoked": post("/v1/embed", {"texts": ["good"]}, with_headers({"authorization": "Bearer snlp_revoked"})),
    "model not allowed": post("/v1/classify", {"texts": ["good"]},
                              with_headers({"authorization": "Bearer snlp_embed_only"})),
    "quota": post("/v1/classify", {"texts": ["a", "b", "c", "d"]}, with_headers({"authorization": "Bearer snlp_small"})),
    "empty texts": post("/v1/classify", {"texts": []}),
    "blank text": post("/v1/classify", {"texts": ["good", "  "]}),
    "no texts": post("/v1/embed", {}),
    "texts not strings": post("/v1/classify", {"texts": [1, 2]}),
    "too many texts": post("/v1/classify", {"texts": ["good"] * 9}),
    "text too long": post("/v1/classify", {"texts": ["x" * 201]}),
    "overflow error": post("/v1/classify", {"texts": [LONG], "on_overflow": "error"}),
    "truncate contradiction": post("/v1/classify", {"texts": ["good"], "truncate": False, "on_overflow": "truncate"}),
    "bad truncate": post("/v1/embed", {"texts": ["good"], "truncate": "yes"}),
    "bad overlap": post("/v1/embed", {"texts": [LONG], "on_overflow": "chunk", "chunk_overlap": -1}),
    "too many windows": post("/v1/embed", {"texts": [LONG] * 3, "on_overflow": "chunk", "chunk_overlap": 0}),
    "malformed": raw_body("/v1/classify", "{broken"),
    "not an object": raw_body("/v1/classify", "[1, 2]"),
    "empty body": raw_body("/v1/classify", ""),
    "nested": raw_body("/v1/classify", "[" * 2000 + "]" * 2000),  # deeper than json's recursion limit
    "lone surrogate": raw_body("/v1/classify", '{"texts": ["\\ud800"]}'),
    "nan": raw_body("/v1/classify", '{"texts": ["good"], "truncate": NaN}'),
    "form": post("/v1/classify", "texts=good", with_headers({"content-type": "application/x-www-form-urlencoded"})),
    "no content type": post("/v1/classify", {"texts": ["good"]}, with_headers({}, ("content-type",))),
    "too large": raw_body("/v1/classify", json.dumps({"texts": ["x" * 5000]})),
    "unknown model": post("/v1/classify", {"texts": ["good"], "model": "nope"}),
    "invalid ref": post("/v1/classify", {"texts": ["good"], "model": "../etc"}),
    "model not a string": post("/v1/classify", {"texts": ["good"], "model": 3}),
    "wrong task": post("/v1/classify", {"texts": ["good"], "model": "tiny-embed"}),
    "unknown alias": post("/v1/embed", {"texts": ["good"], "model": "tiny-embed:nope"}),
    "bad embedding type": post("/v1/embed", {"texts": ["good"], "embedding_types": ["int4"]}),
    "token ids": post("/v1/embeddings", {"input": [[1, 2, 3]]}),
    "bad encoding": post("/v1/embeddings", {"input": "good", "encoding_format": "hex"}),
    "bad user": post("/v1/embeddings", {"input": "good", "user": 5}),
    "bad dimensions": post("/v1/embeddings", {"input": "good", "dimensions": 4}),
    "embeddings wrong task": post("/v1/embeddings", {"input": "good", "model": "tiny-sentiment"}),
    "embeddings empty": post("/v1/embeddings", {"input": []}),
}
FALLBACK_CASES = {  # answered by Flask in both worlds
    "get": http_v2_event("GET", "/v1/classify", headers=JSON_HEADERS),
    "trailing slash": post("/v1/classify/", {"texts": ["good"]}),
    "query": post("/v1/classify", {"texts": ["good"]}, query="token=abc"),
    "harmless query": post("/v1/embed", {"texts": ["good"]}, query="x=1"),
    "chunked": post("/v1/classify", {"texts": ["good"]}, with_headers({"transfer-encoding": "chunked"})),
    "similarity": post("/v1/similarity", {"source": "good", "targets": ["bad"]}),
    "health": http_v2_event("GET", "/health"),
    "rest": rest_v1_event("POST", "/v1/classify", body={"texts": ["good"]},
                          headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}),
}


def events_in_order() -> list[tuple[str, dict]]:
    return [*HOT_CASES.items(), *FALLBACK_CASES.items()]


def assert_same(direct: World, flask: World, name: str, event: dict) -> dict:
    a, b = direct(event), flask(event)
    assert a == b, name
    assert direct.facts() == flask.facts(), name
    return a


@pytest.mark.parametrize("settings", [PARITY, PARITY.with_(access_log_fields="lean"),
                                      PARITY.with_(log_texts=True, access_log_sample_rate=0.0)],
                         ids=["full", "lean", "texts-sampled"])
def test_every_hot_case_answers_as_flask_does(tiny_registry, settings, capsys):
    direct, flask = pair(tiny_registry, settings=settings)
    for name, event in events_in_order():
        assert_same(direct, flask, name, event)
        lines = [{k: v for k, v in json.loads(line).items() if k != "ms"}
                 for line in capsys.readouterr().out.splitlines()]  # lean access lines go to stdout
        half = len(lines) // 2
        assert lines[:half] == lines[half:], name  # the same lines, written by each world in turn
    assert direct.flask_calls == len(FALLBACK_CASES)  # every hot case skipped Flask
    assert flask.flask_calls == len(HOT_CASES) + len(FALLBACK_CASES)


def test_successes_and_errors_are_really_there(tiny_registry):
    direct, _ = pair(tiny_registry, settings=PARITY)
    statuses = {name: direct(event)["statusCode"] for name, event in HOT_CASES.items()}
    assert statuses["classify"] == statuses["embeddings base64"] == 200
    assert {statuses[n] for n in ("no token", "unknown token", "basic auth")} == {401}
    assert statuses["revoked"] == statuses["model not allowed"] == 403
    assert statuses["quota"] == 429 and statuses["too large"] == 413 and statuses["form"] == 415
    assert statuses["malformed"] == statuses["nested"] == statuses["bad dimensions"] == 400
    assert statuses["unknown model"] == 404 and statuses["wrong task"] == statuses["too many windows"] == 422
    answer = direct(HOT_CASES["no token"])
    assert answer["headers"]["Content-Type"] == "application/problem+json"
    assert answer["headers"]["WWW-Authenticate"].startswith("Bearer")
    assert response_json(answer)["type"].endswith("/missing-token")
    openai = response_json(direct(HOT_CASES["bad encoding"]))
    assert openai["error"]["code"] == "invalid-input" and openai["status"] == 422


@pytest.mark.parametrize("failure,status", [(ModelUnavailableError("store down"), 503),
                                            (RuntimeError("boom"), 500)])
def test_a_failing_store_answers_and_logs_the_same(tiny_registry, failure, status):
    direct, flask = pair(tiny_registry)
    for world in (direct, flask):
        world.store.fail["tiny-embed"] = failure
    for path, body in (("/v1/embed", {"texts": ["good"]}), ("/v1/embeddings", {"input": "good"})):
        answer = assert_same(direct, flask, path, post(path, body))
        assert answer["statusCode"] == status
    direct.store.fail.clear()
    flask.store.fail.clear()
    assert_same(direct, flask, "recovered", post("/v1/embed", {"texts": ["good"]}))


def test_a_failing_run_is_refunded_the_same(tiny_registry):
    direct, flask = pair(tiny_registry)
    for world in (direct, flask):
        model = world.store.get("tiny-sentiment")
        model.run_windows = lambda windows: (_ for _ in ()).throw(RuntimeError("session died"))
    answer = assert_same(direct, flask, "refund", post("/v1/classify", {"texts": ["good"]}))
    assert answer["statusCode"] == 500 and direct.meter.used["tok_all"]["texts"] == 0


def test_the_token_store_down_is_a_503_both_ways(tiny_registry):
    direct, flask = pair(tiny_registry)
    direct.tokens.down = flask.tokens.down = True
    answer = assert_same(direct, flask, "down", post("/v1/classify", {"texts": ["good"]}))
    assert answer["statusCode"] == 503 and answer["headers"]["Retry-After"] == "5"


@pytest.mark.parametrize("env", [{"API_GATEWAY_BASE_PATH": "api"}, {"STRIP_STAGE_PATH": "true"}])
def test_base_paths_route_the_same(tiny_registry, env):
    direct, flask = pair(tiny_registry, env=env)
    for name, event in (("based", post("/api/v1/classify", {"texts": ["good"]})),
                        ("plain", post("/v1/embed", {"texts": ["good"]})),
                        ("quoted", post("/v1/%65mbed", {"texts": ["good"]}))):
        assert_same(direct, flask, name, event)
    assert direct.flask_calls == (0 if "API_GATEWAY_BASE_PATH" in env else 1)  # /api/v1/… is a 404 without it


def test_auth_off_serves_anonymous_the_same(tiny_registry):
    direct, flask = pair(tiny_registry, settings=SETTINGS.with_(auth_enabled=False))
    for name, event in (("anonymous", post("/v1/classify", {"texts": ["good"]}, with_headers({}, ("authorization",)))),
                        ("garbage token", post("/v1/embed", {"texts": ["good"]}, with_headers({"authorization": "x"})))):
        answer = assert_same(direct, flask, name, event)
        assert answer["statusCode"] == 200 and "x-ratelimit-limit-requests" not in answer["headers"]


def test_the_direct_routes_are_the_flask_routes(tiny_registry):
    """Every direct path is a POST-only, non-public Flask route whose view calls the same function."""
    world = World(direct=True, registry=tiny_registry)
    routes: DirectRoutes = world.app.extensions["snlp_direct"]
    adapter = world.app.url_map.bind("localhost")
    public = world.app.extensions["snlp_public_endpoints"]
    for path, route in routes.routes.items():
        endpoint, _ = adapter.match(path, method="POST")
        assert endpoint not in public
        assert [r.methods - {"OPTIONS"} for r in world.app.url_map.iter_rules() if r.rule == path] == [{"POST"}]
        assert route.__name__ in world.app.view_functions[endpoint].__code__.co_names


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON", "application/json; charset=utf-8",
                                          'application/json ; q="a;b"', "text/plain", "", ";"])
def test_mimetype_is_werkzeugs(content_type):
    from werkzeug.wrappers import Request

    request = Request({"CONTENT_TYPE": content_type, "wsgi.input": None, "REQUEST_METHOD": "POST"})
    assert mimetype(content_type) == request.mimetype


def test_headers_read_like_the_environ(tiny_registry):
    """HttpHeaders.get gives what werkzeug's request.headers.get gives for the same event."""
    from werkzeug.wrappers import Request

    event = post("/v1/classify", {"texts": ["good"]},
                 {"X-Request-Id": "a", "x-request-id": "b", "x_api_key": "k", "Content-Type": "application/json",
                  "content-type": "text/plain", "Authorization": "Bearer t", "x-empty": "", "café": "é"})
    event["headers"] = {"X-Request-Id": "a", "x-request-id": "b", "x_api_key": "k", "Content-Type": "application/json",
                        "content-type": "text/plain", "Authorization": "Bearer t", "x-empty": "", "café": "é"}
    body = lambda_http._body(event)
    ours = lambda_http.HttpHeaders(event, body)
    theirs = Request(lambda_http._environ_v2(event, None, False, None)).headers
    for name in ("x-request-id", "X-REQUEST-ID", "x-api-key", "content-type", "Content-Length", "authorization",
                 "x-empty", "cookie", "missing", "transfer-encoding"):
        assert ours.get(name) == theirs.get(name), name


def test_a_base64_body_with_a_stage(tiny_registry):
    direct, flask = pair(tiny_registry)
    event = post("/v1/embeddings", {"input": "good"})
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    event["requestContext"]["stage"] = "$default"
    assert assert_same(direct, flask, "b64", event)["statusCode"] == 200


def test_text_types_without_serverless_wsgi_are_its_own(monkeypatch):
    """Answers built before serverless-wsgi is loaded treat as text what it would (plus problem+json)."""
    import sys

    import serverless_wsgi

    ours = lambda_http.SERVERLESS_WSGI_TEXT_MIME_TYPES
    assert serverless_wsgi.TEXT_MIME_TYPES[:len(ours)] == list(ours)
    assert set(serverless_wsgi.TEXT_MIME_TYPES[len(ours):]) <= set(lambda_http.EXTRA_TEXT_MIME_TYPES)
    monkeypatch.delitem(sys.modules, "serverless_wsgi")
    assert set(lambda_http._text_mime_types()) == {*ours, *lambda_http.EXTRA_TEXT_MIME_TYPES}
