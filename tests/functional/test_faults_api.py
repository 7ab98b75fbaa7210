"""Faults on the API path: S3 down, a tampered artifact, a full /tmp.

S3 and DynamoDB are real moto servers in child processes that these tests kill and start
again, so the app sees refused connections exactly as it would see an unreachable endpoint.
The store's and the token cache's clocks are a hand-moved ``Clock``, so "wait 5 s" is instant.
"""
from __future__ import annotations

import errno
import json

import pytest

from tests.functional.reliability import (BUCKET, CLASSIFY, TOKENS_TABLE, Clock, assert_problem, auth,  # noqa: F401
                                          build_app, ddb_server, env, provision, registry, retry_after, s3_server,
                                          settings_for)
from tests.support.s3 import artifact_key, put_aliases, tamper_object

pytestmark = pytest.mark.timeout(120)


# --- S3 down ----------------------------------------------------------------------------------
def test_s3_down_at_cold_start_503_with_retry_after_then_recovers_by_itself(env, s3_server, ddb_server,
                                                                            registry, tmp_path):
    s3, ddb = env
    s3_server.stop()
    clock = Clock()
    app = build_app(settings_for(tmp_path / "cache"), s3, ddb, clock=clock)
    store = app.extensions["snlp"].store
    assert store.preload(["sentiment"])["sentiment"]  # the cold start's preload fails, and survives it
    client = app.test_client()

    for path, body in (("/v1/classify", CLASSIFY), ("/v1/embed", {"texts": ["good"]}),
                       ("/v1/models/sentiment:predict", {"instances": ["good"]})):
        resp = client.post(path, json=body, headers=auth())
        assert resp.status_code == 503, (path, resp.status_code, resp.get_data(as_text=True))
        assert retry_after(resp) > 0
        if path != "/v1/models/sentiment:predict":  # TF Serving routes answer {"error"} by contract
            assert_problem(resp, 503, "model-unavailable")
        text = resp.get_data(as_text=True)
        assert str(s3_server.port) not in text and "127.0.0.1" not in text and BUCKET not in text
    resp = client.get("/v1/models", headers=auth())
    assert_problem(resp, 503)
    assert retry_after(resp) > 0

    # S3 comes back (empty, as a restarted moto is): republish; no restart of the app
    s3_server.start()
    provision(s3, ddb, registry)
    clock.advance(6)  # past the store's ~5 s memory of the failure
    resp = client.post("/v1/classify", json=CLASSIFY, headers=auth())
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["model"] == "sentiment@1-fp32"
    assert client.get("/v1/models", headers=auth()).status_code == 200


def test_s3_down_at_lambda_cold_start_preload_survives_and_recovers(env, s3_server, registry, tmp_path):
    """The Lambda handler's own cold start (build_runtime, models preloaded) while S3 is down."""
    from functions.api.handler import build_runtime
    from functions.settings import ENV

    s3, ddb = env
    s3_server.stop()
    rt = build_runtime({ENV["artifacts_bucket"]: BUCKET, ENV["tokens_table"]: TOKENS_TABLE,
                        ENV["model_cache_dir"]: str(tmp_path / "cache"),
                        ENV["preload_models"]: "sentiment,minilm-embed"}, s3_client=s3, dynamodb_client=ddb)
    assert all(rt.preloaded.values()), rt.preloaded  # both preloads failed, the cold start did not
    client = rt.app.test_client()
    resp = client.post("/v1/classify", json=CLASSIFY, headers=auth())
    assert_problem(resp, 503, "model-unavailable")
    assert retry_after(resp) > 0
    s3_server.start()
    provision(s3, ddb, registry)
    resp = client.post("/v1/classify", json=CLASSIFY, headers=auth())
    assert resp.status_code == 200, resp.get_data(as_text=True)


def test_s3_down_during_first_download_remembered_briefly_then_recovers(env, s3_server, registry, tmp_path):
    s3, ddb = env
    clock = Clock()
    client = build_app(settings_for(tmp_path / "cache"), s3, ddb, clock=clock).test_client()
    assert client.get("/v1/models/sentiment", headers=auth()).status_code == 200  # aliases + manifest known
    s3_server.stop()
    first = client.post("/v1/classify", json=CLASSIFY, headers=auth())
    assert_problem(first, 503, "model-unavailable")
    assert retry_after(first) > 0
    s3_server.start()
    provision(s3, ddb, registry)
    clock.advance(6)
    resp = client.post("/v1/classify", json=CLASSIFY, headers=auth())
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert not list((tmp_path / "cache" / ".partial").glob("*")), "a failed download left partial files"


# --- a tampered artifact ----------------------------------------------------------------------
def test_tampered_artifact_refused_and_previous_version_keeps_serving(env, tmp_path):
    s3, ddb = env
    clock = Clock()
    app = build_app(settings_for(tmp_path / "cache", alias_ttl_s=30.0), s3, ddb, clock=clock)
    client = app.test_client()
    good = client.post("/v1/classify", json=CLASSIFY, headers=auth())
    assert good.status_code == 200 and good.get_json()["model"] == "sentiment@1-fp32"

    tamper_object(s3, BUCKET, artifact_key("sentiment", "2-fp32", "model.onnx"))
    put_aliases(s3, BUCKET, "sentiment", {"prod": "2-fp32", "fp32": "1-fp32"})  # promote the bad one
    clock.advance(31)  # the alias TTL passes: the promotion is seen
    for _ in range(3):
        resp = client.post("/v1/classify", json=CLASSIFY, headers=auth())
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert resp.get_json()["model"] == "sentiment@1-fp32"  # the previous good version
    pinned = client.post("/v1/classify", json={**CLASSIFY, "model": "sentiment@2-fp32"}, headers=auth())
    body = assert_problem(pinned, 503, "artifact-integrity")
    assert "sha" not in body["detail"].lower() and str(tmp_path) not in body["detail"]
    names = [p.name for p in app.extensions["snlp"].telemetry.peek()]
    assert "ArtifactIntegrityFailures" in names
    assert not (tmp_path / "cache" / "sentiment" / "2-fp32").exists(), "a bad copy stayed in the cache"


def test_tampered_artifact_on_a_cold_instance_is_refused(env, tmp_path):
    s3, ddb = env
    tamper_object(s3, BUCKET, artifact_key("sentiment", "1-fp32", "tokenizer.json"))
    client = build_app(settings_for(tmp_path / "cache"), s3, ddb).test_client()
    assert_problem(client.post("/v1/classify", json=CLASSIFY, headers=auth()), 503, "artifact-integrity")


# --- /tmp full --------------------------------------------------------------------------------
class _FullFile:
    """A file on a disk that fills up after 1 KiB."""

    def __init__(self, fh):
        self.fh, self.written = fh, 0

    def write(self, data):
        self.written += len(data)
        if self.written > 1024:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.fh.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def _fill_the_disk(monkeypatch) -> None:
    """Every model download the store writes hits ENOSPC after 1 KiB."""
    import builtins

    import functions.store.s3_reader as s3_reader

    real_open = builtins.open
    monkeypatch.setattr(s3_reader, "open", lambda path, mode="r", *a, **k: _FullFile(real_open(path, mode, *a, **k)),
                        raising=False)


def test_cache_disk_full_gives_a_clear_503_and_recovers(env, tmp_path, monkeypatch):
    s3, ddb = env
    _fill_the_disk(monkeypatch)
    clock = Clock()
    client = build_app(settings_for(tmp_path / "cache"), s3, ddb, clock=clock).test_client()
    resp = client.post("/v1/classify", json=CLASSIFY, headers=auth())
    body = assert_problem(resp, 503, "model-unavailable")
    assert "full" in body["detail"].lower() or "space" in body["detail"].lower(), body["detail"]
    assert str(tmp_path) not in json.dumps(body)
    assert retry_after(resp) > 0
    assert not list((tmp_path / "cache" / ".partial").glob("*")), "partial download left behind"

    monkeypatch.undo()  # space is freed
    clock.advance(6)
    assert client.post("/v1/classify", json=CLASSIFY, headers=auth()).status_code == 200


def test_cache_disk_full_on_a_promotion_keeps_the_loaded_version_serving(env, tmp_path, monkeypatch):
    s3, ddb = env
    clock = Clock()
    client = build_app(settings_for(tmp_path / "cache", alias_ttl_s=30.0), s3, ddb, clock=clock).test_client()
    assert client.post("/v1/classify", json=CLASSIFY, headers=auth()).get_json()["model"] == "sentiment@1-fp32"
    put_aliases(s3, BUCKET, "sentiment", {"prod": "2-fp32", "fp32": "1-fp32"})
    _fill_the_disk(monkeypatch)
    clock.advance(31)
    resp = client.post("/v1/classify", json=CLASSIFY, headers=auth())
    assert resp.status_code == 200 and resp.get_json()["model"] == "sentiment@1-fp32", resp.get_data(as_text=True)
    monkeypatch.undo()
    clock.advance(31)
    resp = client.post("/v1/classify", json=CLASSIFY, headers=auth())
    assert resp.status_code == 200 and resp.get_json()["model"] == "sentiment@2-fp32"  # the promotion lands


def test_cache_dir_unusable_gives_a_clear_503(env, tmp_path):
    s3, ddb = env
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    client = build_app(settings_for(blocker), s3, ddb).test_client()
    resp = client.post("/v1/classify", json=CLASSIFY, headers=auth())
    body = assert_problem(resp, 503, "model-unavailable")
    assert "cache" in body["detail"].lower()
    assert str(tmp_path) not in json.dumps(body)
