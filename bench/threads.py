"""Threads x texts per request x Lambda memory: the measured table behind the stage thread defaults.

Each memory size runs in a fresh child process held to Lambda's CPU share for that size (memory /
1,769 MB vCPU, capped at this host's cores) by the cost sweep's own limiter (infra.cost.throttle:
a CFS bandwidth quota, 20 ms period, or its SIGSTOP fallback). In it both int8 models run through
the service's model class (functions.nlp.InferenceModel, the service's micro-batch size) at 1 and
2 intra-op threads for 1, 8 and 32 texts per request, requests back to back (a busy instance: the
quota is spent continuously, as under steady load). The rule (``pick_threads``): 2 threads where
they are at least ``MARGIN`` faster than 1 (geometric mean of the p50 ratios over both models and
the request sizes that matter: 1, 8 and 32 texts for the api function, 32 for the batch function,
which runs long streams of micro-batches), else 1. Two threads cost nothing extra on Lambda, but
2-thread timings swing run to run here, so a small gain is not taken as one.
"""
from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from bench.raw import DIST
from bench.stats import summary, time_calls

REPO = Path(__file__).resolve().parent.parent
MEMORIES = (512, 1024, 1536, 1769, 2048, 3008)
QUICK_MEMORIES = (512, 1769, 2048, 3008)
THREADS = (1, 2)
SIZES = (1, 8, 32)
FUNCTION_SIZES = {"api": SIZES, "batch": (32,)}  # the request sizes each function's default weighs
MODELS = ("sentiment", "minilm-embed")
MARGIN = 1.10  # 2 threads must be this much faster (p50, geometric mean) to be the default
CHILD_TIMEOUT_S = 600


def measure(texts: Sequence[str], *, memories: Sequence[int] = MEMORIES, reps: int = 10,
            dist: Path | None = None, log=print) -> tuple[list[dict], str]:
    """Rows {model, memory_mb, vcpu, threads, texts, p50_ms, texts_per_s} and the CPU-limit method."""
    from functions.store.layout import local_aliases
    from infra.cost.lambda_cpu import HOST_CPUS, vcpu_share
    from infra.cost.sweep import CHILD_NICE
    from infra.cost.throttle import limiter_factory, run_limited

    dist = dist or DIST
    artifacts = {}
    for name in MODELS:
        aliases = local_aliases(dist, name) or {}
        if "int8" in aliases:
            artifacts[name] = str(dist / name / aliases["int8"])
    if not artifacts:
        return [], "none (no int8 model built)"
    make_limit, method = limiter_factory(HOST_CPUS)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="snlp-threads-") as tmp:
        for memory in memories:
            spec, out = Path(tmp, "spec.json"), Path(tmp, f"out-{memory}.json")
            spec.write_text(json.dumps({"artifacts": artifacts, "texts": list(texts[:max(SIZES)]), "reps": reps}))
            rc = run_limited([sys.executable, "-m", "bench.threads", str(spec), str(out)],
                             make_limit(vcpu_share(memory)), nice=CHILD_NICE, timeout=CHILD_TIMEOUT_S, cwd=str(REPO))
            if rc != 0 or not out.is_file():
                raise RuntimeError(f"threads child at {memory} MB failed (exit {rc})")
            cells = json.loads(out.read_text())
            rows += [{"model": c["model"], "memory_mb": memory, "vcpu": round(vcpu_share(memory), 3), **{
                k: c[k] for k in ("threads", "texts", "p50_ms", "texts_per_s")}} for c in cells]
            log(f"[threads] {memory} MB: " + ", ".join(f"{c['model']}/{c['threads']}t/{c['texts']}: {c['p50_ms']:.1f} ms"
                                                     for c in cells if c["texts"] == 1))
    return rows, method


def run_cells(artifacts: dict[str, str], texts: Sequence[str], reps: int) -> list[dict]:
    """In the limited child: every (model, threads, texts) cell through the service's model class."""
    from functions.nlp import InferenceModel
    from functions.settings import Settings

    cells = []
    for name, directory in artifacts.items():
        for threads in THREADS:
            model = InferenceModel.from_dir(directory, threads=threads, batch_size=Settings().batch_size)
            for n in SIZES:
                batch = [texts[i % len(texts)] for i in range(n)]
                # fewer calls for the long requests: ~1 s each at 512 MB, and their p50 moves less
                calls = reps if n == 1 else max(3, reps // 2) if n <= 8 else 3
                p50 = summary(time_calls(lambda: model.run(batch), repeats=calls, warmup=1))["p50"]
                cells.append({"model": name, "threads": threads, "texts": n, "p50_ms": round(p50, 2),
                              "texts_per_s": round(n / p50 * 1e3, 1)})
    return cells


def pick_threads(rows: Sequence[dict], margin: float = MARGIN, sizes: Sequence[int] = SIZES) -> list[dict]:
    """Per memory size: the 2-over-1-thread speedup (geometric mean of p50 ratios over every model
    and request size in ``sizes``, with its range) and the thread count the rule picks."""
    cells: dict[int, dict[tuple, dict[int, float]]] = {}
    for r in rows:
        if r["texts"] in sizes:
            cells.setdefault(r["memory_mb"], {}).setdefault((r["model"], r["texts"]), {})[r["threads"]] = r["p50_ms"]
    out = []
    for memory in sorted(cells):
        ratios = [t[1] / t[2] for t in cells[memory].values() if 1 in t and 2 in t and t[2] > 0]
        if not ratios:
            continue
        speedup = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
        out.append({"memory_mb": memory, "speedup_2_threads": round(speedup, 3), "worst": round(min(ratios), 3),
                    "best": round(max(ratios), 3), "threads": 2 if speedup >= margin else 1})
    return out


def threads_for(picks: Sequence[dict], memory_mb: int) -> int:
    """The measured default at ``memory_mb``: the pick of the largest measured size not above it
    (Lambda's CPU share only grows with memory), or of the smallest size below all of them."""
    ordered = sorted(picks, key=lambda p: p["memory_mb"])
    if not ordered:
        raise ValueError("no measured memory sizes")
    below = [p for p in ordered if p["memory_mb"] <= memory_mb]
    return (below[-1] if below else ordered[0])["threads"]


def rule_text(picks: Sequence[dict], margin: float = MARGIN, sizes: Sequence[int] = SIZES) -> str:
    """The picks as one sentence: where the default changes from 1 thread to 2."""
    twos = [p["memory_mb"] for p in picks if p["threads"] == 2]
    ones = [p["memory_mb"] for p in picks if p["threads"] == 1]
    basis = (f"2 threads only where >= {margin:.2f}x faster than 1 (p50, geometric mean over both models, "
             f"{'/'.join(map(str, sizes))} texts per request)")
    if not twos:
        return f"threads = 1 at every measured size ({', '.join(map(str, ones))} MB): {basis}"
    if not ones:
        return f"threads = 2 at every measured size: {basis}"
    first_two = min(twos)
    if all(m < first_two for m in ones):
        return f"threads = 1 below {first_two} MB, 2 from {first_two} MB: {basis}"
    return "threads: " + ", ".join(f"{p['memory_mb']} MB -> {p['threads']}" for p in picks) + f": {basis}"


def stage_rows(picks: dict[str, Sequence[dict]], config_path: Path | None = None) -> list[dict]:
    """Each stage's configured threads (api and batch) against the measured default at its memory
    (``picks``: function -> pick_threads rows for that function's request sizes)."""
    from infra.config import CONFIG_FILE, load_config

    cfg = load_config(config_path or CONFIG_FILE)
    rows = []
    for stage in cfg.stages:
        s = cfg.stage(stage)
        for fn, fn_picks in picks.items():
            memory, threads = getattr(s, f"{fn}_memory_mb"), getattr(s, f"{fn}_threads")
            measured = threads_for(fn_picks, memory)
            rows.append({"stage": stage, "function": fn, "memory_mb": memory, "threads": threads,
                         "measured_default": measured, "agrees": threads == measured,
                         "cost_model_rule": _cost_rule(memory)})
    return rows


def cost_rule_text(picks: dict[str, Sequence[dict]]) -> str:
    """The cost model's thread rule (what its sweep measures with and its drift check wants)
    against the picks at every measured size."""
    from infra.cost.lambda_cpu import TWO_THREADS_FROM_MB

    off = [f"{fn} {p['memory_mb']} MB: measured {p['threads']}, rule {_cost_rule(p['memory_mb'])}"
           for fn, fn_picks in picks.items() for p in fn_picks if p["threads"] != _cost_rule(p["memory_mb"])]
    rule = f"infra/cost/lambda_cpu.py: 1 thread below TWO_THREADS_FROM_MB = {TWO_THREADS_FROM_MB} MB, then one per core"
    return rule + (": agrees with every pick" if not off else ": differs at " + "; ".join(off))


def _cost_rule(memory_mb: int) -> int:
    from infra.cost.lambda_cpu import thread_count

    return thread_count(memory_mb, max(THREADS))


def section(texts: Sequence[str], quick: bool = False, dist: Path | None = None) -> dict:
    """The bench section: the table, the picks per memory size and function, the rules, and the
    stages of config/stages.yml against them."""
    rows, method = measure(texts, memories=QUICK_MEMORIES if quick else MEMORIES, reps=5 if quick else 10, dist=dist)
    picks = {fn: pick_threads(rows, sizes=sizes) for fn, sizes in FUNCTION_SIZES.items()}
    if not rows:
        return {"cpu_limit": method, "table": [], "picks": [], "rules": {}, "stages": []}
    return {"cpu_limit": method, "table": rows,
            "picks": [{"function": fn, **p} for fn, fn_picks in picks.items() for p in fn_picks],
            "rules": {**{fn: rule_text(picks[fn], sizes=FUNCTION_SIZES[fn]) for fn in picks},
                      "cost model": cost_rule_text(picks)},
            "stages": stage_rows(picks)}


def wide_rows(rows: Sequence[dict]) -> list[dict]:
    """The table for reading: one row per (model, texts, threads), one column per memory size
    with "p50 ms / texts per s"."""
    memories = sorted({r["memory_mb"] for r in rows})
    out: dict[tuple, dict] = {}
    for r in sorted(rows, key=lambda r: (r["model"], r["texts"], r["threads"])):
        row = out.setdefault((r["model"], r["texts"], r["threads"]),
                             {"model": r["model"], "texts": r["texts"], "threads": r["threads"],
                              **{f"{m} MB": "" for m in memories}})
        row[f"{r['memory_mb']} MB"] = f"{r['p50_ms']:g} ms / {r['texts_per_s']:g}"
    return list(out.values())


def report_parts(result: dict) -> list[tuple[str, list[dict] | str]]:
    """(title, rows or a paragraph) for bench/report.py."""
    if not result["table"]:
        return [("Threads x texts per request x Lambda memory", f"_not measured: {result['cpu_limit']}_")]
    return [("Threads x texts per request x Lambda memory (int8, p50 ms / texts per s; CPU share "
             f"memory/1,769 vCPU by {result['cpu_limit']})", wide_rows(result["table"])),
            ("Thread defaults from that table: 2-over-1-thread speedup per memory size and function",
             result["picks"]),
            ("Thread rules", "\n".join(f"- {fn}: {text}" for fn, text in result["rules"].items())),
            ("config/stages.yml threads against the measured defaults", result["stages"])]


def _child(spec_path: str, out_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    cells = run_cells(spec["artifacts"], spec["texts"], spec["reps"])
    Path(out_path).write_text(json.dumps(cells))
    return 0


__all__ = ["measure", "run_cells", "pick_threads", "threads_for", "rule_text", "stage_rows", "cost_rule_text", "section",
           "wide_rows", "report_parts",
           "MEMORIES", "QUICK_MEMORIES", "MARGIN", "FUNCTION_SIZES"]


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1], sys.argv[2]))
