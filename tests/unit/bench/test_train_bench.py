"""The train goals row runs end to end on the tiny artifacts (its numbers come from the real run)."""
from __future__ import annotations

from bench.train_bench import run
from tests.unit.train.test_pipeline import NEG, POS


def test_train_bench_reports_every_goal(tiny_embed_dir):
    texts = [f"{t}{' very' * i}" for i in range(3) for t in POS + NEG]
    labels = [label for _ in range(3) for label in ["positive"] * len(POS) + ["negative"] * len(NEG)]
    out = run(tiny_embed_dir, texts, labels, POS + NEG, ["positive"] * len(POS) + ["negative"] * len(NEG))
    assert set(out["goals"]) == {"accuracy", "end_to_end_s", "composed_gap_pt"}
    # composed graph and numpy head agree on the same embeddings (fp32 tiny model: exactly)
    assert out["composed_gap_pt"] == 0.0
    assert out["rows"] == 36 and out["end_to_end_s"] > 0
