"""Issue #15's goal rows: speed ratios from the interleaved as-served rows, verdicts from the build."""
from __future__ import annotations

import json

from bench import goals


def _speed(model, variant, one_ms, tps, base_one, base_tps):
    return {"model": model, "variant": variant, "one_text_cpu_ms": one_ms, "texts_per_cpu_s": tps,
            "one_text_vs_fp32": round(one_ms / base_one, 3), "texts_per_s_vs_fp32": round(tps / base_tps, 3)}


def _build(tmp_path, monkeypatch, aliases=None):
    build = {"models": {
        "minilm-embed": {"variants": {"int8": {"fidelity": {"cosine_mean": 0.9957, "cosine_min": 0.989},
                                               "goals": {"cosine_mean>=0.995": True, "cosine_min>=0.98": True},
                                               "build": {"recipe": "all-outliers-fp32"}}}},
        "sentiment": {"variants": {"fp32": {"test": {"accuracy": 0.809}},
                                   "int8": {"test": {"accuracy": 0.807}, "agreement_with_fp32": 0.985,
                                            "goals": {"agreement>=0.99": False},
                                            "build": {"recipe": "all-matmuls"}}},
                      "pruned": {"vs_unpruned_int8": {"size_ratio": 0.71, "accuracy_loss_vs_fp32": 0.0225},
                                 "pruning": {"spec": "layers 0,2,4"}, "prod": False}}}}
    (tmp_path / "results.json").write_text(json.dumps(build))
    monkeypatch.setattr(goals, "RESULTS_FILE", tmp_path / "results.json")
    monkeypatch.setattr(goals, "DIST", tmp_path)
    if aliases:
        (tmp_path / "sentiment").mkdir()
        (tmp_path / "sentiment" / "aliases.json").write_text(json.dumps(aliases))


def test_goal_rows_judge_speed_fidelity_and_pruning(tmp_path, monkeypatch):
    _build(tmp_path, monkeypatch, {"fp32": "k-fp32", "int8": "k-int8", "pruned": "k-pruned", "prod": "k-int8"})
    speed = [_speed("minilm-embed", "fp32", 4.0, 100, 4.0, 100), _speed("minilm-embed", "int8", 1.9, 160, 4.0, 100),
             _speed("sentiment", "fp32", 4.0, 100, 4.0, 100), _speed("sentiment", "int8", 2.4, 200, 4.0, 100),
             _speed("sentiment", "pruned", 1.2, 450, 4.0, 100)]
    got = {r["goal"]: r for r in goals.rows({"goal_speed": speed})}
    assert got["minilm-embed int8 1-text p50 <= 0.5x fp32 (1 thread, as served)"]["met"] == "met"  # 0.475
    assert got["minilm-embed int8 texts/s (32 texts) >= 2.0x fp32 (1 thread, as served)"]["met"] == "NOT met"  # 1.6
    assert got["sentiment int8 texts/s (32 texts) >= 2.0x fp32 (1 thread, as served)"]["met"] == "met"  # 2.0
    fidelity = next(r for g, r in got.items() if g.startswith("minilm-embed int8 cos"))
    assert fidelity["met"] == "met" and "all-outliers-fp32" in fidelity["measured"]
    assert next(r for g, r in got.items() if g.startswith("sentiment int8 accuracy"))["met"] == "NOT met"
    faster = next(r for g, r in got.items() if g.startswith("sentiment:pruned >= 1.3x faster"))
    assert faster["met"] == "met" and faster["measured"] == "2.0 / 2.25"
    assert got["sentiment:pruned >= 25% smaller than int8"]["met"] == "met"
    assert got["sentiment:pruned accuracy within 1 pt of fp32"]["met"] == "NOT met"
    prod = next(r for g, r in got.items() if g.startswith("sentiment prod alias"))
    assert prod["met"] == "met" and "prod -> int8" in prod["measured"]


def test_a_prod_alias_against_the_builds_rule_is_not_met(tmp_path, monkeypatch):
    _build(tmp_path, monkeypatch, {"fp32": "k-fp32", "int8": "k-int8", "pruned": "k-pruned", "prod": "k-pruned"})
    prod = next(r for r in goals.rows({}) if r["goal"].startswith("sentiment prod alias"))
    assert prod["met"] == "NOT met"


def test_missing_rows_are_not_judged(tmp_path, monkeypatch):
    monkeypatch.setattr(goals, "RESULTS_FILE", tmp_path / "absent.json")
    monkeypatch.setattr(goals, "DIST", tmp_path)
    rows = goals.rows({})
    assert rows and all(r["met"] == "n/a" and r["measured"] is None for r in rows)
