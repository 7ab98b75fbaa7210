"""LineRunner: one output row per input item, in order, micro-batched; per-line too-long errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from functions.batch.engine import LineRunner
from functions.batch.records import Item
from functions.nlp.model import InferenceModel
from infra.local.tiny_artifact import reference_outputs


class Sink:
    def __init__(self) -> None:
        self.data = bytearray()
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.data += data
        self.writes += 1

    def rows(self) -> list[dict]:
        return [json.loads(line) for line in self.data.decode().splitlines()]


def _items(n: int) -> list[Item]:
    words = ["good", "bad movie", "the food was really awful", "fine day"]
    return [Item(i + 1, f"id{i}", text=words[i % 4]) if i % 5 else Item(i + 1, code="invalid-json", reason="x")
            for i in range(n)]


@pytest.mark.parametrize("micro_batch", [1, 3, 256])
def test_rows_follow_input_order_across_micro_batches(tiny_classify_dir, micro_batch):
    model = InferenceModel.from_dir(tiny_classify_dir)
    out, err = Sink(), Sink()
    items = _items(23)
    stats = LineRunner(model, micro_batch=micro_batch).process(items, out, err)
    assert stats.counts() == {"lines_read": 23, "ok": 18, "failed": 5}
    rows = out.rows()
    assert [r["line"] for r in rows] == list(range(1, 24))
    assert [e["line"] for e in err.rows()] == [1, 6, 11, 16, 21]
    ok = [r for r in rows if "error" not in r]
    ref = reference_outputs("classify", [i.text for i in items if i.ok])
    np.testing.assert_allclose([[r["scores"][k] for k in ("negative", "neutral", "positive")] for r in ok], ref,
                               atol=1e-5)
    assert [r["id"] for r in ok] == [i.id for i in items if i.ok]


def test_embed_rows(tiny_embed_dir):
    model = InferenceModel.from_dir(tiny_embed_dir)
    out, err = Sink(), Sink()
    LineRunner(model).process([Item(1, text="happy day"), Item(2, text="sad")], out, err)
    np.testing.assert_allclose([r["embedding"] for r in out.rows()],
                               reference_outputs("embed", ["happy day", "sad"]), atol=1e-6)
    assert not err.data


def test_truncation_off_rejects_only_the_long_lines(tiny_classify_dir):
    model = InferenceModel.from_dir(tiny_classify_dir)  # max_length 16 tokens
    long_text = " ".join(["good"] * 40)
    items = [Item(1, text="good"), Item(2, text=long_text), Item(3, text="bad day")]
    out, err = Sink(), Sink()
    stats = LineRunner(model, truncate=False).process(items, out, err)
    assert stats.counts() == {"lines_read": 3, "ok": 2, "failed": 1}
    assert [(e["line"], e["code"]) for e in err.rows()] == [(2, "text-too-long")]
    ref = reference_outputs("classify", ["good", "bad day"])
    ok = [r for r in out.rows() if "error" not in r]
    np.testing.assert_allclose([[r["scores"][k] for k in ("negative", "neutral", "positive")] for r in ok], ref,
                               atol=1e-5)
    # with truncation on, the same line is simply truncated
    out2 = Sink()
    assert LineRunner(model, truncate=True).process(items, out2, Sink()).failed == 0


def test_memory_stays_bounded_to_one_micro_batch(tiny_classify_dir):
    model = InferenceModel.from_dir(tiny_classify_dir)
    out = Sink()

    def endless():
        for i in range(1000):
            yield Item(i + 1, text="good")

    LineRunner(model, micro_batch=100).process(endless(), out, Sink())
    assert out.writes == 10  # written as it goes, one write per micro-batch
