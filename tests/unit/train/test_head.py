"""The numpy logistic-regression head against scikit-learn (the reference), and its CV and splits."""
from __future__ import annotations

import numpy as np
import pytest

from functions.train.head import choose_l2, fit, stratified_folds, stratified_split, train_head, zero_shot_head


def _blobs(n=240, dim=16, k=3, seed=0, spread=0.6):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, dim))
    y = rng.integers(0, k, n)
    x = centers[y] * spread + rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), y


@pytest.mark.parametrize("l2", [1e-2, 1e-3])
def test_fit_matches_scikit_learn_multinomial_lr(l2):
    sklearn = pytest.importorskip("sklearn.linear_model")
    x, y = _blobs()
    w, b = fit(x, y, 3, l2, max_iter=3000, tol=1e-9)
    ref = sklearn.LogisticRegression(C=1 / (l2 * len(y)), max_iter=10_000, tol=1e-10).fit(x, y)
    # sklearn's multinomial coefficients are centred over classes; the minimiser is the same
    np.testing.assert_allclose(w, ref.coef_.T, atol=2e-3)
    np.testing.assert_allclose(b - b.mean(), ref.intercept_ - ref.intercept_.mean(), atol=2e-3)


def test_folds_are_disjoint_cover_everything_and_spread_each_label():
    y = np.array([0] * 10 + [1] * 7 + [2] * 3)
    folds = stratified_folds(y, 3)
    joined = np.concatenate(folds)
    assert sorted(joined) == list(range(len(y)))
    for label, count in ((0, 10), (1, 7), (2, 3)):
        per_fold = [int(np.sum(y[f] == label)) for f in folds]
        assert max(per_fold) - min(per_fold) <= 1 and sum(per_fold) == count


def test_split_keeps_every_label_on_both_sides():
    y = np.array([0] * 50 + [1] * 2 + [2] * 8)
    train, test = stratified_split(y, 0.2)
    assert not set(train) & set(test) and len(train) + len(test) == len(y)
    assert set(y[train]) == set(y[test]) == {0, 1, 2}


def test_cross_validation_reports_each_grid_value_and_progress():
    x, y = _blobs(n=120)
    seen = []
    best, losses = choose_l2(x, y, 3, grid=(1e-1, 1e-3), folds=4, progress=lambda d, k: seen.append((d, k)))
    assert best in (1e-1, 1e-3) and set(losses) == {"0.1", "0.001"}
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_trained_head_separates_separable_blobs():
    x, y = _blobs(spread=3.0)
    head, _ = train_head(x, y, ["a", "b", "c"])
    assert np.mean(np.argmax(head.predict_proba(x), axis=1) == y) > 0.95
    assert head.weights.dtype == np.float32 and head.weights.shape == (16, 3)


def test_zero_shot_head_picks_the_most_similar_description():
    desc = np.eye(3, 8, dtype=np.float32)
    head = zero_shot_head(desc, ["x", "y", "z"])
    texts = np.array([[0.1, 0.9, 0, 0, 0, 0, 0, 0], [0.2, 0, 0.7, 0, 0, 0, 0, 0]], dtype=np.float32)
    assert list(np.argmax(head.predict_proba(texts), axis=1)) == [1, 2]
    np.testing.assert_allclose(head.predict_proba(texts).sum(axis=1), 1.0, rtol=1e-6)
