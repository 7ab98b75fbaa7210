"""The S3 model registry: publish immutable versions, move aliases atomically, list.

Every function takes a boto3 S3 client, so tests hand in a moto-backed one and the CLI
builds one from --endpoint-url / AWS_ENDPOINT_URL.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from functions.nlp.manifest import MANIFEST_FILE, MODEL_FILE, TOKENIZER_FILE, Manifest
from functions.store.clients import error_code
from functions.store.layout import (PREFIX, aliases_key, dump_numbers, is_number, local_aliases, model_prefix,
                                    next_number, parse_numbers, version_prefix, versions_key)

from .errors import RegistryError

CONTENT_TYPES = {MODEL_FILE: "application/octet-stream", TOKENIZER_FILE: "application/json",
                 MANIFEST_FILE: "application/json"}
_CONFLICT = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")


def _call(what: str, fn, *args, **kwargs):
    """Run one S3 call; connection problems become a one-line RegistryError."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(*args, **kwargs)
    except ClientError:
        raise
    except BotoCoreError as exc:
        raise RegistryError(f"cannot reach the S3 endpoint while trying to {what}: {exc}") from exc


def _exists(s3, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        _call(f"check s3://{bucket}/{key}", s3.head_object, Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        if error_code(exc) == "NoSuchBucket":
            raise RegistryError(f"bucket {bucket!r} does not exist") from exc
        raise RegistryError(f"cannot read s3://{bucket}/{key}: {exc}") from exc


def _single_put():
    """Artifacts are far below S3's 5 GB single-PUT limit: one PUT per file keeps a plain
    whole-object checksum (multipart objects get composite ones, which moto serves in a form
    botocore rejects on download) and makes each file appear atomically."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=5 * 1024**3)


def publish(s3, bucket: str, artifact_dir: str | Path) -> str:
    """Upload one local version; the manifest goes last so readers never see half a version."""
    from botocore.exceptions import ClientError

    artifact_dir = Path(artifact_dir)
    if not (artifact_dir / MANIFEST_FILE).is_file():
        raise RegistryError(f"{artifact_dir} is not an artifact directory (no {MANIFEST_FILE})")
    manifest = Manifest.load(artifact_dir)
    if is_number(manifest.version):
        raise RegistryError(f"version {manifest.version!r} is only digits: those name version numbers "
                            "(name@1 is the first version published); give the version a non-numeric name")
    manifest.verify_dir(artifact_dir)  # never publish files that differ from their manifest
    prefix = version_prefix(manifest.name, manifest.version)
    if _exists(s3, bucket, prefix + MANIFEST_FILE):
        raise RegistryError(f"{manifest.ref} already exists in s3://{bucket}/{prefix}: versions are immutable; "
                            "build a new version instead")
    try:
        for rel in [r for r in manifest.files if r != MANIFEST_FILE] + [MANIFEST_FILE]:
            _call(f"upload {rel}", s3.upload_file, str(artifact_dir / rel), bucket, prefix + rel,
                  ExtraArgs={"ContentType": CONTENT_TYPES.get(rel, "application/octet-stream")},
                  Config=_single_put())
    except ClientError as exc:
        raise RegistryError(f"upload of {manifest.ref} failed: {exc}") from exc
    number_version(s3, bucket, manifest.name, manifest.version)
    return manifest.ref


def read_numbers(s3, bucket: str, name: str) -> tuple[dict[int, str], str | None]:
    """({number: version}, ETag) of a model; ({}, None) before its first numbered version."""
    numbers, etag = _read_json(s3, bucket, versions_key(name), f"version numbers of {name}")
    return (parse_numbers(numbers) if numbers is not None else {}), etag


def number_version(s3, bucket: str, name: str, version: str, retries: int = 5) -> int:
    """The version's number, giving it the next one if it has none yet (idempotent).

    Numbers only grow: a conditional write (If-Match on the ETag) makes two publishers racing
    for the same number retry instead of both taking it."""
    from botocore.exceptions import ClientError

    for _ in range(retries):
        numbers, etag = read_numbers(s3, bucket, name)
        for number, numbered in numbers.items():
            if numbered == version:
                return number
        number = next_number(numbers)
        numbers[number] = version
        cond = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            _call(f"write version numbers of {name}", s3.put_object, Bucket=bucket, Key=versions_key(name),
                  Body=dump_numbers(numbers), ContentType="application/json", **cond)
            return number
        except ClientError as exc:
            if error_code(exc) in _CONFLICT:
                continue
            raise RegistryError(f"cannot write version numbers of {name}: {exc}") from exc
    raise RegistryError(f"version numbers of {name} kept changing; gave up after {retries} tries")


def _read_json(s3, bucket: str, key: str, what: str) -> tuple[Any, str | None]:
    """(parsed object, ETag), or (None, None) when the object does not exist yet."""
    from botocore.exceptions import ClientError

    try:
        obj = _call(f"read {what}", s3.get_object, Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404"):
            return None, None
        raise RegistryError(f"cannot read {what}: {exc}") from exc
    return json.loads(obj["Body"].read()), obj.get("ETag")


def read_aliases(s3, bucket: str, name: str) -> tuple[dict[str, str], str | None]:
    """(aliases, ETag) of a model; ({}, None) when it has none yet."""
    aliases, etag = _read_json(s3, bucket, aliases_key(name), f"aliases of {name}")
    return aliases or {}, etag


def promote(s3, bucket: str, name: str, version: str, alias: str = "prod", retries: int = 5) -> dict[str, str]:
    """Point ``alias`` at ``version``: read-modify-write guarded by If-Match on the ETag.

    The single PUT of aliases.json is atomic for readers; the conditional write makes two
    concurrent promotions retry instead of silently overwriting each other.
    """
    from botocore.exceptions import ClientError

    if not _exists(s3, bucket, version_prefix(name, version) + MANIFEST_FILE):
        raise RegistryError(f"{name}@{version} is not published in s3://{bucket}: publish it first")
    for _ in range(retries):
        aliases, etag = read_aliases(s3, bucket, name)
        aliases[alias] = version
        body = json.dumps(aliases, indent=2, sort_keys=True).encode()
        cond = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            _call(f"write aliases of {name}", s3.put_object, Bucket=bucket, Key=aliases_key(name), Body=body,
                  ContentType="application/json", **cond)
            return aliases
        except ClientError as exc:
            if error_code(exc) in _CONFLICT:
                continue  # someone else moved an alias meanwhile: re-read and retry
            raise RegistryError(f"cannot write aliases of {name}: {exc}") from exc
    raise RegistryError(f"aliases of {name} kept changing; gave up after {retries} tries")


def list_registry(s3, bucket: str, name: str | None = None) -> dict[str, dict[str, Any]]:
    """{name: {"aliases": {...}, "versions": {version: manifest dict}, "numbers": {version: n}}} from S3."""
    from botocore.exceptions import ClientError

    prefix = model_prefix(name) if name else f"{PREFIX}/"
    out: dict[str, dict[str, Any]] = {}
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        keys = [o["Key"] for page in _call("list the registry", list, pages) for o in page.get("Contents", [])]
    except ClientError as exc:
        raise RegistryError(f"cannot list s3://{bucket}/{prefix}: {exc}") from exc
    for key in sorted(keys):
        parts = key.split("/")
        if len(parts) == 4 and parts[3] == MANIFEST_FILE:
            body = _call("read a manifest", s3.get_object, Bucket=bucket, Key=key)["Body"].read()
            entry = out.setdefault(parts[1], {"aliases": {}, "versions": {}})
            entry["versions"][parts[2]] = json.loads(body)
    for model in out:
        out[model]["aliases"] = read_aliases(s3, bucket, model)[0]
        out[model]["numbers"] = {v: n for n, v in read_numbers(s3, bucket, model)[0].items()}
    return out


def publish_defaults(s3, bucket: str, dist: Path, names) -> list[str]:
    """Publish every built variant of each model (skipping versions already there) and mirror
    the local aliases (prod -> int8, fp32/fp16/int8 -> their versions)."""
    done = []
    for name in names:
        model_dir = Path(dist) / name
        aliases = local_aliases(dist, name)
        if aliases is None:
            raise RegistryError(f"{name} is not built in {dist}: run `make models` first")
        for version in sorted(set(aliases.values())):
            prefix = version_prefix(name, version)
            if _exists(s3, bucket, prefix + MANIFEST_FILE):
                number_version(s3, bucket, name, version)  # registries from before version numbers
                done.append(f"{name}@{version} (already published)")
                continue
            done.append(publish(s3, bucket, model_dir / version))
        for alias, version in sorted(aliases.items()):
            promote(s3, bucket, name, version, alias)
        done.append(f"{name} aliases: {aliases}")
    return done


def format_listing(listing: dict[str, dict[str, Any]]) -> str:
    if not listing:
        return "no models published"
    lines = []
    for name, entry in listing.items():
        by_version: dict[str, list[str]] = {}
        for alias, version in entry["aliases"].items():
            by_version.setdefault(version, []).append(alias)
        lines.append(f"{name}")
        for version, manifest in entry["versions"].items():
            tags = ",".join(sorted(by_version.get(version, [])))
            size = manifest.get("files", {}).get(MODEL_FILE, {}).get("bytes", 0) / 1e6
            number = entry.get("numbers", {}).get(version)
            lines.append(f"  {('#' + str(number)) if number else '':<4} {version:<20} {manifest.get('quantization', ''):<5} {size:7.1f} MB  "
                         f"{_headline(manifest.get('metrics', {})):<40} {('[' + tags + ']') if tags else ''}")
    return "\n".join(lines)


def _headline(metrics: dict[str, Any]) -> str:
    test = metrics.get("test")
    if test:
        return f"acc {test.get('accuracy')} F1 {test.get('macro_f1')}"
    fid = metrics.get("fidelity")
    if fid:
        return f"cos mean {fid.get('cosine_mean')} min {fid.get('cosine_min')}"
    check = metrics.get("build", {}).get("check") or {}
    return ", ".join(f"{k} {v}" for k, v in check.items())


def make_client(endpoint_url: str | None = None, region: str | None = None):
    """boto3 S3 client; endpoint from the argument, else AWS_ENDPOINT_URL (boto3 reads it)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=60)
    return boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or "us-east-1",
                        config=config)


__all__ = ["RegistryError", "publish", "promote", "read_aliases", "list_registry", "make_client",
           "version_prefix", "aliases_key", "publish_defaults", "read_numbers", "number_version", "PREFIX",
           "format_listing"]
