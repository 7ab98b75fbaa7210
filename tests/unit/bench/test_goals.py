"""Issue #15's goal rows: ratios from the latency rows, fidelity from the build's results.json."""
from __future__ import annotations

import json

from bench import goals


def _lat(model, engine, texts, p50):
    return {"model": model, "engine": engine, "path": "raw", "threads": 1, "texts": texts, "p50_ms": p50}


def test_goal_rows_judge_speed_fidelity_and_pruning(tmp_path, monkeypatch):
    build = {"models": {
        "minilm-embed": {"variants": {"int8": {"fidelity": {"cosine_mean": 0.9957, "cosine_min": 0.989},
                                               "build": {"recipe": "ffn-outliers-fp32"}}}},
        "sentiment": {"variants": {"fp32": {"test": {"accuracy": 0.809}},
                                   "int8": {"test": {"accuracy": 0.807}, "agreement_with_fp32": 0.985,
                                            "build": {"recipe": "all-matmuls"}}},
                      "pruned": {"vs_unpruned_int8": {"size_ratio": 0.71, "accuracy_loss_vs_fp32": 0.0225},
                                 "pruning": {"spec": "layers 0,2,4"}, "prod": False}}}}
    (tmp_path / "results.json").write_text(json.dumps(build))
    monkeypatch.setattr(goals, "RESULTS_FILE", tmp_path / "results.json")
    latency = [_lat("minilm-embed", "onnx-fp32", 1, 4.0), _lat("minilm-embed", "onnx-int8", 1, 1.9),
               _lat("minilm-embed", "onnx-fp32", 32, 40.0), _lat("minilm-embed", "onnx-int8", 32, 25.0),
               _lat("sentiment", "onnx-fp32", 1, 4.0), _lat("sentiment", "onnx-int8", 1, 2.4),
               _lat("sentiment", "onnx-fp32", 32, 40.0), _lat("sentiment", "onnx-int8", 32, 20.0),
               _lat("sentiment", "onnx-pruned", 1, 1.2), _lat("sentiment", "onnx-pruned", 32, 9.0)]
    got = {r["goal"]: r for r in goals.rows({"latency": latency})}
    assert got["minilm-embed int8 1-text p50 <= 0.5x fp32 (1 thread)"]["met"] == "met"  # 0.475
    assert got["minilm-embed int8 texts/s (32 texts) >= 2.0x fp32 (1 thread)"]["met"] == "NOT met"  # 1.6
    assert got["sentiment int8 texts/s (32 texts) >= 2.0x fp32 (1 thread)"]["met"] == "met"  # 2.0
    fidelity = next(r for g, r in got.items() if g.startswith("minilm-embed int8 cos"))
    assert fidelity["met"] == "met" and "ffn-outliers-fp32" in fidelity["measured"]
    assert next(r for g, r in got.items() if g.startswith("sentiment int8 accuracy"))["met"] == "NOT met"  # 98.5 %
    assert got["sentiment:pruned >= 1.3x faster than int8 (1 text / 32 texts, 1 thread, this run)"]["met"] == "met"
    assert got["sentiment:pruned >= 25 % smaller than int8"]["met"] == "met"
    assert got["sentiment:pruned accuracy within 1 pt of fp32"]["met"] == "NOT met"


def test_missing_rows_are_not_judged_met(tmp_path, monkeypatch):
    monkeypatch.setattr(goals, "RESULTS_FILE", tmp_path / "absent.json")
    rows = goals.rows({"latency": []})
    assert rows and all(r["met"] == "NOT met" and r["measured"] is None for r in rows)
