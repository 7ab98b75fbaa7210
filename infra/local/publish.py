"""Put a local registry tree into a (moto) bucket.

``publish_models``: the local stack publishes the built models with the pipeline's own registry
code (``model_artifacts.publish.publish_defaults``: the step that publishes to AWS, pointed at
moto). ``upload_registry``: the cost sweep and the tests copy a tree as it is, file by file::

    <root>/<name>/aliases.json              -> s3://<bucket>/models/<name>/aliases.json
    <root>/<name>/<version>/<file>          -> s3://<bucket>/models/<name>/<version>/<file>
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

from functions.nlp.manifest import MANIFEST_FILE
from functions.store.layout import ALIASES_FILE, PREFIX

from .errors import LocalStackError

MODELS_PREFIX = PREFIX + "/"
NOT_PUBLISHED = "_torch"  # dist/<name>/_torch: the PyTorch checkpoint the artifacts came from


def ensure_bucket(s3_client: Any, bucket: str) -> None:
    """Create the bucket (us-east-1 style, no location constraint) unless it exists."""
    try:
        s3_client.head_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - any failure here means "create it"
        s3_client.create_bucket(Bucket=bucket)


def upload_registry(s3_client: Any, bucket: str, root: str | Path, *, prefix: str = MODELS_PREFIX,
                    names: Iterable[str] | None = None) -> list[str]:
    """Upload every file under ``root`` (only the models ``names``, when given) to
    ``<prefix><relative path>``; returns the keys, sorted.

    Creates the bucket if needed. Manifests and aliases go last, so a reader never sees a
    manifest whose files are not there yet (the same order the real publish step uses).
    PyTorch checkpoints (``_torch``) are not part of the registry and stay behind.
    """
    ensure_bucket(s3_client, bucket)
    root = Path(root)
    wanted = set(names) if names is not None else None
    files = sorted(p for p in root.rglob("*") if p.is_file() and NOT_PUBLISHED not in p.relative_to(root).parts
                   and (wanted is None or p.relative_to(root).parts[0] in wanted))
    files.sort(key=lambda p: p.name in (MANIFEST_FILE, ALIASES_FILE))
    keys = []
    for path in files:
        key = prefix + path.relative_to(root).as_posix()
        # one PUT, not a multipart upload: moto answers GETs of multipart objects with a composite
        # checksum that botocore's response validation rejects
        with path.open("rb") as body:
            s3_client.put_object(Bucket=bucket, Key=key, Body=body)
        keys.append(key)
    return sorted(keys)


def publish_models(dist: Path, models: tuple[str, ...], bucket: str, client: Callable[[str], Any]) -> str:
    """Publish every aliased version of ``models`` from ``dist`` and copy their aliases; a summary."""
    from model_artifacts.publish import RegistryError, publish_defaults

    try:
        done = publish_defaults(client("s3"), bucket, dist, models)
    except RegistryError as exc:
        raise LocalStackError(f"publishing the models to the local bucket failed: {exc}") from exc
    versions = sum(1 for line in done if "@" in line)
    return f"{versions} versions of {', '.join(models)} with their aliases"


__all__ = ["publish_models", "upload_registry", "ensure_bucket", "MODELS_PREFIX"]
