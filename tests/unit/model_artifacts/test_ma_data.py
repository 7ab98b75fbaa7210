"""Corpus loading (bad rows counted, never silently dropped) and the stratified split."""
from __future__ import annotations

import numpy as np
import pytest

from model_artifacts.data import CorpusError, load_corpus, stratified_split
from tests.model_artifacts_fixtures import write_corpus


def test_unreadable_rows_are_counted_with_line_and_reason(tmp_path):
    path = write_corpus(tmp_path / "c.csv", [
        "negative,0.9,awful day",
        "positive,,great movie",          # empty confidence is allowed
        "angry,0.5,unknown label",        # line 4
        "neutral,0.4",                    # line 5: missing field
        "neutral,abc,bad confidence",     # line 6
        "positive,0.8,   ",               # line 7: empty text
        'neutral,0.3,"a, quoted text"',
        "negative,0.9,awful day",         # duplicate text
    ])
    corpus = load_corpus(path)
    assert corpus.texts == ["awful day", "great movie", "a, quoted text"]
    assert corpus.labels.tolist() == [0, 2, 1]
    assert corpus.rows_read == 8
    assert [line for line, _ in corpus.skipped] == [4, 5, 6, 7]
    assert "unknown label" in corpus.skipped[0][1] and "expected 3 fields" in corpus.skipped[1][1]
    assert corpus.duplicates == 1
    assert "4 unreadable" in corpus.summary()


def test_latin1_bytes_are_read(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(b"sentiment,confidence,text\npositive,0.9,caf\xe9 ok \x8d\n")
    assert load_corpus(path).texts == ["caf\u00e9 ok \x8d"]


def test_missing_or_headerless_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        load_corpus(tmp_path / "nope.csv")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(CorpusError, match="header"):
        load_corpus(tmp_path / "bad.csv")


def test_split_is_stratified_disjoint_and_deterministic():
    labels = np.array([0] * 500 + [1] * 300 + [2] * 200)
    a, b = stratified_split(labels, seed=0), stratified_split(labels, seed=0)
    assert all(np.array_equal(x, y) for x, y in zip((a.train, a.validation, a.test), (b.train, b.validation, b.test)))
    parts = [set(a.train), set(a.validation), set(a.test)]
    assert sum(map(len, parts)) == len(labels) and len(set().union(*parts)) == len(labels)
    for part, frac in ((a.train, 0.8), (a.validation, 0.1), (a.test, 0.1)):
        counts = np.bincount(labels[part], minlength=3)
        assert np.allclose(counts, np.array([500, 300, 200]) * frac, atol=1)
    assert not np.array_equal(stratified_split(labels, seed=1).test, a.test)
