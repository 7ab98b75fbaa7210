"""Publish the built models to the local artifacts bucket with the pipeline's own registry code
(``model_artifacts.publish.publish_defaults``: the step that publishes to AWS, pointed at moto)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from .errors import LocalStackError


def publish_models(dist: Path, models: tuple[str, ...], bucket: str, client: Callable[[str], Any]) -> str:
    """Publish every aliased version of ``models`` from ``dist`` and copy their aliases; a summary."""
    from model_artifacts.publish import RegistryError, publish_defaults

    try:
        done = publish_defaults(client("s3"), bucket, dist, models)
    except RegistryError as exc:
        raise LocalStackError(f"publishing the models to the local bucket failed: {exc}") from exc
    versions = sum(1 for line in done if "@" in line)
    return f"{versions} versions of {', '.join(models)} with their aliases"


__all__ = ["publish_models"]
