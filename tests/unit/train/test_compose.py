"""Embedding graph + head composed into one classify ONNX: same numbers as the numpy head."""
from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest

from functions.nlp.manifest import MODEL_FILE
from functions.nlp.model import InferenceModel
from functions.train.compose import compose, compose_file
from functions.train.head import LinearHead
from functions.train.publishing import classify_manifest
from infra.local.tiny_artifact import DIM

TEXTS = ["good movie", "awful food is bad", "the weather was ok", "naïve café 😀 great day"]


def _head(seed=3):
    rng = np.random.default_rng(seed)
    return LinearHead(rng.normal(size=(DIM, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32),
                      ("alpha", "beta", "gamma"), 1e-3)


def test_composed_graph_reproduces_embeddings_then_head(tiny_embed_dir, tmp_path):
    head = _head()
    embedder = InferenceModel.from_dir(tiny_embed_dir)
    expected = head.predict_proba(embedder.embed(TEXTS).outputs)

    out = tmp_path / "composed"
    shutil.copytree(tiny_embed_dir, out)
    compose_file(tiny_embed_dir / MODEL_FILE, head, out / MODEL_FILE)
    manifest = classify_manifest(embedder.manifest, out, name="mine", version="v1", labels=head.labels,
                                 source={"owner": "tok1"}, metrics={})
    model = InferenceModel.from_dir(out, manifest=manifest)
    predictions, result = model.classify(TEXTS)
    np.testing.assert_allclose(result.outputs, expected, atol=1e-5)
    assert [p["label"] for p in predictions] == [head.labels[i] for i in np.argmax(expected, axis=1)]
    graph = onnx.load(str(out / MODEL_FILE)).graph
    assert [o.name for o in graph.output] == ["probabilities"]
    assert graph.node[-1].op_type == "Softmax"


def test_compose_refuses_a_head_of_the_wrong_size(tiny_embed_dir):
    wrong = LinearHead(np.zeros((DIM + 1, 2), np.float32), np.zeros(2, np.float32), ("a", "b"))
    with pytest.raises(ValueError, match="dims"):
        compose(onnx.load(str(tiny_embed_dir / MODEL_FILE)), wrong)


def test_compose_needs_an_embeddings_output(tiny_classify_dir):
    with pytest.raises(ValueError, match="embeddings"):
        compose(onnx.load(str(tiny_classify_dir / MODEL_FILE)), _head())
