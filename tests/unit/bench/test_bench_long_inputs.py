"""The bench's long-input section runs (on tiny models here; its numbers come from `make bench`)."""
from __future__ import annotations

import random

from bench.long_inputs import chunking, embedding_types
from infra.local.tiny_artifact import WORDS, write_artifact


def test_chunking_row_and_embedding_type_rows_run(tmp_path):
    write_artifact(tmp_path / "embed", "embed")
    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) for _ in range(400)]
    row = chunking(tmp_path / "embed", texts, repeats=1)
    assert row["doc_tokens"] >= 2000 and row["windows"] > 100 and row["chunk_vs_apart"] > 0
    rows = {r["type"]: r for r in embedding_types(tmp_path / "embed", texts, queries=20)}
    assert set(rows) == {"float", "int8", "uint8", "binary"}
    assert rows["int8"]["cosine_vs_float_min"] > 0.99 and rows["binary"]["bytes_per_vector"] == 1
