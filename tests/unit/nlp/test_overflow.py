"""Long inputs: windows laid out by tokens, cut right/left, refused, or chunked and pooled."""
from __future__ import annotations

import numpy as np
import pytest

from functions.nlp.errors import InputTypeError, TextTooLongError
from functions.nlp.model import InferenceModel
from functions.nlp.overflow import Overflow, lay_out, window_starts
from functions.nlp.postprocess import l2_normalize, pool_windows
from infra.local.tiny_artifact import VOCAB, WORDS, reference_outputs, write_artifact

CLS, SEP = VOCAB["[CLS]"], VOCAB["[SEP]"]
TOL = 1e-5


def seq(n: int) -> tuple[np.ndarray, int, int]:
    return np.array([CLS, *range(100, 100 + n), SEP], dtype=np.int64), 1, 1


@pytest.mark.parametrize("n,room,overlap", [(10, 4, 1), (100, 14, 4), (15, 14, 4), (14, 14, 4), (33, 8, 0),
                                            (9, 6, 100)])
def test_windows_cover_every_token_and_share_the_overlap(n, room, overlap):
    starts = window_starts(n, room, overlap)
    covered = set()
    for s in starts:
        covered.update(range(s, min(n, s + room)))
        assert s + room <= max(n, room)
    assert covered == set(range(n)) and starts[0] == 0 and starts == sorted(set(starts))
    shared = [starts[i] + room - starts[i + 1] for i in range(len(starts) - 2)]
    assert all(x == min(overlap, room // 2) for x in shared)


def test_truncation_keeps_the_start_or_the_end_and_says_so():
    right = lay_out([seq(20), seq(3)], 8, Overflow("truncate", "right"))
    assert right.ids[0].tolist() == [CLS, 100, 101, 102, 103, 104, 105, SEP]
    assert right.truncated.tolist() == [True, False] and right.chunks.tolist() == [1, 1]
    left = lay_out([seq(20)], 8, Overflow("truncate", "left"))
    assert left.ids[0].tolist() == [CLS, 114, 115, 116, 117, 118, 119, SEP]


def test_error_mode_names_the_text_and_the_way_out():
    with pytest.raises(TextTooLongError, match=r"texts\[1\].*on_overflow: chunk"):
        lay_out([seq(3), seq(20)], 8, Overflow("error"))


def test_chunks_wrap_every_window_in_special_tokens():
    windows = lay_out([seq(3), seq(20)], 8, Overflow("chunk", overlap=2))
    assert windows.owner.tolist()[0] == 0 and windows.chunks.tolist() == [1, 5]  # starts 0, 4, 8, 12 and 14 (the end)
    assert all(w[0] == CLS and w[-1] == SEP and len(w) <= 8 for w in windows.ids)
    body = [t for w in windows.ids[1:] for t in w[1:-1].tolist()]
    assert set(body) == set(range(100, 120)) and not windows.truncated.any()
    assert windows.tokens_per_text.tolist() == [5, sum(len(w) for w in windows.ids[1:])]


@pytest.mark.parametrize("kwargs", [{"mode": "split"}, {"direction": "up"}, {"overlap": -1}, {"overlap": True}])
def test_bad_options_are_input_errors(kwargs):
    with pytest.raises(InputTypeError):
        Overflow(**kwargs)


def test_pooling_is_the_token_weighted_mean():
    rows = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], dtype=np.float32)
    pooled = pool_windows(rows, np.array([0, 0, 1]), np.array([3, 1, 7]), 2)
    assert np.allclose(pooled, [[0.75, 0.25], [0.5, 0.5]])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("overflow")
    return {task: InferenceModel.from_dir(write_artifact(root / task, task) and root / task, batch_size=4)
            for task in ("classify", "embed")}


LONG = " ".join(WORDS[i % 20] for i in range(61))  # 61 words: 6 windows of 14 words, 4 shared


@pytest.mark.parametrize("task", ["classify", "embed"])
def test_chunked_text_pools_the_windows_run_separately(models, task):
    model = models[task]
    overflow = Overflow("chunk", overlap=4)
    result = model.run(["good movie", LONG], overflow=overflow)
    windows = model.windows([LONG], overflow)
    words = LONG.split()
    texts = [" ".join(words[s: s + 14]) for s in window_starts(len(words), 14, 4)]
    alone = reference_outputs(task, texts)
    expected = pool_windows(alone, np.zeros(len(texts), dtype=np.int64), windows.lengths, 1)
    if task == "embed":
        expected = l2_normalize(expected)
    assert result.chunks.tolist() == [1, len(texts)] and len(texts) > 2
    assert np.allclose(result.outputs[1], expected[0], atol=TOL)
    assert np.allclose(result.outputs[0], reference_outputs(task, ["good movie"])[0], atol=TOL)
    assert result.total_tokens == 4 + sum(len(t.split()) + 2 for t in texts)
    if task == "classify":
        assert abs(result.outputs[1].sum() - 1) < 1e-5


def test_left_truncation_reads_the_end(models):
    model = models["embed"]
    words = LONG.split()
    left = model.run([LONG], overflow=Overflow("truncate", "left")).outputs[0]
    right = model.run([LONG]).outputs[0]
    assert np.allclose(left, reference_outputs("embed", [" ".join(words[-14:])])[0], atol=TOL)
    assert np.allclose(right, reference_outputs("embed", [" ".join(words[:14])])[0], atol=TOL)
