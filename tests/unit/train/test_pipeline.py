"""Rows -> embeddings through the inference core -> CV'd head -> held-out evaluation, on the tiny model."""
from __future__ import annotations

import numpy as np
import pytest

from functions.nlp.errors import InputTypeError
from functions.nlp.model import InferenceModel
from functions.train.data import Rows, check_descriptions, check_rows
from functions.train.pipeline import train, zero_shot

POS = ["good movie", "great food", "love it", "happy day", "really good service", "great great day"]
NEG = ["bad movie", "awful food", "hate it", "sad day", "terrible service", "really bad weather"]


def _rows(copies=4):
    texts, labels = [], []
    for i in range(copies):
        for t in POS:
            texts.append(f"{t} {'very ' * i}".strip()); labels.append("positive")
        for t in NEG:
            texts.append(f"{t} {'very ' * i}".strip()); labels.append("negative")
    return check_rows([{"text": t, "label": label} for t, label in zip(texts, labels)])


def test_train_reports_progress_and_evaluates_on_held_out_rows(tiny_embed_dir):
    model = InferenceModel.from_dir(tiny_embed_dir)
    rows = _rows()
    seen = []
    out = train(model, rows, report=seen.append, folds=3)
    assert out.texts_embedded == len(rows.texts) and out.tokens > len(rows.texts)
    assert out.head.labels == ("negative", "positive")
    assert out.details["held_out_rows"] + out.details["train_rows"] == len(rows.texts)
    ev = out.evaluation
    assert ev["held_out"] == out.details["held_out_rows"]
    assert np.sum(ev["confusion"]) == ev["held_out"] and 0 <= ev["accuracy"] <= 1
    assert set(ev["per_label"]) == {"negative", "positive"}
    stages = [p["stage"] for p in seen]
    assert stages[0] == "embedding" and seen[-1] == {"stage": "fitting", "fold": 3, "folds": 3,
                                                     "eta_s": seen[-1]["eta_s"]}
    assert max(p.get("rows_embedded", 0) for p in seen) == len(rows.texts)


def test_zero_shot_classifies_by_description_and_evaluates_a_sample(tiny_embed_dir):
    model = InferenceModel.from_dir(tiny_embed_dir)
    descriptions = check_descriptions({"positive": "good great love happy", "negative": "bad awful hate sad"})
    sample = Rows(("good great love", "awful hate sad"), ("positive", "negative"))
    out = zero_shot(model, descriptions, sample)
    assert out.head.labels == ("negative", "positive") and out.texts_embedded == 4
    assert out.evaluation["accuracy"] == 1.0  # each sample text is made of its description's words


def test_rows_from_csv_with_or_without_header_hash_the_same():
    body = "\n".join(f"text {i},{'a' if i % 2 else 'b'}" for i in range(20))
    plain = check_rows(body)
    headed = check_rows("label,text\n" + "\n".join(f"{'a' if i % 2 else 'b'},text {i}" for i in range(20)))
    as_json = check_rows([[f"text {i}", "a" if i % 2 else "b"] for i in range(20)])
    assert plain.sha256() == headed.sha256() == as_json.sha256()
    assert plain.names == ("a", "b") and Rows.from_jsonl(plain.to_jsonl()) == plain


@pytest.mark.parametrize("raw, detail", [
    ("a,b\n" * 19, "20 to 50000 rows"),
    ([["t", "only"]] * 25, "2 to 50 labels"),
    ([["t", f"l{i}"] for i in range(51)], "2 to 50 labels"),
    ("a,b,c\n" * 25, "3 fields"),
    ([["", "x"]] * 25, "text must be"),
    (42, "rows must be"),
])
def test_bad_rows_are_refused_with_a_reason(raw, detail):
    with pytest.raises(InputTypeError, match=detail):
        check_rows(raw)


def test_regularisation_is_chosen_on_a_bounded_sample(tiny_embed_dir, monkeypatch):
    from functions.train import pipeline

    monkeypatch.setattr(pipeline, "CV_MAX_ROWS", 10)
    out = train(InferenceModel.from_dir(tiny_embed_dir), _rows(), folds=2)
    assert out.details["cv_rows"] == 10 < out.details["train_rows"]
    monkeypatch.setattr(pipeline, "CV_WIDTH", 4)  # a head wider than the cap's width: fewer rows for the CV
    out = train(InferenceModel.from_dir(tiny_embed_dir), _rows(), folds=2)  # 8 features: 10 * 4 // 8 = 5 rows
    assert 4 <= out.details["cv_rows"] <= 6  # stratified: each label's share rounds
