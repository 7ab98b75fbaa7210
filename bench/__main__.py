"""`make bench`: python -m bench [--quick] — writes bench/results/<date>.{md,json} and PNG plots.

Every number in one report comes from the same run on the same machine; medians over repeats.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from bench import batch_bench, ceiling, goals, long_inputs, overhead, report, sections, threads
from bench.corpus import load_texts
from bench.machine import cpu_info, package_versions
from bench.raw import DIST
from bench.stack import quiet_env
from functions.store.layout import local_aliases

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller batch files")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per latency cell")
    parser.add_argument("--batch-lines", type=int, default=None, help="lines of the batch-vs-raw file (20000)")
    parser.add_argument("--fanout-lines", type=int, default=None, help="lines of the fan-out file (200000)")
    parser.add_argument("--scale-lines", default=None,
                        help="comma list of file sizes for the scale rows (20000,200000; --quick: 2000,20000)")
    parser.add_argument("--skip", default="", help="comma list of sections to skip: "
                        "latency,bucketing,coldstart,batch,fanout,chunking,embedding_types,overhead,lean_overhead,memory,threads,ceiling")
    args = parser.parse_args(argv)
    if local_aliases(DIST, "sentiment") is None:
        print("error: the default models are not built: run `make models` first", file=sys.stderr)
        return 2
    quiet_env()
    repeats = args.repeats or (15 if args.quick else 60)
    batch_lines = args.batch_lines or (4000 if args.quick else 20000)
    fanout_lines = args.fanout_lines or (20000 if args.quick else 200000)
    skip = set(filter(None, args.skip.split(",")))
    texts = load_texts(2000)
    results: dict = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     "machine": cpu_info(), "packages": package_versions(),
                     "settings": {"repeats": repeats, "batch_lines": batch_lines, "fanout_lines": fanout_lines}}
    started = time.perf_counter()

    def step(name: str, fn):
        if name in skip:
            return
        t = time.perf_counter()
        print(f"[bench] {name} …", flush=True)
        results[name] = fn()
        print(f"[bench] {name} done in {time.perf_counter() - t:.0f} s", flush=True)

    step("sizes", sections.sizes)
    step("latency", lambda: sections.latency(texts, repeats))
    if "latency" in results:
        results["handler_overhead"] = sections.handler_overhead(results["latency"])
    step("goal_speed", lambda: goals.speed_rows(texts))
    results["goals_int8_pruning"] = goals.rows(results)
    step("bucketing", lambda: sections.bucketing(texts, max(10, repeats // 2)))
    step("overhead", lambda: overhead.rows(texts, 50 if args.quick else 200))
    step("lean_overhead", lambda: overhead.lean_rows(texts, 100 if args.quick else 400))
    step("coldstart", lambda: sections.cold_start(3 if args.quick else 5))
    step("memory", lambda: sections.memory(texts, 1 if args.quick else 3, 100 if args.quick else 200))
    step("chunking", lambda: long_inputs.chunking_rows(texts, max(5, repeats // 4)))
    step("embedding_types", lambda: long_inputs.embedding_type_rows(texts))
    step("threads", lambda: threads.section(texts, quick=args.quick))
    step("ceiling", lambda: ceiling.section(texts, repeats))
    step("batch", lambda: _batch(batch_lines))
    step("fanout", lambda: _fanout(fanout_lines))
    scale_lines = tuple(int(n) for n in (args.scale_lines or ("2000,20000" if args.quick else "20000,200000")).split(","))
    step("scale", lambda: batch_bench.scale_rows(scale_lines, threads=1))
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / dt.date.today().isoformat()
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    md = report.write(results, stem)
    print(md)
    print(f"[bench] wrote {stem}.md, {stem}.json and plots in {RESULTS}/")
    return 0


def _batch(lines: int) -> list[dict]:
    texts = load_texts(lines, seed=1)
    raw = batch_bench.raw_bulk(texts[: min(lines, 4000)], threads=2)
    job = batch_bench.run_job(texts, workers=1, chunk_bytes=64 * 2**20, threads=2, job="bench-batch")
    job["raw_texts_per_s"] = round(raw, 1)
    job["batch_vs_raw"] = round(job["texts_per_s"] / raw, 3)
    return [job]


def _fanout(lines: int) -> list[dict]:
    texts = load_texts(lines, seed=2)
    size = sum(len(t) + 24 for t in texts)
    chunk = max(256 * 1024, size // 8)  # 8 chunks: enough for 4 workers
    return [batch_bench.run_job(texts, workers=w, chunk_bytes=chunk, threads=1, job=f"bench-fanout-{w}")
            for w in (1, 2, 4)]


if __name__ == "__main__":
    raise SystemExit(main())
