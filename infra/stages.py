"""Check a stage before it ships: its parameters and its preload models; print its resource names.

    python -m infra.stages check --stage prod [--models-from dist|s3://bucket|none]
    python -m infra.stages names --stage local

A stage's ``preload_models`` name models as ``name``, ``name:alias`` or ``name@version`` (a version
number, ``name@2``, is checked in the bucket's versions.json); each
must resolve in model_artifacts/dist/<name>/aliases.json (``--models-from dist``, the default of
``make package``) or in s3://<bucket>/models/<name>/aliases.json (``--models-from s3://<bucket>``).
The parameters themselves are read and validated by :mod:`infra.config`.
"""
from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping

from functions.nlp.errors import ModelNotFoundError
from functions.store.layout import (aliases_key, is_number, local_aliases, parse_aliases, parse_numbers, version_prefix,
                                    versions_key)
from functions.store.refs import parse_ref
from infra import config
from infra.config import LOCAL_ACCOUNT_ID, ConfigError, StageConfig, load_config, resource_names

AliasSource = Callable[[str], Mapping[str, str] | None]  # model name -> aliases.json contents (None: absent)


def dist_aliases(dist: Path | None = None) -> AliasSource:
    """Aliases from the local builds (model_artifacts/dist/<name>/aliases.json)."""
    return partial(local_aliases, dist or config.DIST)


def bucket_aliases(bucket: str, s3_client: Any) -> AliasSource:
    """Aliases published to a stage's artifacts bucket (models/<name>/aliases.json)."""
    def read(name: str) -> Mapping[str, str] | None:
        try:
            body = s3_client.get_object(Bucket=bucket, Key=aliases_key(name))["Body"].read()
        except s3_client.exceptions.NoSuchKey:
            return None
        return parse_aliases(body)
    return read


def check_models(refs: tuple[str, ...], aliases: AliasSource, source: str, versions: Callable[[str, str], bool] | None = None) -> None:
    """Fail with a clear message when a preloaded model, alias or version does not exist."""
    for ref in refs:
        try:
            parsed = parse_ref(ref)
        except ModelNotFoundError:
            raise ConfigError(f"{ref!r} is not a model reference") from None
        name, alias, version = parsed.name, parsed.alias, parsed.version
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.stages", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    check = sub.add_parser("check", help="validate a stage (and its preload models)")
    check.add_argument("--stage", required=True)
    check.add_argument("--models-from", default="dist",
                       help="where preload aliases must exist: dist (local builds), s3://<bucket>, or none")
    names = sub.add_parser("names", help="print the stage's resource names as JSON")
    names.add_argument("--stage", required=True)
    names.add_argument("--account-id", default=LOCAL_ACCOUNT_ID)
    args = parser.parse_args(argv)
    try:
        cfg = load_config()
        stage = cfg.stage(args.stage)
        if args.cmd == "names":
            print(json.dumps(resource_names(stage.stage, args.account_id, cfg.service), indent=2))
            return 0
        check_models_from(stage, args.models_from)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    print(f"stage {stage.stage}: ok ({stage.architecture}, api_type {stage.api_type}, "
          f"api {stage.api_memory_mb} MB, batch {stage.batch_memory_mb} MB, "
          f"preload {','.join(stage.preload_models) or 'none'})")
    return 0


__all__ = ["AliasSource", "bucket_aliases", "check_models", "check_models_from", "dist_aliases", "main"]


if __name__ == "__main__":
    sys.exit(main())
