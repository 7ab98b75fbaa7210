"""Hostile requests: each gets a 4xx problem+json (TF Serving routes: {"error"}), never a 5xx,
a hang or a leak. The app is the Lambda handler's own (``build_runtime``) on moto."""
from __future__ import annotations

import json
import re

import pytest

from tests.functional.reliability import (BUCKET, PROBLEM_JSON, TOKEN, TOKENS_TABLE, assert_problem, auth,
                                          create_tokens_table, in_process_moto, provision)
from tests.support.tiny_defaults import write_default_registry

pytestmark = pytest.mark.timeout(60)
DATA_BUCKET, JOBS_TABLE = "snlp-test-data", "snlp-test-jobs"
NATIVE = ("/v1/classify", "/v1/embed")
TEXT_ROUTES = (("/v1/classify", "texts"), ("/v1/embed", "texts"), ("/v1/embeddings", "input"),
               ("/v1/models/sentiment:predict", "instances"))


class RecordingS3:
    """The boto3 S3 client, recording every object key the app asks for."""

    def __init__(self, client) -> None:
        self._client, self.keys = client, []

    def get_object(self, **kw):
        self.keys.append(kw.get("Key", ""))
        return self._client.get_object(**kw)

    def __getattr__(self, name):
        return getattr(self._client, name)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    with in_process_moto() as (s3, ddb):
        from functions.api.handler import build_runtime
        from functions.settings import ENV

        provision(s3, ddb, write_default_registry(root / "reg"))
        create_tokens_table(ddb, JOBS_TABLE)  # same key schema (pk/sk)
        s3.create_bucket(Bucket=DATA_BUCKET)
        recording = RecordingS3(s3)
        env = {ENV["artifacts_bucket"]: BUCKET, ENV["tokens_table"]: TOKENS_TABLE,
               ENV["data_bucket"]: DATA_BUCKET, ENV["jobs_table"]: JOBS_TABLE,
               ENV["model_cache_dir"]: str(root / "cache"), ENV["preload_models"]: "sentiment,minilm-embed"}
        runtime = build_runtime(env, s3_client=recording, dynamodb_client=ddb)
        runtime.s3 = recording
        runtime.cache_root = root
        yield runtime


@pytest.fixture
def client(api):
    return api.app.test_client()


def _is_error_4xx(resp, path: str) -> dict:
    assert 400 <= resp.status_code < 500, (path, resp.status_code, resp.get_data(as_text=True)[:300])
    body = json.loads(resp.get_data())
    if path.endswith(":predict"):
        assert resp.mimetype == "application/json" and set(body) == {"error"}
    else:
        assert resp.mimetype == PROBLEM_JSON, resp.mimetype
        assert body["status"] == resp.status_code
    assert len(resp.get_data()) < 4096, "an error answer echoes the input back"
    return body


def test_one_megabyte_single_text(client):
    big = "good " * (1 << 18)  # 1.25 MB of one text
    for path, field in TEXT_ROUTES:
        resp = client.post(path, json={field: [big]}, headers=auth())
        body = _is_error_4xx(resp, path)
        assert resp.status_code in (413, 422), (path, body)
    for truncate in (True, False):
        resp = client.post("/v1/classify", json={"texts": [big], "truncate": truncate}, headers=auth())
        assert resp.status_code == 422 and resp.mimetype == PROBLEM_JSON


def test_ten_thousand_texts(client):
    for path, field in TEXT_ROUTES:
        resp = client.post(path, json={field: ["good"] * 10_000}, headers=auth())
        body = _is_error_4xx(resp, path)
        assert resp.status_code in (413, 422), (path, body)
    resp = client.post("/v1/similarity", json={"source": "good", "targets": ["bad"] * 10_000}, headers=auth())
    assert_problem(resp, 422)


@pytest.mark.parametrize("depth", [100, 5_000, 100_000])
@pytest.mark.parametrize("closed", [True, False])
def test_deeply_nested_json(client, depth, closed):
    for prefix, suffix in (("", ""), ('{"texts": ', "}"), ('{"model": "sentiment", "texts": ["a", ', "]}")):
        inner = "[" * depth + ("]" * depth if closed else "")
        data = prefix + inner + (suffix if closed else "")
        for path in NATIVE + ("/v1/models/sentiment:predict", "/v1/embeddings"):
            resp = client.post(path, data=data, content_type="application/json", headers=auth())
            _is_error_4xx(resp, path)


def test_deep_objects_in_texts(client):
    nested = {"a": None}
    for _ in range(500):
        nested = {"a": nested}
    resp = client.post("/v1/classify", json={"texts": [nested]}, headers=auth())
    assert_problem(resp, 422)


@pytest.mark.parametrize("data", [
    b'{"texts": ["caf\xe9"]}',              # latin-1, not UTF-8
    b'{"texts": ["\xff\xfe\xfd"]}',
    b'\xef\xbb\xbf\xff{"texts": ["a"]}',     # a BOM then garbage
    b'{"texts": ["a\x00b"]}',                # a raw NUL inside a JSON string
    b'\x00' * 64,
    b'{"texts": ["a"]}\x00',
])
def test_invalid_utf8_and_raw_nul_bytes(client, data):
    for path in NATIVE + ("/v1/models/sentiment:predict", "/v1/embeddings"):
        resp = client.post(path, data=data, content_type="application/json", headers=auth())
        _is_error_4xx(resp, path)


@pytest.mark.parametrize("text", ["a\u0000b", "\u0000", "\ud800", "a\udfffb", "\u0000" * 1000])
def test_escaped_nul_and_lone_surrogates_never_5xx(client, text):
    for path, field in TEXT_ROUTES:
        resp = client.post(path, data=json.dumps({field: [text]}), content_type="application/json",
                           headers=auth())
        assert resp.status_code < 500, (path, repr(text), resp.status_code, resp.get_data(as_text=True)[:300])
        if resp.status_code >= 400:
            _is_error_4xx(resp, path)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/xml",
                                          "application/octet-stream"])
def test_wrong_content_type(client, content_type):
    for path in NATIVE + ("/v1/similarity", "/v1/embeddings"):
        resp = client.post(path, data=b'{"texts": ["good"]}', content_type=content_type, headers=auth())
        assert_problem(resp, 415, "unsupported-media-type")
    resp = client.post("/v1/models/sentiment:predict", data=b'{"instances": ["good"]}', content_type=content_type,
                       headers=auth())
    assert resp.status_code == 415 and set(resp.get_json()) == {"error"}


@pytest.mark.parametrize("key", ["token", "api_key", "access_token", "Token", "API_KEY", "key", "apikey"])
def test_token_in_query_string_is_refused(client, key):
    for method, path in (("get", "/v1/models"), ("post", "/v1/classify"), ("get", "/health"),
                         ("post", "/v1/models/sentiment:predict"), ("get", "/no/such/route")):
        resp = getattr(client, method)(f"{path}?{key}={TOKEN}", json={"texts": ["good"]})
        assert resp.status_code == 400, (method, path, resp.status_code)
        assert TOKEN not in resp.get_data(as_text=True)
        if not path.endswith(":predict"):
            assert_problem(resp, 400, "token-in-query")


TRAVERSAL_REFS = ["../../etc/passwd", "..", "sentiment/../minilm-embed", "sentiment@../../1-fp32",
                  "sentiment:../prod", "%2e%2e%2fetc", "/etc/passwd", "sentiment@1-fp32/../../x", "a" * 5000,
                  "sentiment\x00", "sentiment@1-fp32\n", "~root", "C:\\Windows", ".hidden", "sentiment/..",
                  "models/sentiment", "sentiment@", "@1-fp32", ":prod"]


@pytest.mark.parametrize("ref", TRAVERSAL_REFS)
def test_path_traversal_in_model_names_in_bodies(api, client, ref):
    api.s3.keys.clear()
    for path in ("/v1/classify", "/v1/embed", "/v1/embeddings"):
        field = "input" if path == "/v1/embeddings" else "texts"
        resp = client.post(path, json={"model": ref, field: ["good"]}, headers=auth())
        assert resp.status_code in (400, 404, 422), (ref, path, resp.status_code)
        _is_error_4xx(resp, path)
    assert not [k for k in api.s3.keys if ".." in k or "//" in k], api.s3.keys


@pytest.mark.parametrize("segment", ["..%2F..%2Fetc%2Fpasswd", "..%2f", "%2e%2e", "..", "...",
                                     "sentiment%2F..%2F..%2Fsecret", "%00", "a%0Ab", "sentiment%40..%2Fx"])
def test_path_traversal_in_model_names_in_urls(api, client, segment):
    api.s3.keys.clear()
    for method, path in (("get", f"/v1/models/{segment}"), ("post", f"/v1/models/{segment}:predict"),
                         ("post", f"/v1/models/sentiment/versions/{segment}:predict"),
                         ("post", f"/v1/models/sentiment/labels/{segment}:predict")):
        resp = getattr(client, method)(path, json={"instances": ["good"]}, headers=auth())
        assert 400 <= resp.status_code < 500, (path, resp.status_code, resp.get_data(as_text=True)[:200])
        assert "root:" not in resp.get_data(as_text=True)
    assert not [k for k in api.s3.keys if ".." in k or "\x00" in k or "\n" in k], api.s3.keys
    cache = api.cache_root / "cache"
    assert all(p.resolve().is_relative_to(cache.resolve()) for p in cache.rglob("*"))


def _batch_routes(api) -> None:
    rules = {r.rule for r in api.app.url_map.iter_rules()}
    if "/v1/batch" not in rules:
        pytest.skip("POST /v1/batch is not wired into create_app yet (functions/api/routes_batch.py)")


@pytest.mark.parametrize("data", ["[" * 100_000, '{"format": ' + "[" * 100_000 + "]" * 100_000 + "}",
                                  b'{"format": "jsonl", "model": "caf\xe9"}', b"\x00" * 16, "{" * 50_000])
def test_batch_create_hostile_bodies(api, client, data):
    _batch_routes(api)
    resp = client.post("/v1/batch", data=data, content_type="application/json", headers=auth())
    _is_error_4xx(resp, "/v1/batch")


def test_batch_create_wrong_content_type(api, client):
    _batch_routes(api)
    resp = client.post("/v1/batch", data=b'{"format": "jsonl"}', content_type="text/plain", headers=auth())
    assert_problem(resp, 415, "unsupported-media-type")


@pytest.mark.parametrize("body", [{"format": "../../x"}, {"format": "jsonl/../../results/x"},
                                  {"filename": "../../../etc/passwd.jsonl"}, {"model": "../../etc"},
                                  {"format": "jsonl", "job_id": "../../results/x"}, {"format": ["jsonl"]}])
def test_batch_create_traversal_in_fields(api, client, body):
    _batch_routes(api)
    resp = client.post("/v1/batch", json=body, headers=auth())
    if resp.status_code == 201:  # accepted: the upload key must still be a plain incoming/<id>.<fmt>
        job = resp.get_json()
        assert re.fullmatch(r"incoming/[A-Za-z0-9_-]{1,64}\.(jsonl|csv)", job["key"]), job["key"]
    else:
        _is_error_4xx(resp, "/v1/batch")


@pytest.mark.parametrize("job", ["..%2F..%2Fresults%2Fother", "..", "%2e%2e", "a%2F..%2F..%2Fx", "%00",
                                 "..%5C..%5Cx", "x" * 300])
def test_path_traversal_in_batch_job_ids_over_http(client, job):
    resp = client.get(f"/v1/batch/{job}", headers=auth())
    assert resp.status_code in (400, 404), resp.status_code
    assert resp.mimetype == PROBLEM_JSON


@pytest.mark.parametrize("key", ["incoming/../results/x.jsonl", "incoming/a/../../results/x.jsonl",
                                 "incoming/./x.jsonl", "incoming//x.jsonl", "incoming/../incoming/x.jsonl",
                                 "results/x.jsonl", "incoming/", "x/incoming/y.jsonl",
                                 "incoming/..%2Fresults%2Fx.jsonl", "incoming%2F..%2F..%2Fx.jsonl",
                                 "incoming/a%2F..%2F..%2Fresults%2Fx.jsonl", "incoming/.%2E/x.jsonl"])
def test_path_traversal_in_batch_object_keys_is_ignored(key):
    """Keys arrive URL-encoded in S3 events: decoded or not, none may leave incoming/."""
    from functions.batch.events import Ignored, parse_body

    body = json.dumps({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                                    "s3": {"bucket": {"name": "b"}, "object": {"key": key, "eTag": "e"}}}]})
    [work] = parse_body(body)
    assert isinstance(work, Ignored), (key, work)
