"""The artifact store against S3 (moto): resolve, download once, verify, LRU, TTL, failures."""
from __future__ import annotations

import socket
import threading
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from functions.nlp.errors import ArtifactIntegrityError, ModelNotFoundError, ModelUnavailableError
from functions.settings import Settings
from functions.store import ArtifactStore
from functions.store.clients import default_s3_client
from tests.support.s3 import artifact_key, put_aliases, tamper_object, upload_registry
from infra.local.tiny_artifact import reference_outputs, write_artifact, write_registry

BUCKET = "artifacts-test"
TTL = 60.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Events(list):
    def __call__(self, name: str, data: dict) -> None:
        self.append((name, data))

    def named(self, name: str) -> list[dict]:
        return [data for event, data in self if event == name]


class GetCounter:
    """Counts GetObject calls per key through botocore's event hooks (no wrapper needed)."""

    def __init__(self, client) -> None:
        self.keys: list[str] = []
        client.meta.events.register("provide-client-params.s3.GetObject", self._seen)

    def _seen(self, params, **_):
        self.keys.append(params["Key"])

    def count(self, suffix: str = "") -> int:
        return sum(k.endswith(suffix) for k in self.keys)

    def reset(self) -> None:
        self.keys.clear()


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    """The tiny registry plus a third tiny-sentiment version (same size) for LRU tests."""
    root = tmp_path_factory.mktemp("registry")
    write_registry(root)
    write_artifact(root / "tiny-sentiment" / "3-fp32", "classify", name="tiny-sentiment", version="3-fp32", seed=2)
    return root


@pytest.fixture
def s3(registry):
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        upload_registry(client, BUCKET, registry)
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def make_store(s3, tmp_path, clock, events):
    def make(client=None, cache_dir=None, **kwargs) -> ArtifactStore:
        kwargs.setdefault("alias_ttl_s", TTL)
        return ArtifactStore(client or s3, BUCKET, cache_dir or tmp_path / "cache", clock=clock,
                             on_event=events, **kwargs)
    return make


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def down_client():
    """A client pointed at a port nobody listens on, failing fast."""
    return default_s3_client(endpoint_url=f"http://127.0.0.1:{closed_port()}", connect_timeout=0.2,
                             read_timeout=0.2, retries=0, region_name="us-east-1")


# --- resolution -------------------------------------------------------------------------
def test_resolve_name_alias_and_version(make_store):
    store = make_store()
    assert store.resolve("tiny-sentiment") == ("tiny-sentiment", "1-fp32")
    assert store.resolve("tiny-sentiment:candidate") == ("tiny-sentiment", "2-fp32")
    assert store.resolve("tiny-sentiment@3-fp32") == ("tiny-sentiment", "3-fp32")
    assert store.manifest("tiny-embed").task == "embed"


@pytest.mark.parametrize("ref", ["nope", "nope:prod", "tiny-sentiment:nope", "tiny-sentiment@9-fp32",
                                 "nope@1-fp32", "../tiny-sentiment", "tiny-sentiment@../1-fp32", ""])
def test_unknown_references_are_not_found(make_store, ref):
    store = make_store()
    with pytest.raises(ModelNotFoundError):
        store.get(ref)


def test_get_runs_the_right_model(make_store):
    store = make_store()
    model = store.get("tiny-sentiment")
    assert model.manifest.ref == "tiny-sentiment@1-fp32"
    _, result = model.classify(["good movie", "awful day"])
    np.testing.assert_allclose(result.outputs, reference_outputs("classify", ["good movie", "awful day"]),
                               atol=1e-5)


# --- download once ----------------------------------------------------------------------
def test_downloads_once_and_reuses_across_calls_and_instances(s3, make_store, tmp_path):
    gets = GetCounter(s3)
    store = make_store()
    first = store.get("tiny-sentiment")
    assert gets.count("model.onnx") == 1 and gets.count("tokenizer.json") == 1
    assert store.get("tiny-sentiment") is first
    assert store.get("tiny-sentiment@1-fp32") is first
    assert gets.count("model.onnx") == 1
    assert (tmp_path / "cache" / "tiny-sentiment" / "1-fp32" / "model.onnx").is_file()

    gets.reset()
    again = make_store()  # a new instance on the same /tmp: a warm container after a re-init
    assert again.get("tiny-sentiment@1-fp32").manifest.ref == "tiny-sentiment@1-fp32"
    assert gets.keys == []  # manifest and files from disk, verified, not refetched
    again.get("tiny-sentiment")
    assert gets.keys == ["models/tiny-sentiment/aliases.json"]


def test_concurrent_first_requests_download_once(s3, make_store):
    gets = GetCounter(s3)
    store = make_store()
    results, errors = [], []

    def worker():
        try:
            results.append(store.get("tiny-embed"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({id(m) for m in results}) == 1
    assert gets.count("model.onnx") == 1


def test_model_loaded_event_carries_timings(make_store, events):
    make_store().get("tiny-sentiment")
    (loaded,) = events.named("model_loaded")
    assert loaded["model"] == "tiny-sentiment" and loaded["version"] == "1-fp32"
    assert loaded["bytes"] > 0
    for field in ("download_ms", "verify_ms", "load_ms"):
        assert loaded[field] >= 0


# --- integrity --------------------------------------------------------------------------
def test_tampered_artifact_is_refused_and_not_retried(s3, make_store, events, tmp_path, clock):
    tamper_object(s3, BUCKET, artifact_key("tiny-sentiment", "1-fp32", "model.onnx"))
    store = make_store()
    with pytest.raises(ArtifactIntegrityError):
        store.get("tiny-sentiment")
    (failure,) = events.named("integrity_failure")
    assert failure["model"] == "tiny-sentiment" and failure["version"] == "1-fp32"
    assert not (tmp_path / "cache" / "tiny-sentiment" / "1-fp32").exists()
    assert store.loaded() == []

    gets = GetCounter(s3)
    with pytest.raises(ArtifactIntegrityError):
        store.get("tiny-sentiment")
    assert gets.count("model.onnx") == 0  # remembered for the TTL: no download storm
    clock.advance(TTL + 1)
    with pytest.raises(ArtifactIntegrityError):
        store.get("tiny-sentiment")
    assert gets.count("model.onnx") == 1


def test_tampered_promotion_keeps_serving_previous_version(s3, make_store, events, clock):
    store = make_store()
    v1 = store.get("tiny-sentiment")
    tamper_object(s3, BUCKET, artifact_key("tiny-sentiment", "2-fp32", "tokenizer.json"))
    put_aliases(s3, BUCKET, "tiny-sentiment", {"prod": "2-fp32"})
    clock.advance(TTL + 1)
    assert store.get("tiny-sentiment") is v1
    assert events.named("integrity_failure")[0]["version"] == "2-fp32"
    served = events.named("served_previous_version")[0]
    assert served["requested_version"] == "2-fp32" and served["version"] == "1-fp32"
    with pytest.raises(ArtifactIntegrityError):  # an explicit version gets no substitute
        store.get("tiny-sentiment@2-fp32")


def test_damaged_local_copy_is_fetched_again(s3, make_store, tmp_path, events):
    make_store().get("tiny-sentiment")
    path = tmp_path / "cache" / "tiny-sentiment" / "1-fp32" / "model.onnx"
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    gets = GetCounter(s3)
    assert make_store().get("tiny-sentiment@1-fp32").manifest.version == "1-fp32"
    assert gets.count("model.onnx") == 1
    assert events.named("integrity_failure") == []


# --- aliases ----------------------------------------------------------------------------
def test_promotion_takes_effect_after_the_ttl_only(s3, make_store, clock):
    store = make_store()
    assert store.get("tiny-sentiment").manifest.version == "1-fp32"
    put_aliases(s3, BUCKET, "tiny-sentiment", {"prod": "2-fp32"})
    gets = GetCounter(s3)
    clock.advance(TTL - 1)
    assert store.get("tiny-sentiment").manifest.version == "1-fp32"
    assert gets.keys == []  # within the TTL: no S3 call at all
    clock.advance(2)
    assert store.get("tiny-sentiment").manifest.version == "2-fp32"


# --- LRU --------------------------------------------------------------------------------
def test_memory_lru_by_count(make_store, events):
    store = make_store(max_models=2)
    store.get("tiny-sentiment@1-fp32")
    store.get("tiny-sentiment@2-fp32")
    store.get("tiny-sentiment@1-fp32")  # now most recent
    store.get("tiny-embed")
    assert [m.ref for m in store.loaded()] == ["tiny-sentiment@1-fp32", "tiny-embed@1-fp32"]
    assert events.named("model_evicted") == [{"model": "tiny-sentiment", "version": "2-fp32", "from": "memory"}]


def test_disk_lru_by_bytes(make_store, tmp_path, registry):
    size = sum(p.stat().st_size for p in (registry / "tiny-sentiment" / "1-fp32").iterdir())
    store = make_store(max_cache_bytes=int(size * 2.5))
    for version in ("1-fp32", "2-fp32", "3-fp32"):
        store.get(f"tiny-sentiment@{version}")
    cached = sorted(p.name for p in (tmp_path / "cache" / "tiny-sentiment").iterdir())
    assert cached == ["2-fp32", "3-fp32"]
    assert len(store.loaded()) == 3  # memory has its own bound


def test_model_larger_than_the_budget_is_still_served(make_store, tmp_path):
    store = make_store(max_cache_bytes=1)
    store.get("tiny-sentiment@1-fp32")
    assert store.get("tiny-sentiment@2-fp32").manifest.version == "2-fp32"
    assert sorted(p.name for p in (tmp_path / "cache" / "tiny-sentiment").iterdir()) == ["2-fp32"]


# --- failures ---------------------------------------------------------------------------
def test_s3_down_is_unavailable_and_leaks_nothing(make_store):
    client = down_client()
    store = make_store(client=client)
    with pytest.raises(ModelUnavailableError) as info:
        store.get("tiny-sentiment")
    port = client.meta.endpoint_url.rsplit(":", 1)[1]
    for secret in ("127.0.0.1", port, BUCKET, "/tmp", "cache"):
        assert secret not in info.value.detail


def test_s3_down_keeps_serving_cached_models(make_store, clock, events):
    store = make_store()
    model = store.get("tiny-sentiment")
    store.s3.client = down_client()  # S3 goes away
    clock.advance(TTL + 1)
    assert store.get("tiny-sentiment") is model  # stale aliases, model in memory
    assert events.named("alias_refresh_failed")
    with pytest.raises(ModelUnavailableError):
        store.get("tiny-embed")
    # a fresh container on the same /tmp: a version ref needs nothing from S3
    again = make_store(client=down_client())
    assert again.get("tiny-sentiment@1-fp32").manifest.version == "1-fp32"


def test_full_cache_is_a_clear_unavailable(make_store, monkeypatch):
    import errno

    from functions.store import s3_reader

    class FullFile:
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device", "/tmp/secret/path")

    monkeypatch.setattr(s3_reader, "open", FullFile, raising=False)
    store = make_store()
    with pytest.raises(ModelUnavailableError) as info:
        store.get("tiny-sentiment")
    assert "model cache is full" in info.value.detail
    assert "/tmp" not in info.value.detail


def test_unwritable_cache_is_a_clear_unavailable(make_store, monkeypatch, tmp_path):
    import errno

    def refuse(self, *a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(ModelUnavailableError) as info:
        make_store().get("tiny-sentiment")
    assert "not writable" in info.value.detail
    assert str(tmp_path) not in info.value.detail


# --- many at once -----------------------------------------------------------------------
def test_preload_reports_per_ref_without_raising(make_store):
    results = make_store().preload(["tiny-sentiment", "tiny-embed:candidate", "nope", "../etc"])
    assert results["tiny-sentiment"] is None and results["tiny-embed:candidate"] is None
    assert "not found" in results["nope"]
    assert results["../etc"]


def test_list_and_describe(make_store):
    store = make_store()
    store.get("tiny-embed")
    listed = {m["name"]: m for m in store.list_models()}
    assert listed["tiny-sentiment"]["versions"] == ["1-fp32", "2-fp32", "3-fp32"]
    assert listed["tiny-sentiment"]["aliases"] == {"prod": "1-fp32", "candidate": "2-fp32"}
    info = store.describe("tiny-embed")
    assert info["loaded"] == ["1-fp32"]
    assert info["manifest"]["task"] == "embed" and info["manifest"]["version"] == "1-fp32"
    with pytest.raises(ModelNotFoundError):
        store.describe("nope")
    with pytest.raises(ModelNotFoundError):
        store.describe("../x")


def test_from_settings(s3, tmp_path):
    settings = Settings(artifacts_bucket=BUCKET, model_cache_dir=str(tmp_path / "c"), cache_max_models=1,
                        threads=1, alias_ttl_s=5)
    store = ArtifactStore.from_settings(settings, s3, max_cache_bytes=10**8)
    assert store.max_models == 1 and store.alias_ttl_s == 5 and store.max_cache_bytes == 10**8
    assert store.get("tiny-sentiment").manifest.name == "tiny-sentiment"
