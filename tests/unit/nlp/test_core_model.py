"""The inference core on tiny artifacts whose expected outputs are recomputed in plain numpy."""
from __future__ import annotations

import numpy as np
import pytest

from functions.nlp import (EmptyInputError, InferenceModel, InputTypeError, Limits, TextTooLongError,
                           TooManyTextsError, WrongTaskError, length_buckets, validate_texts)
from infra.local.tiny_artifact import reference_outputs

TEXTS = ["good movie", "the food was really awful and the service was not ok", "meh",
         "café naïve 😀 great day", "unknownword", "this is a very very very good day"]
# float32 throughout: differences come only from summation order
ATOL = 1e-5


def test_classify_matches_numpy_reference_in_request_order(tiny_classify_dir):
    model = InferenceModel.from_dir(tiny_classify_dir, batch_size=2)
    predictions, result = model.classify(TEXTS)
    expected = reference_outputs("classify", TEXTS)
    np.testing.assert_allclose(result.outputs, expected, atol=ATOL)
    assert [p["label"] for p in predictions] == [model.manifest.labels[i] for i in expected.argmax(1)]
    for p in predictions:
        assert abs(sum(p["scores"].values()) - 1) < 1e-5 and p["score"] == max(p["scores"].values())


def test_embed_is_normalised_and_matches_reference(tiny_embed_dir):
    model = InferenceModel.from_dir(tiny_embed_dir, batch_size=4)
    result = model.embed(TEXTS)
    np.testing.assert_allclose(result.outputs, reference_outputs("embed", TEXTS), atol=ATOL)
    np.testing.assert_allclose(np.linalg.norm(result.outputs, axis=1), 1.0, atol=1e-5)


def test_bucketing_does_not_change_results(tiny_embed_dir):
    model = InferenceModel.from_dir(tiny_embed_dir, batch_size=2)
    a = model.run(TEXTS, bucketing=True).outputs
    b = model.run(TEXTS, bucketing=False).outputs
    np.testing.assert_allclose(a, b, atol=ATOL)


def test_length_buckets_group_similar_lengths_and_cover_all():
    lengths = np.array([9, 2, 7, 3, 8, 2])
    groups = length_buckets(lengths, batch_size=2)
    assert sorted(np.concatenate(groups).tolist()) == list(range(6))
    assert [sorted(lengths[g].tolist()) for g in groups] == [[2, 2], [3, 7], [8, 9]]
    assert [g.tolist() for g in length_buckets(lengths, 4, bucketing=False)] == [[0, 1, 2, 3], [4, 5]]


def test_token_counts_and_truncation(tiny_embed_dir):
    model = InferenceModel.from_dir(tiny_embed_dir)
    long_text = " ".join(["good"] * 40)
    result = model.run(["good movie", long_text])
    assert result.token_counts.tolist() == [4, model.manifest.max_length]
    with pytest.raises(TextTooLongError):
        model.run([long_text], truncate=False)


def test_similarity_matrix(tiny_embed_dir):
    model = InferenceModel.from_dir(tiny_embed_dir)
    sims, _ = model.similarity(["good movie", "awful food"], ["good movie", "sad day", "awful food"])
    assert sims.shape == (2, 3)
    assert sims[0, 0] == pytest.approx(1.0, abs=1e-5) and sims[1, 2] == pytest.approx(1.0, abs=1e-5)


def test_wrong_task_is_refused(tiny_embed_dir, tiny_classify_dir):
    with pytest.raises(WrongTaskError):
        InferenceModel.from_dir(tiny_embed_dir).classify(["good"])
    with pytest.raises(WrongTaskError):
        InferenceModel.from_dir(tiny_classify_dir).embed(["good"])


@pytest.mark.parametrize("texts, error", [
    ([], EmptyInputError), (["  "], EmptyInputError), (None, InputTypeError), ([1], InputTypeError),
    ({"a": 1}, InputTypeError), (["x"] * 5, TooManyTextsError), (["x" * 11], TextTooLongError),
])
def test_validate_texts_rejects_bad_input(texts, error):
    with pytest.raises(error):
        validate_texts(texts, Limits(max_texts=4, max_chars=10))


def test_validate_texts_accepts_a_single_string():
    assert validate_texts("hello", Limits()) == ["hello"]
