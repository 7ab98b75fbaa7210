"""python -m infra.cost {report,estimate,recommend,sweep}: the cost model's command line."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from . import stamp
from .errors import CostError, NoMeasurementsError
from .levers import deployment
from .measurements import Measurements
from .model import APIS, ARCHES, Workload, estimate
from .pricing import load_prices
from .recommend import ALIASES, BALANCED_WEIGHT, STRATEGIES, function_memory, recommend
from .stage_config import drift, read_stage, served_variant, write_memory
from .traffic import TrafficShape


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", default="prod", help="stage in config/stages.yml to read (default prod)")
    p.add_argument("--region", help="pricing region (default: the config's region)")
    p.add_argument("--measurements", type=Path, help="measurement file (default: the latest saved)")
    p.add_argument("--requests-per-month", type=float, default=1e7, help="the reference traffic (default 10M)")
    p.add_argument("--texts-per-request", type=float, default=1)
    p.add_argument("--cold-start-share", type=float, default=None,
                   help="fix the share of cold starts (default: derived from the traffic shape below)")
    shape = TrafficShape()
    p.add_argument("--peak-to-mean", type=float, default=shape.peak_to_mean, help="burstiness: peak rate / mean rate")
    p.add_argument("--bursts-per-day", type=float, default=shape.bursts_per_day)
    p.add_argument("--idle-gaps-per-day", type=float, default=shape.idle_gaps_per_day,
                   help="pauses longer than the keep-alive (e.g. quiet nights)")
    p.add_argument("--keep-alive-s", type=float, default=shape.keep_alive_s, help="assumed idle environment lifetime")
    p.add_argument("--env-lifetime-s", type=float, default=shape.env_lifetime_s, help="assumed busy environment lifetime")
    p.add_argument("--active-tokens", type=int, default=1, help="callers at once (usage is buffered per token)")
    p.add_argument("--token-cache-hit-rate", type=float, default=0.95)
    p.add_argument("--versions-kept", type=int, default=3)
    p.add_argument("--balanced-weight", type=float, default=BALANCED_WEIGHT,
                   help="Power Tuning's balancedWeight: 1 = cost only, 0 = speed only")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m infra.cost", description="Cost and tradeoff model")
    sub = top.add_subparsers(dest="cmd", required=True)
    rep = sub.add_parser("report", help="markdown report + PNG plots in infra/cost/results/")
    _common(rep)
    rep.add_argument("--out", type=Path, help="output folder")
    rep.add_argument("--write-config", action="store_true", help="write the recommended api memory to the stage")
    rep.add_argument("--dry-run", action="store_true", help="with --write-config: print the diff, write nothing")
    rep.add_argument("--strict", action="store_true",
                     help="refuse measurements of another build (model versions, settings) than the stage deploys")
    est = sub.add_parser("estimate", help="print a cost table for a given traffic")
    _common(est)
    est.add_argument("--model")
    est.add_argument("--variant")
    est.add_argument("--memory", type=int, help="MB (default: the stage's, else the balanced recommendation)")
    est.add_argument("--arch", choices=ARCHES)
    est.add_argument("--api", choices=APIS)
    rec = sub.add_parser("recommend", help="memory per model by strategy; --write-config applies it")
    _common(rec)
    rec.add_argument("--strategy", choices=STRATEGIES + tuple(ALIASES), default="balanced")
    rec.add_argument("--write-config", action="store_true")
    rec.add_argument("--dry-run", action="store_true", help="with --write-config: print the diff, write nothing")
    rec.add_argument("--json", action="store_true", help="print Power Tuning's output shape per variant")
    dr = sub.add_parser("drift", help="exit 1 when the stage's memory/threads drifted from the recommendation")
    _common(dr)
    sw = sub.add_parser("sweep", help="(re)measure durations: takes several minutes")
    sw.add_argument("--models", nargs="+")
    sw.add_argument("--variants", nargs="+")
    sw.add_argument("--memory", type=int, nargs="+", help="memory sizes in MB (default 512..4096)")
    sw.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32])
    sw.add_argument("--reps", type=int, default=15, help="warm requests per size (after one warm-up)")
    sw.add_argument("--cold-starts", type=int, default=5, help="fresh processes per size (>= 5 for a median)")
    sw.add_argument("--cfs-period-ms", type=float, default=20.0, help="CFS period of the CPU quota (Lambda: 20 ms)")
    sw.add_argument("--allow-busy", action="store_true", help="measure even on a busy host (the file says so)")
    sw.add_argument("--plan", action="store_true", help="print what would run and how long it takes; measure nothing")
    sw.add_argument("--no-pytorch", action="store_true")
    sw.add_argument("--cpu-limit", choices=("auto", "cgroup", "signal"), default="auto")
    sw.add_argument("--stage", default="prod")
    sw.add_argument("--out", type=Path)
    sw.add_argument("--dist", type=Path, help="build tree to measure (default model_artifacts/dist)")
    return top


def _context(args):
    shape = TrafficShape(args.peak_to_mean, args.bursts_per_day, args.idle_gaps_per_day, args.keep_alive_s,
                         args.env_lifetime_s)
    workload = Workload(args.requests_per_month, args.texts_per_request, args.cold_start_share,
                        args.token_cache_hit_rate, args.versions_kept, traffic=shape,
                        active_tokens=args.active_tokens)  # bad traffic fails first
    stage = read_stage(args.stage)
    workload = replace(workload, usage_flush_requests=stage.usage_flush_requests)  # usage metered as the stage does
    prices = load_prices(args.region or stage.region)
    meas = Measurements.load(args.measurements) if args.measurements else Measurements.latest()
    return stage, prices, meas, workload


def _aliases() -> dict[str, dict[str, str]]:
    from .sweep import DIST

    return stamp.model_versions(DIST)


def cmd_report(args) -> int:
    from .report import RESULTS_DIR, write_catalog_costs, write_report

    stage, prices, meas, workload = _context(args)
    stale = stamp.differences(meas.doc.get("build"), stamp.current(stage.stage))
    if stale:
        print(f"warning: {meas.path} measured another build than stage {stage.stage} deploys:\n  - "
              + "\n  - ".join(stale), file=sys.stderr)
        if args.strict:
            raise NoMeasurementsError("refusing to report on another build (--strict); re-measure with "
                                      "`make cost SWEEP=1`")
    path = write_report(meas, prices, stage, workload, args.out or RESULTS_DIR, _aliases(), stale,
                        args.balanced_weight)
    print(f"wrote {path}")
    if args.out is None:  # the default report also feeds the web page's catalog cost column
        print(f"wrote {write_catalog_costs(meas, prices, stage, workload)}")
    if args.write_config:
        args.strategy = "balanced"
        return _write(args, stage, prices, meas, workload)
    return 0


def _maker(stage):
    return lambda model, variant, memory: deployment(stage, model, variant, memory)


def cmd_recommend(args) -> int:
    stage, prices, meas, workload = _context(args)
    recs = [recommend(meas, prices, workload, model, variant, args.strategy, weight=args.balanced_weight,
                      make=_maker(stage))
            for model in meas.models() for variant in meas.variants(model)]
    if args.json:
        print(json.dumps({f"{r.model}/{r.variant}": r.power_tuning() for r in recs}, indent=1))
    else:
        print(f"{'model':13s} {'variant':13s} {'needs':>6s} {'MB':>6s} {'warm ms':>8s} {'Lambda $/1M':>11s} "
              f"{'fees $/1M':>11s}  ({args.strategy}, {stage.architecture}, {stage.api_type})")
        for r in recs:
            print(f"{r.model:13s} {r.variant:13s} {r.required_memory_mb:6d} {r.memory_mb:6d} "
                  f"{r.chosen.duration_ms:8.1f} {r.chosen.lambda_usd * 1e6:11.3f} {r.chosen.cost.per_million_requests:11.3f}")
    return _write(args, stage, prices, meas, workload) if args.write_config else 0


def _served_recs(args, stage, prices, meas, workload, strategy):
    aliases = _aliases()
    out = []
    for ref in stage.preload_models or ("sentiment", "minilm-embed"):
        name, variant = served_variant(ref, aliases.get(ref.split(":")[0].split("@")[0]))
        out.append(recommend(meas, prices, workload, name, variant, strategy, weight=args.balanced_weight,
                             make=_maker(stage)))
    return out


def cmd_drift(args) -> int:
    stage, prices, meas, workload = _context(args)
    memory = function_memory(_served_recs(args, stage, prices, meas, workload, "balanced"))
    run = next((r for r in meas.runs if r["memory_mb"] == stage.api_memory_mb and r["runner"] == "handler"), None)
    found = drift(stage, memory, run.get("threads") if run else None)
    for line in found:
        print(f"drift: {line}")
    if not found:
        print(f"stage {stage.stage}: in line with the balanced recommendation ({memory} MB)")
    return 1 if found else 0


def _write(args, stage, prices, meas, workload) -> int:
    recs = _served_recs(args, stage, prices, meas, workload, args.strategy)
    memory = function_memory(recs)
    diff = write_memory(stage.stage, memory, dry_run=args.dry_run)
    per_model = ", ".join(f"{r.model}/{r.variant} {r.memory_mb} MB" for r in recs)
    print(f"stage {stage.stage}: {args.strategy} memory per model: {per_model}; api function -> {memory} MB"
          + (" (dry run: nothing written)" if args.dry_run else ""))
    print(diff or f"config/stages.yml already has api_memory_mb: {memory} for stage {stage.stage}: unchanged")
    return 0


def cmd_estimate(args) -> int:
    stage, prices, meas, workload = _context(args)
    arch, api = args.arch or stage.architecture, args.api or stage.api_type
    models = [args.model] if args.model else meas.models()
    rows = []
    for model in models:
        for variant in [args.variant] if args.variant else meas.variants(model):
            memory = args.memory or _default_memory(meas, prices, workload, stage, model, variant, arch, api)
            profile = meas.profile(model, variant, memory, workload.texts_per_request, stage=stage.stage)
            rows.append(estimate(profile, deployment(stage, model, variant, memory, api=api, arch=arch),
                                 workload, prices))
    print(f"{workload.requests_per_month:,.0f} requests/month x {workload.texts_per_request:g} texts, {arch}, "
          f"{'function URL' if api == 'url' else api.upper() + ' API'}, region {prices.region}, cold starts "
          + (f"{workload.cold_start_share:.2%} (fixed)" if workload.cold_start_share is not None
             else "from the traffic shape")
          + " (free tiers excluded; prices as recalled 2026-11, verify)")
    print(f"{'model':13s} {'variant':13s} {'MB':>5s} {'billed ms':>9s} {'$/1M req':>9s} {'$/1M texts':>10s} {'$/month':>10s}")
    for c in rows:
        d = c.deployment
        print(f"{d.model:13s} {d.variant:13s} {d.memory_mb:5d} {c.warm_billed_ms:9.1f} {c.per_million_requests:9.3f} "
              f"{c.per_million_texts:10.3f} {c.monthly():10.2f}")
    if len(rows) == 1:
        c = rows[0]
        print("per 1M requests: " + ", ".join(f"{k} ${v * 1e6:.4f}" for k, v in c.per_request.items()))
        print("fixed per month: " + ", ".join(f"{k} ${v:.4f}" for k, v in c.per_month_fixed.items()))
        print(f"cold-start share {c.cold_start_share:.4%}; all-in with fixed fees spread: "
              f"${c.all_in_per_million:.3f} per 1M requests")
    return 0


def _default_memory(meas, prices, workload, stage, model, variant, arch, api) -> int:
    """The stage's memory where it was measured and suffices, else the balanced recommendation."""
    if stage.api_memory_mb in meas.memories(model, variant) and \
            stage.api_memory_mb >= meas.required_memory(model, variant):
        return stage.api_memory_mb
    return recommend(meas, prices, workload, model, variant, "balanced", arch=arch, api=api,
                     make=lambda m, v, mem: deployment(stage, m, v, mem, api=api, arch=arch)).memory_mb


def cmd_sweep(args) -> int:
    from .lambda_cpu import MEMORY_GRID
    from .sweep import DEFAULT_MODELS, VARIANTS, run_sweep

    path = run_sweep(models=tuple(args.models or DEFAULT_MODELS), variants=tuple(args.variants or VARIANTS),
                     memories=tuple(args.memory or MEMORY_GRID), sizes=tuple(args.sizes), reps=args.reps,
                     pytorch=not args.no_pytorch, cpu_limit=args.cpu_limit, stage=args.stage, out=args.out,
                     cold_starts=args.cold_starts, period_us=int(args.cfs_period_ms * 1000),
                     allow_busy=args.allow_busy, plan_only=args.plan, **({"dist": args.dist} if args.dist else {}))
    if path is not None:
        print(f"wrote {path}; now run `python -m infra.cost report`")
    return 0


def _negative_numbers(argv: list[str]) -> list[str]:
    """'--requests-per-month -5e6' -> '--requests-per-month=-5e6', so argparse reports the value
    (and the model rejects it clearly) instead of mistaking '-5e6' for an option."""
    out: list[str] = []
    for token in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and token.startswith("-"):
            try:
                float(token)
            except ValueError:
                pass
            else:
                out[-1] = f"{out[-1]}={token}"
                continue
        out.append(token)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(_negative_numbers(list(sys.argv[1:] if argv is None else argv)))
    try:
        return {"report": cmd_report, "estimate": cmd_estimate, "recommend": cmd_recommend,
                "sweep": cmd_sweep, "drift": cmd_drift}[args.cmd](args)
    except CostError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


__all__ = ["main", "parser"]
