"""The pipeline end to end on a tiny random BERT: export, parity, variants, manifest, errors."""
from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from tokenizers import Tokenizer

from functions.nlp.manifest import Manifest
from model_artifacts import build as build_mod
from model_artifacts.build import build_user_model
from model_artifacts.cli import main
from model_artifacts.errors import ParityError, SourceError
from model_artifacts.export import (PARITY_ATOL, ClassifyWrapper, LoadedModel, export_onnx, load_torch,
                                    parity_check)
from model_artifacts.prune import prune_linear
from model_artifacts.tokenization import load_tokenizer, pad
from tests.model_artifacts_fixtures import LABELS

TEXTS = ["good movie", "this is not very good, really awful weather!", "ok", "the cafe service was meh ?"]


def _run(version_dir, texts):
    tok = Tokenizer.from_file(str(version_dir / "tokenizer.json"))
    enc = tok.encode_batch(texts)
    sess = ort.InferenceSession(str(version_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    feed = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
    names = {i.name for i in sess.get_inputs()}
    return sess.run(None, {k: v for k, v in feed.items() if k in names})[0], feed


def _torch_reference(source, task, feed):
    loaded = load_torch(source, task)
    with torch.no_grad():
        return loaded.wrapper(*(torch.from_numpy(feed[n]) for n in loaded.input_names)).numpy()


def test_classify_end_to_end(tiny_bert_classify, tmp_path):
    built = build_user_model(tiny_bert_classify, "classify", "tiny-sentiment", tmp_path, progress=lambda _: None)
    assert set(built) == {"fp32", "fp16", "int8"}
    aliases = json.loads((tmp_path / "tiny-sentiment" / "aliases.json").read_text())
    assert {aliases[v] for v in ("fp32", "fp16", "int8")} == {p.name for p in built.values()}
    for variant, path in built.items():
        manifest = Manifest.load(path)
        manifest.verify_dir(path)
        assert (manifest.task, manifest.quantization, manifest.opset) == ("classify", variant, 17)
        assert manifest.labels == LABELS and manifest.output_name == "probabilities"
        assert path.name.endswith(f"-{variant}") and len(path.name.split("-")[0]) == 8
        assert manifest.created_at.endswith("Z") and manifest.source["path"] == str(tiny_bert_classify)
    probs, feed = _run(built["fp32"], TEXTS)
    assert feed["attention_mask"].min() == 0, "tokenizer.json must pad dynamically to the longest text"
    assert feed["input_ids"].shape[1] < 16, "the fixed padding of the source tokenizer was not turned off"
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs, _torch_reference(tiny_bert_classify, "classify", feed),
                               atol=PARITY_ATOL["classify"])
    np.testing.assert_allclose(_run(built["fp16"], TEXTS)[0], probs, atol=1e-2)
    int8 = _run(built["int8"], TEXTS)[0]
    assert int8.shape == probs.shape and np.allclose(int8.sum(axis=1), 1.0, atol=1e-4)
    assert np.abs(int8 - probs).max() < 0.1


def test_embed_end_to_end_with_pruning(tiny_bert_embed, tmp_path):
    built = build_user_model(tiny_bert_embed, "embed", "tiny-embed", tmp_path, variants=["fp32", "int8"],
                             prune=0.3, progress=lambda _: None)
    assert set(built) == {"fp32", "int8"}
    manifest = Manifest.load(built["fp32"])
    assert (manifest.dim, manifest.pooling, manifest.normalize, manifest.pruning) == (32, "mean", True, 0.3)
    assert manifest.metrics["pruning"]["zeroed"] > 0
    emb, feed = _run(built["fp32"], TEXTS)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # PyTorch reference is the *unpruned* source here, so only the contract is checked, plus
    # that pruned weights really are zero in the exported graph
    import onnx
    from onnx import numpy_helper

    weights = [numpy_helper.to_array(i) for i in onnx.load(str(built["fp32"] / "model.onnx")).graph.initializer
               if len(i.dims) == 2 and min(i.dims) >= 32]
    zero_fraction = sum((w == 0).sum() for w in weights) / sum(w.size for w in weights)
    assert zero_fraction > 0.1
    int8 = _run(built["int8"], TEXTS)[0]
    cos = (int8 * emb).sum(axis=1) / np.linalg.norm(int8, axis=1)
    assert cos.min() > 0.9


def test_embed_fp32_matches_pytorch(tiny_bert_embed, tmp_path):
    built = build_user_model(tiny_bert_embed, "embed", "tiny-embed", tmp_path, variants=["fp32"],
                             progress=lambda _: None)
    emb, feed = _run(built["fp32"], TEXTS)
    np.testing.assert_allclose(emb, _torch_reference(tiny_bert_embed, "embed", feed), atol=PARITY_ATOL["embed"])


def test_missing_source_and_unknown_task_are_clear_errors(tmp_path, capsys):
    with pytest.raises(SourceError, match="not found"):
        build_user_model(tmp_path / "nope", "embed", "x", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="config.json"):
        build_user_model(tmp_path / "empty", "embed", "x", tmp_path / "out")
    assert main(["build", "--source", str(tmp_path / "nope"), "--task", "embed", "--name", "x",
                 "--out", str(tmp_path)]) == 2
    assert main(["build", "--source", str(tmp_path), "--task", "summarize", "--name", "x",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "model source directory not found" in err[0]
    assert "unknown task 'summarize'" in err[1]


class BranchyWrapper(ClassifyWrapper):
    """A broken model for export: Python control flow on the sequence length, which tracing freezes."""

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        probs = super().forward(input_ids, attention_mask, token_type_ids)
        if input_ids.shape[1] > 8:
            probs = torch.flip(probs, dims=[-1])
        return probs


def test_parity_failure_names_the_difference_and_writes_nothing(tiny_bert_classify, tmp_path, monkeypatch):
    real_load = build_mod.load_torch

    def broken_load(source, task, labels=None):
        good = real_load(source, task, labels)
        return LoadedModel(BranchyWrapper(good.wrapper.model, True).eval(), task, good.labels, True, None)

    monkeypatch.setattr(build_mod, "load_torch", broken_load)
    with pytest.raises(ParityError, match=r"max abs diff [0-9.e-]+ > tolerance 0\.0001"):
        build_user_model(tiny_bert_classify, "classify", "broken", tmp_path, progress=lambda _: None)
    leftovers = [p for p in (tmp_path / "broken").rglob("*")] if (tmp_path / "broken").exists() else []
    assert leftovers == [], "a failed build must leave nothing behind"


def test_parity_check_passes_for_faithful_export(tiny_bert_classify, tmp_path):
    loaded = load_torch(tiny_bert_classify, "classify")
    tok = load_tokenizer(tiny_bert_classify, 16)
    export_onnx(loaded, tok, tmp_path / "m.onnx")
    assert parity_check(loaded, tok, tmp_path / "m.onnx") <= PARITY_ATOL["classify"]


def test_prune_zeroes_the_requested_fraction_of_linear_weights(tiny_bert_classify):
    loaded = load_torch(tiny_bert_classify, "classify")
    stats = prune_linear(loaded.wrapper.model, 0.5)
    assert abs(stats["zeroed"] / stats["total"] - 0.5) < 0.01
    with pytest.raises(ValueError):
        prune_linear(loaded.wrapper.model, 1.0)


def test_pad_adds_zero_token_types():
    batch = pad([np.array([2, 5, 3]), np.array([2, 3])], 0)
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["token_type_ids"].sum() == 0
