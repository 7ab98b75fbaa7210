"""The S3 model registry against moto: publish, immutability, promote, list, publish-defaults."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from functions.nlp.errors import ArtifactIntegrityError
from model_artifacts import publish as reg
from model_artifacts.build import build_user_model
from model_artifacts.cli import main
from tests.model_artifacts_fixtures import write_tiny_bert

BUCKET = "snlp-artifacts-test"


@pytest.fixture(scope="module")
def tiny_dist(tmp_path_factory):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = tmp_path_factory.mktemp("pub")
    source = write_tiny_bert(root / "src", "classify")
    built = build_user_model(source, "classify", "tiny-sentiment", root / "dist", variants=["fp32", "int8"],
                             progress=lambda _: None)
    return root / "dist", built


@pytest.fixture
def s3(moto_s3):
    moto_s3.create_bucket(Bucket=BUCKET)
    return moto_s3


class Recorder:
    """Wraps a client and records upload order."""

    def __init__(self, client):
        self._client, self.uploads = client, []

    def upload_file(self, path, bucket, key, **kwargs):
        self.uploads.append(key)
        return self._client.upload_file(path, bucket, key, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_publish_uploads_three_files_manifest_last(s3, tiny_dist):
    _, built = tiny_dist
    rec = Recorder(s3)
    ref = reg.publish(rec, BUCKET, built["fp32"])
    version = built["fp32"].name
    assert ref == f"tiny-sentiment@{version}"
    prefix = f"models/tiny-sentiment/{version}/"
    assert rec.uploads == [prefix + "model.onnx", prefix + "tokenizer.json", prefix + "manifest.json"]
    body = s3.get_object(Bucket=BUCKET, Key=prefix + "manifest.json")["Body"].read()
    assert json.loads(body) == json.loads((built["fp32"] / "manifest.json").read_text())


def test_versions_are_immutable(s3, tiny_dist):
    _, built = tiny_dist
    reg.publish(s3, BUCKET, built["int8"])
    with pytest.raises(reg.RegistryError, match="already exists.*immutable"):
        reg.publish(s3, BUCKET, built["int8"])


def test_tampered_artifact_is_not_published(s3, tiny_dist, tmp_path):
    _, built = tiny_dist
    copy = tmp_path / built["fp32"].name
    shutil.copytree(built["fp32"], copy)
    with open(copy / "model.onnx", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ArtifactIntegrityError):
        reg.publish(s3, BUCKET, copy)
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


def test_promote_moves_aliases_and_list_shows_them(s3, tiny_dist):
    _, built = tiny_dist
    fp32, int8 = built["fp32"].name, built["int8"].name
    reg.publish(s3, BUCKET, built["fp32"])
    reg.publish(s3, BUCKET, built["int8"])
    assert reg.promote(s3, BUCKET, "tiny-sentiment", fp32, "prod") == {"prod": fp32}
    assert reg.promote(s3, BUCKET, "tiny-sentiment", int8, "candidate") == {"prod": fp32, "candidate": int8}
    assert reg.promote(s3, BUCKET, "tiny-sentiment", int8, "prod") == {"prod": int8, "candidate": int8}
    with pytest.raises(reg.RegistryError, match="not published"):
        reg.promote(s3, BUCKET, "tiny-sentiment", "deadbeef-fp16", "prod")
    listing = reg.list_registry(s3, BUCKET)
    assert set(listing["tiny-sentiment"]["versions"]) == {fp32, int8}
    assert listing["tiny-sentiment"]["aliases"] == {"prod": int8, "candidate": int8}
    assert listing["tiny-sentiment"]["versions"][int8]["quantization"] == "int8"
    text = reg.format_listing(listing)
    assert int8 in text and "[candidate,prod]" in text


def test_promote_retries_when_aliases_change_underneath(s3, tiny_dist, monkeypatch):
    """A concurrent writer between read and write must not be overwritten silently."""
    _, built = tiny_dist
    fp32, int8 = built["fp32"].name, built["int8"].name
    reg.publish(s3, BUCKET, built["fp32"])
    reg.publish(s3, BUCKET, built["int8"])
    reg.promote(s3, BUCKET, "tiny-sentiment", fp32, "prod")
    real_read, calls = reg.read_aliases, []

    def racing_read(client, bucket, name):
        result = real_read(client, bucket, name)
        if not calls:  # another promoter writes right after our first read
            client.put_object(Bucket=bucket, Key=reg.aliases_key(name), Body=json.dumps({"prod": fp32, "b": fp32}))
        calls.append(1)
        return result

    monkeypatch.setattr(reg, "read_aliases", racing_read)
    aliases = reg.promote(s3, BUCKET, "tiny-sentiment", int8, "candidate")
    # moto honours If-Match: the first write is refused, promote re-reads and keeps the other alias
    assert len(calls) == 2
    assert aliases == {"prod": fp32, "b": fp32, "candidate": int8}
    assert reg.read_aliases(s3, BUCKET, "tiny-sentiment")[0] == aliases


def test_publish_defaults_mirrors_local_aliases_and_is_rerunnable(s3, tiny_dist):
    dist, built = tiny_dist
    local = json.loads((dist / "tiny-sentiment" / "aliases.json").read_text())
    out = reg.publish_defaults(s3, BUCKET, dist, ["tiny-sentiment"])
    assert any("tiny-sentiment@" in line for line in out)
    assert reg.read_aliases(s3, BUCKET, "tiny-sentiment")[0] == local
    again = reg.publish_defaults(s3, BUCKET, dist, ["tiny-sentiment"])
    assert sum("already published" in line for line in again) == len(set(local.values()))
    with pytest.raises(reg.RegistryError, match="not built"):
        reg.publish_defaults(s3, BUCKET, dist, ["nope"])


def test_cli_publish_promote_list(s3, tiny_dist, capsys):
    _, built = tiny_dist
    version = built["fp32"].name
    assert main(["publish", str(built["fp32"]), "--bucket", BUCKET]) == 0
    assert main(["publish", str(built["fp32"]), "--bucket", BUCKET]) == 2
    assert "immutable" in capsys.readouterr().err
    assert main(["promote", "tiny-sentiment", version, "--alias", "prod", "--bucket", BUCKET]) == 0
    assert main(["list", "--bucket", BUCKET]) == 0
    out = capsys.readouterr().out
    assert version in out and "[prod]" in out


def test_cli_unreachable_endpoint_is_one_clear_line(tiny_dist, capsys):
    _, built = tiny_dist
    code = main(["publish", str(built["fp32"]), "--bucket", BUCKET, "--endpoint-url", "http://127.0.0.1:9"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "cannot reach the S3 endpoint" in err and "Traceback" not in err


def test_cli_without_bucket_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.delenv("SNLP_ARTIFACTS_BUCKET", raising=False)
    assert main(["list"]) == 2
    assert "no bucket" in capsys.readouterr().err
