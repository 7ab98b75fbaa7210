"""The /tmp cache: atomic installs, races, removal, usage; error classification and messages."""
from __future__ import annotations

import errno
import os

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from functions.nlp.errors import ModelNotFoundError, ModelUnavailableError
from functions.store.cache import PARTIAL, DiskCache
from functions.store.s3_reader import CacheWriteError, cache_error, classify


def _fill(content: bytes):
    def fill(directory):
        (directory / "model.onnx").write_bytes(content)
    return fill


def test_install_is_atomic_and_usage_counts_bytes(tmp_path):
    cache = DiskCache(tmp_path)
    final = cache.install(("m", "v1"), _fill(b"x" * 10))
    assert final == tmp_path / "m" / "v1" and cache.has(("m", "v1"))
    assert list((tmp_path / PARTIAL).iterdir()) == []
    assert cache.usage()[("m", "v1")][0] == 10


def test_failed_fill_leaves_nothing_behind(tmp_path):
    cache = DiskCache(tmp_path)

    def broken(directory):
        (directory / "model.onnx").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(CacheWriteError, match="model cache is full"):
        cache.install(("m", "v1"), broken)
    assert not cache.has(("m", "v1"))
    assert list((tmp_path / PARTIAL).iterdir()) == []


def test_losing_a_race_keeps_the_existing_copy(tmp_path):
    cache = DiskCache(tmp_path)
    cache.install(("m", "v1"), _fill(b"first"))
    cache.install(("m", "v1"), _fill(b"second"))
    assert (tmp_path / "m" / "v1" / "model.onnx").read_bytes() == b"first"


def test_remove_and_stale_partials(tmp_path):
    cache = DiskCache(tmp_path)
    cache.install(("m", "v1"), _fill(b"x"))
    cache.remove(("m", "v1"))
    assert not (tmp_path / "m").exists()
    stale = tmp_path / PARTIAL / "m@v2.1.dead"
    stale.mkdir(parents=True)
    os.utime(stale, (0, 0))
    fresh = tmp_path / PARTIAL / "m@v3.1.live"
    fresh.mkdir()
    cache.clean_partials()
    assert not stale.exists() and fresh.exists()


@pytest.mark.parametrize("code, expected", [
    (errno.ENOSPC, "model cache is full"), (errno.EDQUOT, "model cache is full"),
    (errno.EACCES, "not writable"), (errno.EROFS, "not writable"),
])
def test_cache_error_messages(code, expected):
    err = cache_error(OSError(code, os.strerror(code), "/tmp/secret"))
    assert isinstance(err, ModelUnavailableError) and expected in err.detail and "/tmp" not in err.detail


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "GetObject")


@pytest.mark.parametrize("exc, kind", [
    (_client_error("NoSuchKey", 404), ModelNotFoundError),
    (_client_error("404", 404), ModelNotFoundError),
    (_client_error("NoSuchBucket", 404), ModelUnavailableError),
    (_client_error("AccessDenied", 403), ModelUnavailableError),
    (_client_error("InternalError", 500), ModelUnavailableError),
    (_client_error("SlowDown", 503), ModelUnavailableError),
    (EndpointConnectionError(endpoint_url="http://10.0.0.1:9000/secret"), ModelUnavailableError),
    (ReadTimeoutError(endpoint_url="http://10.0.0.1:9000/secret"), ModelUnavailableError),
    (RuntimeError("boom"), ModelUnavailableError),
])
def test_classify(exc, kind):
    err = classify(exc, "model m")
    assert type(err) is kind
    assert "10.0.0.1" not in err.detail and "secret" not in err.detail
