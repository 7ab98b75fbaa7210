"""S3 helpers for tests: publish a local registry tree into a (moto) bucket, tamper with it.

The layout matches the artifact contract::

    <root>/<name>/aliases.json              -> s3://<bucket>/models/<name>/aliases.json
    <root>/<name>/<version>/<file>          -> s3://<bucket>/models/<name>/<version>/<file>

Use with ``infra.local.tiny_artifact.write_registry`` (or the ``tiny_registry`` fixture)
inside ``moto.mock_aws``, or against a ``moto_server`` endpoint.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

MODELS_PREFIX = "models/"


def ensure_bucket(s3_client: Any, bucket: str) -> None:
    """Create the bucket (us-east-1 style, no location constraint) unless it exists."""
    try:
        s3_client.head_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - any failure here means "create it"
        s3_client.create_bucket(Bucket=bucket)


def upload_registry(s3_client: Any, bucket: str, root: str | Path, *, prefix: str = MODELS_PREFIX) -> list[str]:
    """Upload every file under ``root`` to ``<prefix><relative path>``; returns the keys, sorted.

    Creates the bucket if needed. Manifests go last, so a reader never sees a manifest whose
    files are not there yet (the same order the real publish step uses).
    """
    ensure_bucket(s3_client, bucket)
    root = Path(root)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name in ("manifest.json", "aliases.json"))
    keys = []
    for path in files:
        key = prefix + path.relative_to(root).as_posix()
        s3_client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        keys.append(key)
    return sorted(keys)


def put_aliases(s3_client: Any, bucket: str, name: str, aliases: Mapping[str, str], *,
                prefix: str = MODELS_PREFIX) -> None:
    """Overwrite models/<name>/aliases.json (a promote)."""
    s3_client.put_object(Bucket=bucket, Key=f"{prefix}{name}/aliases.json",
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
