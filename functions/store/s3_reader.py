"""Reads from the artifacts bucket, with botocore failures mapped to domain errors.

Missing keys become ModelNotFoundError (404); everything that means "S3 cannot answer right
now" (connection refused, timeouts, throttling, 5xx, access denied, no such bucket) becomes
ModelUnavailableError (503). Messages never carry the endpoint, bucket or any local path.
"""
from __future__ import annotations

import errno
from pathlib import Path
from typing import Any, Iterator

from botocore.exceptions import BotoCoreError, ClientError

from functions.nlp.errors import ModelNotFoundError, ModelUnavailableError

from .clients import error_code, http_status
from .layout import PREFIX

MODELS_PREFIX = PREFIX + "/"
_MISSING = {"NoSuchKey", "404", "NotFound"}
_CHUNK = 1 << 20


class CacheWriteError(ModelUnavailableError):
    """The local model cache (/tmp) is full or cannot be written."""


def cache_error(exc: OSError) -> CacheWriteError:
    """A clear, path-free message for a failed write to the model cache."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return CacheWriteError("model cache is full: no space left to store the model")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return CacheWriteError("model cache is not writable")
    return CacheWriteError(f"model cache cannot be written ({errno.errorcode.get(exc.errno or 0, 'I/O error')})")


class S3Reader:
    """The few S3 calls the artifact store makes, against one bucket."""

    def __init__(self, s3_client: Any, bucket: str, prefix: str = MODELS_PREFIX) -> None:
        self.client = s3_client
        self.bucket = bucket
        self.prefix = prefix

    def key(self, *parts: str) -> str:
        return self.prefix + "/".join(parts)

    def get_bytes(self, key: str, what: str) -> bytes:
        """The whole object; ``what`` names it in error messages ("model x", "x@v manifest")."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:  # noqa: BLE001 - classified below, re-raised as domain errors
            raise classify(exc, what) from exc

    def download(self, key: str, path: Path, what: str) -> int:
        """Stream one object to ``path``; returns bytes written.

        Read failures are the store's (503 "unavailable"), write failures the cache's
        (503 "model cache is full"): the two are told apart by where they happen.
        """
        try:
            chunks = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].iter_chunks(_CHUNK)
        except Exception as exc:  # noqa: BLE001
            raise classify(exc, what) from exc
        written = 0
        try:
            with open(path, "wb") as fh:
                while True:
                    try:
                        chunk = next(chunks, None)
                    except Exception as exc:  # noqa: BLE001
                        raise classify(exc, what) from exc
                    if chunk is None:
                        return written
                    fh.write(chunk)
                    written += len(chunk)
        except OSError as exc:
            raise cache_error(exc) from exc

    def list_keys(self, prefix: str) -> Iterator[str]:
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", ()):
                    yield item["Key"]
        except Exception as exc:  # noqa: BLE001
            raise classify(exc, "the model list") from exc


def classify(exc: BaseException, what: str) -> Exception:
    """Map a botocore (or transport) failure to ModelNotFoundError / ModelUnavailableError."""
    if isinstance(exc, (ModelNotFoundError, ModelUnavailableError)):
        return exc
    if isinstance(exc, ClientError):
        code, status = error_code(exc), http_status(exc)
        if code in _MISSING or (status == 404 and code != "NoSuchBucket"):
            return ModelNotFoundError(f"{what} not found")
        # 403 (no permission), NoSuchBucket, throttling, 5xx: the store is misconfigured or down
        return ModelUnavailableError(f"model store unavailable while reading {what}")
    if isinstance(exc, BotoCoreError):
        return ModelUnavailableError(f"model store unreachable while reading {what}")
    return ModelUnavailableError(f"model store error while reading {what}")


__all__ = ["S3Reader", "classify", "cache_error", "CacheWriteError", "MODELS_PREFIX"]
