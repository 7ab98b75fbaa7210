"""S3 helpers for tests: publish a local registry tree into a (moto) bucket, tamper with it.

``upload_registry`` (infra.local.publish) copies a tree such as
``infra.local.tiny_artifact.write_registry``'s (or the ``tiny_registry`` fixture) inside
``moto.mock_aws``, or against a ``moto_server`` endpoint.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from functions.store.layout import ALIASES_FILE
from infra.local.publish import MODELS_PREFIX, ensure_bucket, upload_registry  # noqa: F401 - re-exported


def put_aliases(s3_client: Any, bucket: str, name: str, aliases: Mapping[str, str], *,
                prefix: str = MODELS_PREFIX) -> None:
    """Overwrite models/<name>/aliases.json (a promote)."""
    s3_client.put_object(Bucket=bucket, Key=f"{prefix}{name}/{ALIASES_FILE}",
                         Body=json.dumps(dict(aliases)).encode())


def tamper_object(s3_client: Any, bucket: str, key: str, offset: int | None = None) -> None:
    """Flip one byte of an object in place (default: the middle byte). Size stays the same."""
    body = bytearray(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
    index = len(body) // 2 if offset is None else offset
    body[index] ^= 0xFF
    s3_client.put_object(Bucket=bucket, Key=key, Body=bytes(body))


def artifact_key(name: str, version: str, filename: str, *, prefix: str = MODELS_PREFIX) -> str:
    return f"{prefix}{name}/{version}/{filename}"


__all__ = ["upload_registry", "ensure_bucket", "put_aliases", "tamper_object", "artifact_key", "MODELS_PREFIX"]
