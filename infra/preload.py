"""Do the preload models of a stage exist? Aliases from local builds or a stage's bucket.

A stage's ``preload_models`` name models as ``name``, ``name:alias`` or ``name@version``; each
must resolve in model_artifacts/dist/<name>/aliases.json (``--models-from dist``, the default of
``make package``) or in s3://<bucket>/models/<name>/aliases.json (``--models-from s3://<bucket>``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from infra import config
from infra.config import ConfigError, StageConfig, split_model_ref

AliasSource = Callable[[str], Mapping[str, str] | None]  # model name -> aliases.json contents (None: absent)


def dist_aliases(dist: Path | None = None) -> AliasSource:
    """Aliases from the local builds (model_artifacts/dist/<name>/aliases.json)."""
    dist = dist or config.DIST

    def read(name: str) -> Mapping[str, str] | None:
        path = dist / name / "aliases.json"
        return json.loads(path.read_text()) if path.is_file() else None
    return read


def bucket_aliases(bucket: str, s3_client: Any) -> AliasSource:
    """Aliases published to a stage's artifacts bucket (models/<name>/aliases.json)."""
    def read(name: str) -> Mapping[str, str] | None:
        try:
            body = s3_client.get_object(Bucket=bucket, Key=f"models/{name}/aliases.json")["Body"].read()
        except s3_client.exceptions.NoSuchKey:
            return None
        return json.loads(body)
    return read


def check_models(refs: tuple[str, ...], aliases: AliasSource, source: str, versions: Callable[[str, str], bool] | None = None) -> None:
    """Fail with a clear message when a preloaded model, alias or version does not exist."""
    for ref in refs:
        name, alias, version = split_model_ref(ref)
        table = aliases(name)
        if table is None:
            raise ConfigError(f"preload model {ref!r}: no model {name!r} in {source} "
                              "(build it with `make models` or publish it to the stage's bucket)")
        if alias is not None and alias not in table:
            raise ConfigError(f"preload model {ref!r}: model {name!r} has no alias {alias!r} in {source} "
                              f"(it has: {', '.join(sorted(table)) or 'none'})")
        if version is not None and versions is not None and not versions(name, version):
            raise ConfigError(f"preload model {ref!r}: model {name!r} has no version {version!r} in {source}")


def check_models_from(stage: StageConfig, source: str) -> None:
    """Check the stage's preload models against dist, s3://<bucket>, or nothing (none)."""
    if source == "none":
        print("warning: preload models not checked (--models-from none)", file=sys.stderr)
    elif source == "dist":
        check_models(stage.preload_models, dist_aliases(), "model_artifacts/dist",
                     versions=lambda n, v: (config.DIST / n / v).is_dir())
    elif source.startswith("s3://"):
        import boto3

        bucket = source[5:].strip("/")
        s3 = boto3.client("s3")

        def has_version(name: str, version: str) -> bool:
            resp = s3.list_objects_v2(Bucket=bucket, Prefix=f"models/{name}/{version}/", MaxKeys=1)
            return resp.get("KeyCount", 0) > 0
        check_models(stage.preload_models, bucket_aliases(bucket, s3), source, versions=has_version)
    else:
        raise ConfigError(f"--models-from {source!r}: use dist, s3://<bucket> or none")


__all__ = ["AliasSource", "bucket_aliases", "check_models", "check_models_from", "dist_aliases"]
