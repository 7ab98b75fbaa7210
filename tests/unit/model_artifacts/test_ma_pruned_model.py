"""`sentiment:pruned` as `make models` built it: a real, smaller int8 version that answers like the others."""
from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from functions.nlp.manifest import Manifest
from model_artifacts.config import DIST

pytestmark = pytest.mark.models
MODEL_DIR = DIST / "sentiment"


def _aliases() -> dict:
    path = MODEL_DIR / "aliases.json"
    aliases = json.loads(path.read_text()) if path.is_file() else {}
    if "pruned" not in aliases:
        pytest.skip("sentiment:pruned not built: run `make models` first")
    return aliases


def test_pruned_is_a_verified_int8_version_smaller_than_the_unpruned_int8():
    aliases = _aliases()
    pruned_dir, int8_dir = MODEL_DIR / aliases["pruned"], MODEL_DIR / aliases["int8"]
    manifest = Manifest.load(pruned_dir)
    manifest.verify_dir(pruned_dir)
    assert manifest.quantization == "int8" and 0 < manifest.pruning < 1
    assert manifest.labels == Manifest.load(int8_dir).labels
    assert manifest.files["model.onnx"].bytes < Manifest.load(int8_dir).files["model.onnx"].bytes
    assert manifest.metrics["pruning"]["params_after"] < manifest.metrics["pruning"]["params_before"]


def test_pruned_answers_the_golden_texts_like_the_fp32_model():
    aliases = _aliases()
    golden = json.loads((MODEL_DIR / "golden.json").read_text(encoding="utf-8"))
    version_dir = MODEL_DIR / aliases["pruned"]
    tok = Tokenizer.from_file(str(version_dir / "tokenizer.json"))
    sess = ort.InferenceSession(str(version_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in sess.get_inputs()}
    enc = tok.encode_batch(golden["texts"])
    feed = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
    probs = sess.run(None, {k: v for k, v in feed.items() if k in wanted})[0]
    reference = np.asarray(golden["outputs"])
    assert probs.shape == reference.shape
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    # a distilled student is a different model: its bar is the build's test-split accuracy
    # (manifest metrics); here it only has to agree with the teacher on most golden texts
    assert (probs.argmax(1) == reference.argmax(1)).mean() >= 0.75
