"""The threads x memory section: the rule that picks the thread default from a measured table, and a
run of the whole section on tiny models (its numbers come from `make bench`, not from here)."""
from __future__ import annotations

import json

import pytest

from bench import threads
from bench.corpus import load_texts
from tests.support.tiny_defaults import write_default_registry


def table(p50: dict[int, tuple[float, float]], sizes=(1, 8, 32), models=("sentiment", "minilm-embed")) -> list[dict]:
    """Rows as the section measures them: memory -> (p50 at 1 thread, p50 at 2 threads), every cell alike."""
    return [{"model": m, "memory_mb": mem, "threads": t, "texts": n, "p50_ms": ms[t - 1]}
            for mem, ms in p50.items() for m in models for n in sizes for t in (1, 2)]


def test_two_threads_only_where_they_are_faster_by_the_margin():
    picks = threads.pick_threads(table({512: (40.0, 44.0), 1769: (10.0, 9.5), 3008: (10.0, 7.0)}))
    assert [(p["memory_mb"], p["threads"]) for p in picks] == [(512, 1), (1769, 1), (3008, 2)]
    assert picks[2]["speedup_2_threads"] == pytest.approx(10 / 7, abs=1e-3)
    assert threads.pick_threads(table({2048: (11.0, 10.0)}), margin=1.10)[0]["threads"] == 2
    assert threads.pick_threads(table({2048: (10.9, 10.0)}), margin=1.10)[0]["threads"] == 1


def test_the_speedup_is_a_geometric_mean_over_models_and_sizes_with_its_range():
    rows = table({3008: (10.0, 10.0)})
    for r in rows:  # 2 threads: 2x faster at 32 texts, 2x slower at 1 text: no gain overall
        if r["threads"] == 2 and r["texts"] in (1, 32):
            r["p50_ms"] = 20.0 if r["texts"] == 1 else 5.0
    api = threads.pick_threads(rows)[0]
    assert api["speedup_2_threads"] == pytest.approx(1.0) and (api["worst"], api["best"]) == (0.5, 2.0)
    assert api["threads"] == 1
    bulk = threads.pick_threads(rows, sizes=threads.FUNCTION_SIZES["batch"])[0]
    assert bulk["threads"] == 2  # the batch function weighs long runs of micro-batches only


def test_the_default_at_any_memory_is_the_pick_of_the_largest_measured_size_below_it():
    picks = [{"memory_mb": 512, "threads": 1}, {"memory_mb": 1769, "threads": 1}, {"memory_mb": 3008, "threads": 2}]
    assert [threads.threads_for(picks, m) for m in (256, 512, 2048, 3008, 10240)] == [1, 1, 1, 2, 2]
    with pytest.raises(ValueError):
        threads.threads_for([], 1024)


def test_the_rule_is_stated_from_the_picks():
    ones = [{"memory_mb": m, "threads": 1} for m in (512, 1769)]
    assert threads.rule_text(ones).startswith("threads = 1 at every measured size (512, 1769 MB)")
    step = ones + [{"memory_mb": 3008, "threads": 2}]
    assert threads.rule_text(step).startswith("threads = 1 below 3008 MB, 2 from 3008 MB")
    mixed = [{"memory_mb": 512, "threads": 2}, {"memory_mb": 1769, "threads": 1}]
    assert threads.rule_text(mixed).startswith("threads: 512 MB -> 2, 1769 MB -> 1")


def test_every_stage_function_is_held_against_the_measured_default():
    picks = {"api": [{"memory_mb": 128, "threads": 1}], "batch": [{"memory_mb": 128, "threads": 2}]}
    rows = threads.stage_rows(picks)
    from infra.config import load_config

    cfg = load_config()
    assert {(r["stage"], r["function"]) for r in rows} == {(s, f) for s in cfg.stages for f in ("api", "batch")}
    for r in rows:
        expected = 1 if r["function"] == "api" else 2
        assert r["measured_default"] == expected and r["agrees"] == (r["threads"] == expected)
        assert r["threads"] == getattr(cfg.stage(r["stage"]), f"{r['function']}_threads")


def test_the_section_measures_every_cell_in_a_cpu_limited_child(tmp_path):
    root = write_default_registry(tmp_path, versions=("1-int8",))
    for name in ("sentiment", "minilm-embed"):
        (root / name / "aliases.json").write_text(json.dumps({"prod": "1-int8", "int8": "1-int8"}))
    rows, method = threads.measure(load_texts(40), memories=(3008,), reps=1, dist=root, log=lambda _: None)
    assert method
    assert {(r["model"], r["threads"], r["texts"]) for r in rows} == {
        (m, t, n) for m in threads.MODELS for t in threads.THREADS for n in threads.SIZES}
    assert all(r["memory_mb"] == 3008 and r["texts_per_s"] > 0 for r in rows)


def test_the_report_reads_the_section_as_tables_and_rules():
    from bench.report import _table

    rows = table({512: (40.0, 44.0), 3008: (10.0, 7.0)})
    for r in rows:
        r["texts_per_s"] = round(r["texts"] / r["p50_ms"] * 1e3, 1)
    wide = threads.wide_rows(rows)
    assert len(wide) == 2 * 3 * 2 and list(wide[0])[3:] == ["512 MB", "3008 MB"]
    assert wide[0]["512 MB"] == "40 ms / 25"
    picks = {"api": threads.pick_threads(rows)}
    result = {"cpu_limit": "test", "table": rows, "picks": [{"function": "api", **p} for p in picks["api"]],
              "rules": {"api": threads.rule_text(picks["api"])}, "stages": threads.stage_rows(picks)}
    parts = threads.report_parts(result)
    assert all(isinstance(body, str) or _table(body).count("\n") > 2 for _, body in parts)


def test_the_cost_models_thread_rule_is_held_against_the_picks():
    from infra.cost.lambda_cpu import TWO_THREADS_FROM_MB

    below, at = TWO_THREADS_FROM_MB - 1, TWO_THREADS_FROM_MB
    agree = {"api": [{"memory_mb": below, "threads": 1}, {"memory_mb": at, "threads": 2}]}
    assert threads.cost_rule_text(agree).endswith("agrees with every pick")
    differ = {"batch": [{"memory_mb": below, "threads": 2}]}
    assert f"batch {below} MB: measured 2, rule 1" in threads.cost_rule_text(differ)


def test_without_models_the_report_says_not_measured(tmp_path):
    result = threads.section(["a text"], quick=True, dist=tmp_path)
    assert result["table"] == [] and result["stages"] == []
    assert threads.report_parts(result) == [("Threads x texts per request x Lambda memory",
                                             "_not measured: none (no int8 model built)_")]
