"""Secrets stay secret: tokens and texts never reach logs, the token table holds only hashes,
/docs, /openapi.json and /health say nothing about the inside; huge headers are refused by the
real WSGI server (waitress, as the local stack runs it) before the app sees them."""
from __future__ import annotations

import io
import json
import logging
import socket
import threading
from pathlib import Path

import pytest

from tests.functional.reliability import BUCKET, TOKEN, TOKENS_TABLE, auth, in_process_moto, provision
from tests.support.tiny_defaults import write_default_registry

pytestmark = pytest.mark.timeout(60)
SECRET_TEXT = "zebra-quokka-7391 my bank password is hunter2"
EVENTS = Path(__file__).resolve().parent.parent / "events"


@pytest.fixture(scope="module")
def rt(tmp_path_factory):
    """The Lambda handler's runtime on moto, logging (Powertools JSON) into a buffer."""
    root = tmp_path_factory.mktemp("secrets")
    stream = io.StringIO()
    with in_process_moto() as (s3, ddb):
        from aws_lambda_powertools import Logger

        from functions.api.handler import build_runtime
        from functions.settings import ENV

        provision(s3, ddb, write_default_registry(root / "reg"))
        # a logger name of its own: Powertools skips set-up for a name it has configured before
        logger = Logger(service="api-logcheck", level="DEBUG", logger_handler=logging.StreamHandler(stream))
        env = {ENV["artifacts_bucket"]: BUCKET, ENV["tokens_table"]: TOKENS_TABLE,
               ENV["model_cache_dir"]: str(root / "cache"), ENV["preload_models"]: "sentiment",
               ENV["stage"]: "secretstage"}
        runtime = build_runtime(env, s3_client=s3, dynamodb_client=ddb, logger=logger)
        runtime.stream, runtime.ddb, runtime.root = stream, ddb, root
        yield runtime


def _assert_clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret[:12]}… leaked"
        for i in range(0, max(1, len(secret) - 16), 8):  # no fragment of it either
            assert secret[i:i + 16] not in text, f"a fragment of {secret[:12]}… leaked"


def test_log_texts_is_off_by_default():
    from functions.settings import Settings

    assert Settings().log_texts is False and Settings.from_env({}).log_texts is False


def test_tokens_and_texts_never_reach_the_logs(rt):
    client = rt.app.test_client()
    body = {"texts": [SECRET_TEXT, "good"]}
    calls = [
        ("post", "/v1/classify", dict(json=body, headers=auth())),  # 200
        ("post", "/v1/embed", dict(json=body, headers={"x-api-key": TOKEN})),  # 200
        ("post", "/v1/embeddings", dict(json={"input": SECRET_TEXT}, headers=auth())),
        ("post", "/v1/models/sentiment:predict", dict(json={"instances": [SECRET_TEXT]}, headers=auth())),
        ("post", "/v1/similarity", dict(json={"source": SECRET_TEXT, "targets": ["good"]}, headers=auth())),
        ("post", "/v1/classify", dict(json={"texts": [SECRET_TEXT * 200]}, headers=auth())),  # 422
        ("post", "/v1/classify", dict(json={"texts": [SECRET_TEXT], "model": "nope"}, headers=auth())),  # 404
        ("post", "/v1/classify", dict(json={"texts": [SECRET_TEXT], "truncate": "x"}, headers=auth())),  # 422
        ("post", "/v1/classify", dict(data=SECRET_TEXT, content_type="text/plain", headers=auth())),  # 415
        ("post", "/v1/classify", dict(data='{"texts": ["' + SECRET_TEXT, content_type="application/json",
                                      headers=auth())),  # 400
        ("post", "/v1/classify", dict(json=body, headers=auth(TOKEN[:-1] + "X"))),  # 401
        ("post", f"/v1/classify?token={TOKEN}", dict(json=body)),  # 400
        ("get", f"/v1/models?api_key={TOKEN}", {}),
        ("get", "/v1/models", dict(headers=auth())),
    ]
    for method, path, kwargs in calls:
        resp = getattr(client, method)(path, **kwargs)
        assert resp.status_code < 500, (path, resp.status_code)
    logs = rt.stream.getvalue()
    assert '"request"' in logs or "request" in logs, "the access log is missing: nothing was checked"
    _assert_clean(logs, TOKEN, SECRET_TEXT)


class _Context:
    function_name, memory_limit_in_mb, aws_request_id = "api", 1024, "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"


def _v2_event(path: str, body: dict, headers: dict, query: str = "") -> dict:
    event = json.loads((EVENTS / "apigw_http_v2.json").read_text())
    event.update(rawPath=path, rawQueryString=query, body=json.dumps(body), isBase64Encoded=False, headers=headers)
    event["requestContext"]["http"].update(method="POST", path=path)
    event.pop("cookies", None)
    event.pop("queryStringParameters", None)
    if query:
        key, _, value = query.partition("=")
        event["queryStringParameters"] = {key: value}
    return event


def test_lambda_handler_logs_no_token_or_text(rt, monkeypatch):
    from functions.api.handler import make_handler

    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)  # EMF metrics go to stdout
    before = len(rt.stream.getvalue())
    handler = make_handler(rt)
    ok = handler(_v2_event("/v1/classify", {"texts": [SECRET_TEXT]},
                           {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}), _Context())
    assert ok["statusCode"] == 200, ok
    refused = handler(_v2_event("/v1/classify", {"texts": [SECRET_TEXT]}, {"content-type": "application/json"},
                                query=f"token={TOKEN}"), _Context())
    assert refused["statusCode"] == 400, refused
    assert TOKEN not in json.dumps(refused)
    _assert_clean(rt.stream.getvalue()[before:] + out.getvalue(), TOKEN, SECRET_TEXT)


def test_rest_v1_event_with_a_token_in_the_query_is_refused(rt, monkeypatch):
    from functions.api.handler import make_handler

    monkeypatch.setattr("sys.stdout", io.StringIO())
    event = json.loads((EVENTS / "apigw_rest_v1.json").read_text())
    event.update(path="/v1/models", httpMethod="GET", body=None, isBase64Encoded=False,
                 queryStringParameters={"api_key": TOKEN}, multiValueQueryStringParameters={"api_key": [TOKEN]},
                 headers={"Host": "x"}, multiValueHeaders={"Host": ["x"]})
    before = len(rt.stream.getvalue())
    response = make_handler(rt)(event, _Context())
    assert response["statusCode"] == 400, response
    assert json.loads(response["body"])["type"].endswith("/token-in-query")
    _assert_clean(rt.stream.getvalue()[before:] + json.dumps(response), TOKEN)


def test_token_table_holds_no_plaintext(rt):
    from functions.auth.admin import create_token

    token, _ = create_token(rt.ddb, TOKENS_TABLE, owner="alice", models="*", quota_per_day=100)
    client = rt.app.test_client()
    for _ in range(30):  # enough requests for the usage meter to flush its rows too
        assert client.post("/v1/classify", json={"texts": [SECRET_TEXT]}, headers=auth(token)).status_code == 200
    meter = rt.app.extensions["snlp"].meter
    if meter is not None:
        meter.flush()
    items = [i for page in rt.ddb.get_paginator("scan").paginate(TableName=TOKENS_TABLE) for i in page["Items"]]
    dump = json.dumps(items)
    assert any(i["pk"]["S"].startswith("USAGE#") for i in items), "usage rows were not written: test is blind"
    _assert_clean(dump, token, TOKEN, SECRET_TEXT)
    assert token.split("_", 1)[1] not in dump


def _internal_markers(rt) -> list[str]:
    import importlib.metadata
    import sys

    import onnxruntime
    import tokenizers

    s = rt.settings
    return [TOKEN, BUCKET, TOKENS_TABLE, str(rt.root), s.model_cache_dir, "secretstage", "/tmp/", "site-packages",
            "Traceback", "testing", f"onnxruntime {onnxruntime.__version__}", f"onnxruntime/{onnxruntime.__version__}",
            f"Flask/{importlib.metadata.version('flask')}", f"Werkzeug/", f"Python/{sys.version.split()[0]}",
            f"tokenizers {tokenizers.__version__}", "botocore", "moto"]


@pytest.mark.parametrize("path", ["/health", "/docs", "/openapi.json"])
def test_public_pages_reveal_no_secrets_or_versions_of_internals(rt, path):
    resp = rt.app.test_client().get(path)
    assert resp.status_code == 200
    text = resp.get_data(as_text=True) + json.dumps(dict(resp.headers))
    for marker in _internal_markers(rt):
        assert marker not in text, f"{path} reveals {marker!r}"
    if path == "/health":
        assert set(resp.get_json()) <= {"status"}, resp.get_json()


@pytest.fixture(scope="module")
def waitress_url(rt):
    """The app behind waitress with the local stack's settings (infra/local/serve_api.py)."""
    from waitress import create_server

    server = create_server(rt.app, host="127.0.0.1", port=0, threads=2, ident="serverless-nlp",
                           max_request_body_size=8 * 1024 * 1024, clear_untrusted_proxy_headers=True)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server.effective_host, server.effective_port
    server.close()
    thread.join(5)


def _raw(addr, request: bytes, timeout: float = 15) -> bytes:
    with socket.create_connection(addr, timeout=timeout) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may refuse before reading it all
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def test_huge_header_is_refused_by_the_server(waitress_url):
    huge = b"x" * (1 << 20)
    for name in (b"X-Filler", b"Authorization"):
        value = b"Bearer " + huge if name == b"Authorization" else huge
        raw = _raw(waitress_url, b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + name + b": " + value + b"\r\n\r\n")
        status = raw.split(b"\r\n", 1)[0]
        assert status.split()[1] in (b"431", b"400"), status
        assert huge[:1000] not in raw


def test_large_but_allowed_header_gets_a_4xx_problem_not_a_5xx(waitress_url):
    value = b"Bearer snlp_" + b"a" * (100 * 1024)
    raw = _raw(waitress_url, b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: " + value
               + b"\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split()[1] == b"401", head[:200]
    assert b"application/problem+json" in head and len(body) < 4096


def test_server_header_reveals_no_versions(waitress_url):
    raw = _raw(waitress_url, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1").lower()
    assert "werkzeug" not in head and "python" not in head and "waitress" not in head, head


def test_huge_url_and_bodies_through_the_server(waitress_url):
    """Through waitress: a 1 MB URL is refused by the server; a 1 MB text and a 7 MB body get
    their 4xx problem from the app; nothing hangs (every socket read has a timeout)."""
    raw = _raw(waitress_url, b"GET /v1/models?" + b"a=" + b"x" * (1 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.split(b"\r\n", 1)[0].split()[1] in (b"400", b"414", b"431"), raw[:100]
    for size, status in ((1 << 20, b"422"), (7 << 20, b"413")):
        body = json.dumps({"texts": ["a" * size]}).encode()
        head = (b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
                b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: " + str(len(body)).encode() +
                b"\r\n\r\n")
        raw = _raw(waitress_url, head + body)
        resp_head, _, resp_body = raw.partition(b"\r\n\r\n")
        assert resp_head.split()[1] == status, resp_head[:200]
        assert b"application/problem+json" in resp_head and len(resp_body) < 4096


def test_slow_clients_do_not_starve_the_server(waitress_url):
    """More half-sent requests than worker threads: a normal request still gets its answer
    (waitress buffers whole requests before the app sees them)."""
    slow = []
    try:
        for _ in range(12):  # the fixture's server has 2 threads
            sock = socket.create_connection(waitress_url, timeout=5)
            sock.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: 100000\r\n\r\n{\"texts\":")
            slow.append(sock)
        raw = _raw(waitress_url, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=10)
        assert raw.split(b"\r\n", 1)[0].split()[1] == b"200", raw[:200]
    finally:
        for sock in slow:
            sock.close()
