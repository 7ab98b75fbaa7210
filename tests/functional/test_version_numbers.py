"""Integer version numbers in the registry (moto): publish numbers each version, the store reads them."""
from __future__ import annotations

import json

import pytest

from functions.nlp.errors import ModelNotFoundError
from functions.store import ArtifactStore
from functions.store.layout import versions_key
from model_artifacts import publish as reg
from model_artifacts.errors import RegistryError
from tests.support.s3 import upload_registry
from infra.local.tiny_artifact import write_artifact

BUCKET = "snlp-numbers-test"


@pytest.fixture
def s3(moto_s3):
    moto_s3.create_bucket(Bucket=BUCKET)
    return moto_s3


def test_publish_numbers_versions_in_order_and_the_store_resolves_them(s3, tmp_path):
    for version, seed in (("a-fp32", 0), ("b-int8", 1)):
        write_artifact(tmp_path / version, "embed", name="tiny-embed", version=version, seed=seed)
        reg.publish(s3, BUCKET, tmp_path / version)
    assert reg.read_numbers(s3, BUCKET, "tiny-embed")[0] == {1: "a-fp32", 2: "b-int8"}
    assert reg.number_version(s3, BUCKET, "tiny-embed", "b-int8") == 2  # idempotent
    reg.promote(s3, BUCKET, "tiny-embed", "a-fp32")
    listing = reg.list_registry(s3, BUCKET)
    assert listing["tiny-embed"]["numbers"] == {"a-fp32": 1, "b-int8": 2}
    assert "#2" in reg.format_listing(listing)

    store = ArtifactStore(s3, BUCKET, tmp_path / "cache")
    assert store.resolve("tiny-embed@2") == ("tiny-embed", "b-int8")
    assert store.resolve("tiny-embed@1") == ("tiny-embed", "a-fp32")
    assert store.get("tiny-embed@2").manifest.version == "b-int8"
    with pytest.raises(ModelNotFoundError, match="no version number 3"):
        store.resolve("tiny-embed@3")
    [entry] = store.list_models()
    assert entry["numbers"] == {"a-fp32": 1, "b-int8": 2} and entry["versions"] == ["a-fp32", "b-int8"]
    assert store.describe("tiny-embed")["numbers"] == {"a-fp32": 1, "b-int8": 2}


def test_numeric_version_strings_are_refused(s3, tmp_path):
    write_artifact(tmp_path / "7", "embed", name="tiny-embed", version="7")
    with pytest.raises(RegistryError, match="only digits"):
        reg.publish(s3, BUCKET, tmp_path / "7")


def test_registries_from_before_numbers_still_serve_by_name(s3, tmp_path):
    write_artifact(tmp_path / "tiny-embed" / "old-fp32", "embed", name="tiny-embed", version="old-fp32")
    (tmp_path / "tiny-embed" / "aliases.json").write_text(json.dumps({"prod": "old-fp32"}))
    upload_registry(s3, BUCKET, tmp_path)
    store = ArtifactStore(s3, BUCKET, tmp_path / "cache")
    assert store.resolve("tiny-embed") == ("tiny-embed", "old-fp32")
    assert store.list_models()[0]["numbers"] == {}
    with pytest.raises(ModelNotFoundError):
        store.resolve("tiny-embed@1")
    assert reg.number_version(s3, BUCKET, "tiny-embed", "old-fp32") == 1  # publish-defaults backfills
    s3.put_object(Bucket=BUCKET, Key=versions_key("tiny-embed"), Body=b"not json")
    fresh = ArtifactStore(s3, BUCKET, tmp_path / "cache2")
    assert fresh.version_numbers("tiny-embed") == {}  # a damaged file numbers nothing; names still work
    assert fresh.resolve("tiny-embed:prod") == ("tiny-embed", "old-fp32")


def test_preload_check_knows_version_numbers(s3, tmp_path, monkeypatch):
    from dataclasses import replace

    from infra.config import ConfigError, load_config
    from infra.stages import check_models_from

    write_artifact(tmp_path / "a-fp32", "embed", name="tiny-embed", version="a-fp32")
    reg.publish(s3, BUCKET, tmp_path / "a-fp32")
    reg.promote(s3, BUCKET, "tiny-embed", "a-fp32")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    stage = next(iter(load_config().stages.values()))
    check_models_from(replace(stage, preload_models=("tiny-embed@1", "tiny-embed@a-fp32")), f"s3://{BUCKET}")
    with pytest.raises(ConfigError, match="no version '2'"):
        check_models_from(replace(stage, preload_models=("tiny-embed@2",)), f"s3://{BUCKET}")
    (tmp_path / "dist" / "tiny-embed").mkdir(parents=True)
    (tmp_path / "dist" / "tiny-embed" / "aliases.json").write_text(json.dumps({"prod": "a-fp32"}))
    monkeypatch.setattr("infra.config.DIST", tmp_path / "dist")
    with pytest.raises(ConfigError, match="only once published"):  # local builds have no numbers
        check_models_from(replace(stage, preload_models=("tiny-embed@1",)), "dist")
