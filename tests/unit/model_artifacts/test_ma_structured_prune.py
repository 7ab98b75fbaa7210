"""Structured pruning (layers, heads, FFN neurons), distillation and the `pruned` variant on a tiny BERT."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification

from functions.nlp.manifest import Manifest
from model_artifacts.artifact import read_aliases
from model_artifacts.build import export_model
from model_artifacts.config import BuildConfig, TrainConfig
from model_artifacts.distill_stage import INFO_FILE, DistillConfig, distill, distill_key
from model_artifacts.pruned_variant import evaluate_pruned, write_pruned_version
from model_artifacts.report import pruned_report_lines as report_lines
from model_artifacts.structured_prune import PruneSpec, apply_spec, count_params, drop_layers, prune_heads
from model_artifacts.tokenization import encode, load_tokenizer, pad, pad_id
from tests.model_artifacts_fixtures import WORDS

TEXTS = ["good movie", "this is not very good, really awful weather!", "ok", "the cafe service was meh ?",
         "i love this day", "terrible food , bad service", "it was fine", "sad day , awful weather"]
LABELS = np.array([2, 0, 1, 1, 2, 0, 1, 0])


def _model(source):
    return AutoModelForSequenceClassification.from_pretrained(str(source)).eval()


def _logits(model, source, texts=TEXTS):
    tok = load_tokenizer(source, 16)
    batch = {k: torch.from_numpy(v) for k, v in pad(encode(tok, texts), pad_id(tok)).items()}
    with torch.no_grad():
        return model(**batch).logits.numpy()


def _rows(source):
    tok = load_tokenizer(source, 16)
    return encode(tok, TEXTS), pad_id(tok)


def _export(source, work, variants=("fp32", "int8")):
    work.mkdir(parents=True)
    return export_model(source, "classify", "sentiment", work, variants=variants, progress=lambda _: None)


def _pruned_dir(source, tmp_path, spec=PruneSpec(keep_layers=(1,), heads=1, ffn=16)):
    model = _model(source)
    rows, pid = _rows(source)
    facts = apply_spec(model, spec, rows, LABELS, pid)
    out = tmp_path / "pruned"
    model.save_pretrained(out)
    shutil.copyfile(source / "tokenizer.json", out / "tokenizer.json")
    return out, model, facts


def test_pruning_removes_layers_heads_and_neurons_and_keeps_the_output_shape(tiny_bert_classify, tmp_path):
    before = count_params(_model(tiny_bert_classify))
    out, model, facts = _pruned_dir(tiny_bert_classify, tmp_path)
    layer = model.bert.encoder.layer[0]
    assert model.config.num_hidden_layers == 1 and len(model.bert.encoder.layer) == 1
    assert layer.attention.self.num_attention_heads == 1 and layer.attention.self.all_head_size == 16
    assert layer.intermediate.dense.out_features == 16 and layer.output.dense.in_features == 16
    assert facts["params_before"] == before and facts["params_after"] == count_params(model) < before
    assert 0 < facts["fraction"] < 1
    assert _logits(model, tiny_bert_classify).shape == (len(TEXTS), 3)


def test_pruned_checkpoint_reloads_to_the_same_outputs(tiny_bert_classify, tmp_path):
    out, model, _ = _pruned_dir(tiny_bert_classify, tmp_path)
    reloaded = _model(out)
    assert count_params(reloaded) == count_params(model)
    np.testing.assert_allclose(_logits(reloaded, out), _logits(model, out), atol=1e-6)


def test_pruned_model_exports_to_a_smaller_onnx_file(tiny_bert_classify, tmp_path):
    out, _, _ = _pruned_dir(tiny_bert_classify, tmp_path)
    full, pruned = _export(tiny_bert_classify, tmp_path / "full"), _export(out, tmp_path / "small")
    for variant in ("fp32", "int8"):  # export_model already checked fp32 parity with PyTorch
        assert pruned.files[variant].stat().st_size < full.files[variant].stat().st_size


def test_heads_and_neurons_with_the_lowest_importance_go(tiny_bert_classify):
    model = _model(tiny_bert_classify)
    dropped = prune_heads(model, np.array([[0.1, 5.0], [3.0, 0.2]]), keep=1)
    assert dropped == {0: [0], 1: [1]}
    assert model.config.pruned_heads == {0: [0], 1: [1]}
    # a second call counts heads as in the unpruned layer, as HF expects
    drop_layers(model, (1,))
    assert model.config.pruned_heads == {0: [1]}


def test_bad_specs_are_refused(tiny_bert_classify):
    model = _model(tiny_bert_classify)
    with pytest.raises(ValueError, match="distinct indices"):
        drop_layers(model, (0, 0))
    with pytest.raises(ValueError, match="distinct indices"):
        drop_layers(model, (2,))
    with pytest.raises(ValueError, match="labelled texts"):
        apply_spec(model, PruneSpec(ffn=8))
    with pytest.raises(ValueError, match="cannot keep"):
        apply_spec(model, PruneSpec(heads=3), *_rows(tiny_bert_classify)[:1], LABELS, 0)


@pytest.mark.parametrize("hidden_weight", [0.0, 1.0])
def test_distill_trains_the_pruned_student_and_saves_it(tiny_bert_classify, tmp_path, hidden_weight):
    texts = [" ".join(WORDS[i:i + 5]) for i in range(24)]
    labels = np.arange(24) % 3
    dcfg = DistillConfig(spec=PruneSpec(keep_layers=(1,), ffn=32), batch_size=8, importance_texts=8,
                         hidden_weight=hidden_weight)
    info = distill(tiny_bert_classify, texts, labels, TEXTS, LABELS, tmp_path / "student", dcfg, threads=1,
                   progress=False)
    assert info["steps"] == 3 and np.isfinite(info["final_loss"])
    assert json.loads((tmp_path / "student" / INFO_FILE).read_text())["pruning"]["spec"]["ffn"] == 32
    student = _model(tmp_path / "student")
    assert student.config.num_hidden_layers == 1 and student.config.intermediate_size == 32
    teacher = _model(tiny_bert_classify)
    frozen = teacher.bert.embeddings.word_embeddings.weight
    assert torch.equal(student.bert.embeddings.word_embeddings.weight, frozen)  # embeddings stay the teacher's
    assert not torch.equal(student.classifier.weight, teacher.classifier.weight)  # the rest learned


def test_distill_key_follows_the_recipe_and_the_teacher():
    cfg = BuildConfig()
    key = distill_key(cfg, DistillConfig())
    assert key == distill_key(BuildConfig(), DistillConfig())
    assert key != distill_key(cfg, DistillConfig(spec=PruneSpec(keep_layers=(0, 1, 3, 5))))
    assert key != distill_key(cfg, DistillConfig(temperature=4.0))
    assert key != distill_key(BuildConfig(train=TrainConfig(lr=3e-5)), DistillConfig())


def test_pruned_variant_is_measured_against_the_unpruned_int8_and_published_as_an_alias(tiny_bert_classify,
                                                                                         tmp_path, monkeypatch):
    import model_artifacts.pruned_variant as pv

    monkeypatch.setattr(pv, "SPEED_ROUNDS", 1)
    out, _, facts = _pruned_dir(tiny_bert_classify, tmp_path)
    baseline, built = _export(tiny_bert_classify, tmp_path / "full"), _export(out, tmp_path / "small")
    built.pruning = facts
    results = evaluate_pruned(built, baseline, TEXTS, LABELS, TEXTS)
    assert set(results["variants"]) == {"pruned", "pruned_fp32", "int8", "fp32"}
    assert results["vs_unpruned_int8"]["size_ratio"] < 1
    assert all(isinstance(v, bool) for v in results["goals"].values()) and len(results["goals"]) == 4
    results["pruning"] = facts
    assert report_lines(None) == [] and "| pruned |" in "\n".join(report_lines(results))
    dist = tmp_path / "dist"
    (dist / "sentiment" / "abcdef12-int8").mkdir(parents=True)
    version = write_pruned_version(built, "0123456789abcdef", dist, results)
    assert version == "01234567-pruned" and read_aliases(dist / "sentiment") == {"pruned": version}
    manifest = Manifest.load(dist / "sentiment" / version)
    manifest.verify_dir(dist / "sentiment" / version)
    assert (manifest.quantization, manifest.pruning) == ("int8", facts["fraction"])
    assert manifest.metrics["pruning"]["spec"]["keep_layers"] == [1]
