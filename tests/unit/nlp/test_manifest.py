from __future__ import annotations

import json

import pytest

from functions.nlp import ArtifactIntegrityError, InferenceModel, Manifest, ManifestError
from infra.local.tiny_artifact import write_artifact


def test_manifest_round_trip(tmp_path):
    manifest = write_artifact(tmp_path, "classify")
    again = Manifest.load(tmp_path)
    assert again == manifest
    assert again.id2label == {0: "negative", 1: "neutral", 2: "positive"}
    assert again.output_name == "probabilities"


@pytest.mark.parametrize("change, message", [
    ({"task": "translate"}, "unknown task"),
    ({"name": "../etc"}, "invalid model name"),
    ({"version": "a/b"}, "invalid model version"),
    ({"labels": ["only"]}, "two labels"),
    ({"files": {}}, "model.onnx"),
])
def test_invalid_manifests_are_refused(tmp_path, change, message):
    data = write_artifact(tmp_path, "classify").to_dict()
    data.update(change)
    with pytest.raises(ManifestError, match=message):
        Manifest.from_dict(data)


def test_manifest_must_be_json_object():
    with pytest.raises(ManifestError):
        Manifest.from_json(b"[1, 2]")
    with pytest.raises(ManifestError):
        Manifest.from_json(b"{nope")


def test_flipped_byte_is_refused(tmp_path):
    write_artifact(tmp_path, "embed")
    model = tmp_path / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="sha256"):
        InferenceModel.from_dir(tmp_path)


def test_truncated_file_is_refused(tmp_path):
    write_artifact(tmp_path, "embed")
    tok = tmp_path / "tokenizer.json"
    tok.write_bytes(tok.read_bytes()[:-10])
    with pytest.raises(ArtifactIntegrityError, match="bytes"):
        Manifest.load(tmp_path).verify_dir(tmp_path)


def test_missing_file_is_refused(tmp_path):
    write_artifact(tmp_path, "embed")
    (tmp_path / "tokenizer.json").unlink()
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        Manifest.load(tmp_path).verify_dir(tmp_path)
    assert json.loads((tmp_path / "manifest.json").read_text())["task"] == "embed"
