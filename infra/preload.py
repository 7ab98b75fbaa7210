"""Do the preload models of a stage exist? Aliases from local builds or a stage's bucket.

A stage's ``preload_models`` name models as ``name``, ``name:alias`` or ``name@version`` (a version
number, ``name@2``, is checked in the bucket's versions.json); each
must resolve in model_artifacts/dist/<name>/aliases.json (``--models-from dist``, the default of
``make package``) or in s3://<bucket>/models/<name>/aliases.json (``--models-from s3://<bucket>``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from functions.store.layout import aliases_key, is_number, parse_numbers, version_prefix, versions_key
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
            body = s3_client.get_object(Bucket=bucket, Key=aliases_key(name))["Body"].read()
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
        def built(name: str, version: str) -> bool:
            if is_number(version):  # numbers are given at publish time: local builds have none
                raise ConfigError(f"preload model {name}@{version}: version numbers exist only once published; "
                                  "check with --models-from s3://<bucket> or name the version")
            return (config.DIST / name / version).is_dir()
        check_models(stage.preload_models, dist_aliases(), "model_artifacts/dist", versions=built)
    elif source.startswith("s3://"):
        import boto3

        bucket = source[5:].strip("/")
        s3 = boto3.client("s3")

        def has_version(name: str, version: str) -> bool:
            if is_number(version):
                try:
                    raw = s3.get_object(Bucket=bucket, Key=versions_key(name))["Body"].read()
                except s3.exceptions.NoSuchKey:
                    return False
                return int(version) in parse_numbers(raw)
            resp = s3.list_objects_v2(Bucket=bucket, Prefix=version_prefix(name, version), MaxKeys=1)
            return resp.get("KeyCount", 0) > 0
        check_models(stage.preload_models, bucket_aliases(bucket, s3), source, versions=has_version)
    else:
        raise ConfigError(f"--models-from {source!r}: use dist, s3://<bucket> or none")


__all__ = ["AliasSource", "bucket_aliases", "check_models", "check_models_from", "dist_aliases"]
