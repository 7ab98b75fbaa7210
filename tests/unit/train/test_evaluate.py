from __future__ import annotations

import numpy as np

from functions.train.evaluate import evaluation


def test_evaluation_numbers_by_hand():
    labels = ("neg", "pos")
    y = np.array([0, 0, 1, 1, 1])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.95, 0.05], [0.4, 0.6]])
    texts = ["a", "b", "c", "d", "e"]
    out = evaluation(y, proba, labels, texts)
    assert out["accuracy"] == 0.6 and out["held_out"] == 5
    assert out["confusion"] == [[1, 1], [1, 2]]
    assert out["per_label"]["neg"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert out["per_label"]["pos"]["precision"] == round(2 / 3, 4) and out["per_label"]["pos"]["recall"] == round(2 / 3, 4)
    assert out["macro_f1"] == round((0.5 + 2 / 3) / 2, 4)
    # the most confident mistakes first: "d" (0.95 neg, truly pos), then "b" (0.8 pos, truly neg)
    assert [(m["text"], m["label"], m["predicted"], m["confidence"]) for m in out["mistakes"]] == [
        ("d", "pos", "neg", 0.95), ("b", "neg", "pos", 0.8)]


def test_at_most_ten_mistakes():
    y = np.zeros(30, dtype=int)
    proba = np.tile([0.1, 0.9], (30, 1))
    assert len(evaluation(y, proba, ("a", "b"), [str(i) for i in range(30)])["mistakes"]) == 10
