"""The head's features (embeddings + mean-pooled middle layers) in the graph: the numbers a numpy
reference computes, and the composed model gives the numpy head's probabilities on them."""
from __future__ import annotations

import shutil

import numpy as np
import onnx
from onnx import helper, numpy_helper

from functions.nlp.manifest import MODEL_FILE
from functions.nlp.model import InferenceModel
from functions.train.compose import compose
from functions.train.features import feature_model, usable_layers
from functions.train.head import LinearHead, head_from_json, head_to_json
from functions.train.publishing import classify_manifest
from infra.local.tiny_artifact import DIM

TEXTS = ["good movie", "awful food is bad", "the weather was ok today", "naïve café 😀 great day"]
LAYERS = (2, 3, 4)


def _with_layers(tiny_embed_dir, tmp_path):
    """The tiny embed artifact plus three LayerNorms named like an exported BERT encoder's layers."""
    out = tmp_path / "layered"
    shutil.copytree(tiny_embed_dir, out)
    model = onnx.load(str(out / MODEL_FILE))
    rng = np.random.default_rng(7)
    for i in LAYERS:
        scale, bias = f"ln{i}.w", f"ln{i}.b"
        model.graph.initializer.extend([numpy_helper.from_array(rng.normal(size=DIM).astype(np.float32), scale),
                                        numpy_helper.from_array(rng.normal(size=DIM).astype(np.float32), bias)])
        model.graph.node.append(helper.make_node(
            "LayerNormalization", ["tok", scale, bias], [f"h{i}"], axis=-1,
            name=f"/model/encoder/layer.{i}/output/LayerNorm/LayerNormalization"))
    onnx.save(model, str(out / MODEL_FILE))
    return out, model


def _reference(model, embedder, texts):
    """Embeddings, then per layer the masked mean of the LayerNorm output, L2-normalised."""
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    rows = embedder.windows(texts, embedder_overflow()).ids
    blocks = [embedder.embed(texts).outputs]
    for i in LAYERS:
        pooled = []
        for ids in rows:
            tok = weights["emb"][np.asarray(ids)]
            mu, var = tok.mean(-1, keepdims=True), tok.var(-1, keepdims=True)
            h = (tok - mu) / np.sqrt(var + 1e-5) * weights[f"ln{i}.w"] + weights[f"ln{i}.b"]
            mean = h.mean(0)
            pooled.append(mean / np.linalg.norm(mean))
        blocks.append(np.array(pooled))
    return np.hstack(blocks)


def embedder_overflow():
    from functions.nlp.overflow import Overflow

    return Overflow.from_truncate(True)


def test_features_are_embeddings_plus_pooled_normalised_layers(tiny_embed_dir, tmp_path):
    layered, model = _with_layers(tiny_embed_dir, tmp_path)
    base = InferenceModel.from_dir(tiny_embed_dir)
    features, layers = feature_model(layered, base.manifest, tmp_path / "work")
    assert layers == LAYERS
    x = features.embed(TEXTS).outputs  # padded micro-batches: the mask must keep padding out
    assert x.shape == (len(TEXTS), DIM * 4)
    np.testing.assert_allclose(x, _reference(model, base, TEXTS), atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(x[:, DIM:].reshape(len(TEXTS), 3, DIM), axis=-1), 1.0, atol=1e-5)


def test_composed_model_matches_the_numpy_head_on_the_features(tiny_embed_dir, tmp_path):
    layered, model = _with_layers(tiny_embed_dir, tmp_path)
    base = InferenceModel.from_dir(tiny_embed_dir)
    features, layers = feature_model(layered, base.manifest, tmp_path / "work")
    rng = np.random.default_rng(3)
    head = head_from_json(head_to_json(LinearHead(rng.normal(size=(DIM * 4, 3)).astype(np.float32),
                                                  rng.normal(size=3).astype(np.float32), ("a", "b", "c"), 1e-3, layers)))
    assert head.layers == LAYERS
    expected = head.predict_proba(features.embed(TEXTS).outputs)
    out = tmp_path / "composed"
    shutil.copytree(layered, out)
    onnx.save(compose(model, head), str(out / MODEL_FILE))
    manifest = classify_manifest(base.manifest, out, name="mine", version="v1", labels=head.labels,
                                 source={"owner": "tok1"}, metrics={})
    _, result = InferenceModel.from_dir(out, manifest=manifest).classify(TEXTS)
    np.testing.assert_allclose(result.outputs, expected, atol=1e-5)


def test_a_graph_without_named_layers_trains_on_its_embeddings(tiny_embed_dir, tmp_path):
    base = InferenceModel.from_dir(tiny_embed_dir)
    assert usable_layers(onnx.load(str(tiny_embed_dir / MODEL_FILE))) == ()
    features, layers = feature_model(tiny_embed_dir, base.manifest, tmp_path / "work")
    assert layers == ()
    np.testing.assert_allclose(features.embed(TEXTS).outputs, base.embed(TEXTS).outputs, atol=1e-6)
