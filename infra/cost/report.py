"""The cost report: markdown + PNG plots + a CSV of the whole grid, from saved measurements."""
from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

from . import breakeven, edge, report_goals, stamp
from .lambda_cpu import vcpu_share
from .measurements import PYTORCH_VARIANT, Measurements
from .model import APIS, Deployment, Workload, estimate
from .pricing import PriceBook
from .recommend import BALANCED_WEIGHT, STRATEGIES, function_memory, grid, recommend
from .stage_config import StageParams, drift, served_variant
from functions.settings import Settings

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TRAFFIC_MARKS = (1e5, 1e6, 1e7, 1e8)


@dataclass(frozen=True)
class Goal:
    int8_memory: int
    torch_memory: int
    int8_per_m: float
    torch_per_m: float
    int8_compute_per_m: float
    torch_compute_per_m: float
    int8_parts: dict
    torch_parts: dict

    @property
    def ratio(self) -> float:
        return self.int8_per_m / self.torch_per_m

    @property
    def compute_ratio(self) -> float:
        return self.int8_compute_per_m / self.torch_compute_per_m


def goal(meas: Measurements, prices: PriceBook, workload: Workload, arch: str = "x86_64") -> Goal | None:
    """int8 vs PyTorch fp32 for single-text sentiment on an HTTP API, each at the memory it needs."""
    if PYTORCH_VARIANT not in meas.variants("sentiment") or "int8" not in meas.variants("sentiment"):
        return None
    w = replace(workload, texts_per_request=1)
    out = []
    for variant in ("int8", PYTORCH_VARIANT):
        memory = meas.required_memory("sentiment", variant)
        cost = estimate(meas.profile("sentiment", variant, memory, 1),
                        Deployment("sentiment", variant, memory, arch, "http"), w, prices)
        out.append((memory, cost.per_million_requests, cost.per_request["lambda_compute"] * 1e6,
                    {k: v * 1e6 for k, v in cost.per_request.items()}))
    (m1, c1, k1, p1), (m2, c2, k2, p2) = out
    return Goal(m1, m2, c1, c2, k1, k2, p1, p2)


def write_report(meas: Measurements, prices: PriceBook, stage: StageParams, workload: Workload,
                 out_dir: Path = RESULTS_DIR, aliases: dict[str, dict[str, str]] | None = None,
                 stale: list[str] | None = None, weight: float = BALANCED_WEIGHT) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    out_dir.mkdir(parents=True, exist_ok=True)
    arch, aliases = stage.architecture, aliases or {}
    lines = [f"# Cost report: {', '.join(meas.models())}", ""]
    lines += _header(meas, prices, workload, stale or [])
    lines += report_goals.goal_section(meas, prices, stage, aliases, report_goals.lean_stage())
    lines += report_goals.line_items_section(meas, prices, stage, aliases)
    lines += report_goals.traffic_section(meas, prices, stage, aliases)
    lines += report_goals.startup_section(meas, prices, stage, aliases)
    lines += report_goals.batch_section(meas, prices, stage, aliases)
    lines += _recommend_section(meas, prices, workload, stage, aliases, weight)
    lines += _goal_section(meas, prices, workload)
    for model in meas.models():
        lines += _grid_section(meas, prices, workload, model, arch, out_dir)
    lines += report_goals.storage_section(meas, prices, stage, workload)
    lines += _breakeven_section(meas, prices, workload, stage, aliases, out_dir)
    lines += _edge_section(meas, prices, workload, stage, aliases or {})
    lines += _method_section(meas, stage)
    _write_csv(meas, prices, workload, out_dir / "grid.csv")
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


CATALOG_COSTS = Path(__file__).resolve().parents[2] / "functions" / "web" / "static" / "cost.json"


def write_catalog_costs(meas: Measurements, prices: PriceBook, stage: StageParams, w: Workload,
                        path: Path = CATALOG_COSTS) -> Path:
    """The web page's catalog column: $/1M requests per model variant at its balanced memory."""
    import datetime as _dt
    import json as _json

    rows = []
    for model in meas.models():
        for variant in meas.variants(model):
            if variant.startswith("pytorch"):
                continue
            rec = recommend(meas, prices, w, model, variant, "balanced", make=_maker(stage))
            # the measured version: the page matches on it first (`sentiment:pruned` is an int8 file
            # too, so a quantization match alone would give it the unpruned int8's price)
            version = ((meas.doc.get("build") or {}).get("models") or {}).get(model, {}).get(variant)
            rows.append({"model": model, "quantization": variant, "memory_mb": rec.memory_mb,
                         **({"version": version} if version else {}),
                         "usd_per_1m_requests": round(rec.chosen.cost.all_in_per_million, 3)})
    doc = {"generated_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "assumptions": (f"{stage.api_type.upper()} API, {stage.architecture}, {w.texts_per_request:g} text(s)/request, "
                           f"{w.requests_per_month:,.0f} requests/month all-in (fixed fees spread), balanced memory, "
                           f"{prices.region} list prices; see infra/cost/results/report.md"),
           "build": meas.doc.get("build"),
           "models": rows}
    path.write_text(_json.dumps(doc, indent=2) + "\n")
    return path


def _header(meas: Measurements, prices: PriceBook, w: Workload, stale: list[str]) -> list[str]:
    d = meas.doc
    check = d.get("host_check") or {}
    busy = [f"{r['model']}/{r['variant']}@{r['memory_mb']}" for r in meas.runs if r.get("host_busy_cores", 0) > 0.25]
    return [
        *([f"**Note:** {d['note']}", ""] if d.get("note") else []),
        *(["**STALE: these measurements are not of the build the stage deploys.** "
           "Re-measure with `make cost SWEEP=1`. Differences:", "", *[f"- {s}" for s in stale], ""] if stale else []),
        f"Build measured: {stamp.describe(d.get('build'))}.",
        *([f"**Host check:** {'quiet' if check.get('quiet') else 'BUSY: the sweep ran on a loaded host'} "
           f"(other work {check.get('busy_cores', 0):.2f} of {check.get('cpus', '?')} cores before it started)"
           + (f"; runs with other work above 0.25 cores: {', '.join(busy)}" if busy else "") + "."] if check else
          ["Host check: not recorded (a sweep made before the check existed)."]),
        f"Cold starts per size: {d.get('cold_starts', 1)}; CFS period: {d.get('cfs_period_ms', 10)} ms; function code "
        f"{d.get('function_code', 'compiled from source at each cold start (a sweep made before the pycs shipped)')}.",
        f"Measurements: `{Path(meas.path).name}` ({d.get('created', '?')}), host {d.get('host', {}).get('cpus', '?')} "
        f"cores ({d.get('host', {}).get('cpu', '?')}), load average {d.get('load_avg_start', '?')} at the start.",
        f"CPU emulation: **{d.get('cpu_limit_method', '?')}**; {d.get('lambda_cpu_rule', '')}. "
        f"Warm durations are medians of {d.get('reps', '?')} runs of the real handler per size.",
        f"Prices: `{Path(prices.path).name}`, checked {prices.checked}: list prices **as recalled without network "
        "access; verify before relying**. Each price's source is in the pricing file.",
        "**Free tiers are excluded** (not subtracted anywhere): " + "; ".join(prices.free_tiers) + ".",
        "Billed duration = measured duration rounded up to 1 ms; cold starts bill INIT + first request. "
        "Volume tiers are applied to each line item's monthly quantity. Cold starts: "
        + (f"fixed at {w.cold_start_share:.2%}" if w.cold_start_share is not None
           else f"derived from the traffic shape ({w.traffic.describe()}; infra/cost/traffic.py states the model)")
        + f"; token cache hit rate {w.token_cache_hit_rate:.0%}, {w.versions_kept} versions kept per variant. "
        "Durations were measured on x86_64: **arm64 is not measured** anywhere; arm64 rows assume the x86_64 "
        "duration at the arm64 price.", ""]


def _goal_section(meas: Measurements, prices: PriceBook, w: Workload) -> list[str]:
    lines = ["## int8 versus PyTorch fp32, 1M single-text sentiment classifications, HTTP API", ""]
    g = goal(meas, prices, w)
    if g is None:
        return lines + ["Not measured: run `python -m infra.cost sweep` (it includes the PyTorch baseline).", ""]
    verdict = "met" if g.ratio <= 0.25 else "NOT met"
    verdict_compute = "met" if g.compute_ratio <= 0.25 else "NOT met"
    lines += ["| deployment | memory it needs | all-in $/1M | Lambda compute $/1M |", "|---|---|---|---|",
              f"| sentiment int8 (ONNX, real handler) | {g.int8_memory} MB | ${g.int8_per_m:.3f} | ${g.int8_compute_per_m:.3f} |",
              f"| sentiment PyTorch fp32 (eager, model only) | {g.torch_memory} MB | ${g.torch_per_m:.3f} | ${g.torch_compute_per_m:.3f} |",
              "", f"All-in ratio int8/PyTorch = **{g.ratio:.2f}** (<= 0.25: {verdict}); Lambda compute at the "
              f"memory each needs, cold starts included: **{g.compute_ratio:.2f}** (<= 0.25: {verdict_compute}). "
              "Memory each needs = peak RSS + 10 %, rounded up to a measured size "
              f"(int8 {meas.peak_rss_mb('sentiment', 'int8'):.0f} MB, PyTorch "
              f"{meas.peak_rss_mb('sentiment', PYTORCH_VARIANT):.0f} MB peak RSS). Fees that do not depend on the "
              "model (API Gateway, Lambda requests, DynamoDB usage write, logs) are the same for both and set a "
              "floor under the all-in cost.", "",
              "| $ per 1M requests | int8 | PyTorch fp32 |", "|---|---|---|"]
    lines += [f"| {k} | ${g.int8_parts[k]:.4f} | ${g.torch_parts[k]:.4f} |" for k in g.int8_parts]
    return lines + [""]


def _recommend_section(meas, prices, w, stage, aliases, weight=BALANCED_WEIGHT) -> list[str]:
    make = _maker(stage)
    lines = [f"## Recommended memory, as AWS Lambda Power Tuning picks it ({stage.architecture}, "
             f"{w.texts_per_request:g} text(s)/request, balancedWeight {weight:g})", "",
             "Cost here is Lambda compute per invocation only (Power Tuning's averagePrice; cold starts mixed in at "
             "the traffic model's share): memory-independent fees would flatten it and tilt `balanced` towards speed.",
             "", "| model | variant | needs | cost | speed | balanced |", "|---|---|---|---|---|---|"]
    chosen, tables = [], []
    for model in meas.models():
        for variant in meas.variants(model):
            recs = {s: recommend(meas, prices, w, model, variant, s, weight=weight, make=make) for s in STRATEGIES}
            cells = [f"{r.memory_mb} MB (${r.chosen.lambda_usd * 1e6:.3f}/1M, {r.chosen.duration_ms:.1f} ms)"
                     for r in recs.values()]
            lines.append(f"| {model} | {variant} | {recs['cost'].required_memory_mb} MB | " + " | ".join(cells) + " |")
            tables.append((model, variant, recs["balanced"]))
    lines += ["", "Per memory (Power Tuning's stats: average cost and duration), with the spread of the warm runs "
              "and of the cold starts:", "",
              "| model | variant | MB | warm median ms (p25-p75) | cold ms median (min-max, n) | Lambda $/1M | all-in $/1M |",
              "|---|---|---|---|---|---|---|"]
    for model, variant, rec in tables:
        for c in rec.candidates:
            lines.append(f"| {model} | {variant} | {c.memory_mb} | {_warm_spread(meas, model, variant, c.memory_mb, w)} | "
                         f"{_cold_spread(meas, model, variant, c.memory_mb)} | ${c.lambda_usd * 1e6:.3f} | "
                         f"${c.cost.per_million_requests:.3f} |")
    for ref in stage.preload_models:
        name, variant = served_variant(ref, aliases.get(ref.split(":")[0].split("@")[0]))
        if name in meas.models() and variant in meas.variants(name):
            chosen.append(recommend(meas, prices, w, name, variant, "balanced", weight=weight, make=make))
    if chosen:
        memory = function_memory(chosen)
        run = next((r for r in meas.runs if r["memory_mb"] == stage.api_memory_mb and r["runner"] == "handler"), None)
        drifts = drift(stage, memory, run.get("threads") if run else None)
        lines += ["", f"Stage `{stage.stage}` serves {', '.join(f'{r.model} ({r.variant})' for r in chosen)}: "
                  f"balanced memory per model {', '.join(f'{r.model} {r.memory_mb} MB' for r in chosen)}; "
                  f"the api function gets **{memory} MB** (now {stage.api_memory_mb} MB, {stage.api_threads} thread(s)). "
                  f"Apply with `python -m infra.cost recommend --stage {stage.stage} --write-config`; "
                  f"`python -m infra.cost drift --stage {stage.stage}` checks it.", "",
                  "**Drift:** " + ("; ".join(drifts) if drifts else "none: the stage is set to the recommendation.")]
    return lines + [""]


def _maker(stage: StageParams):
    from .levers import deployment

    return lambda model, variant, memory: deployment(stage, model, variant, memory)


def _warm_spread(meas, model, variant, memory, w) -> str:
    import statistics

    run = meas.run(model, variant, memory)
    size = str(min((int(k) for k in run["warm"]), key=lambda n: abs(n - w.texts_per_request)))
    samples = run["warm"][size].get("samples_ms") or [run["warm"][size]["median_ms"]]
    q = statistics.quantiles(samples, n=4) if len(samples) > 1 else [samples[0]] * 3
    return f"{run['warm'][size]['median_ms']:.1f} ({q[0]:.1f}-{q[2]:.1f})"


def _cold_spread(meas, model, variant, memory) -> str:
    run = meas.run(model, variant, memory)
    totals = [c["init_ms"] + c["first_request_ms"] for c in run.get("cold_runs") or [run["cold"]]]
    median = run["cold"]["init_ms"] + run["cold"]["first_request_ms"]
    return f"{median:.0f} ({min(totals):.0f}-{max(totals):.0f}, n={len(totals)})"


def _grid_section(meas, prices, w, model, arch, out_dir) -> list[str]:
    import matplotlib.pyplot as plt

    w1 = replace(w, texts_per_request=1)
    lines = [f"## {model}: duration and cost against memory", "",
             "| variant | MB | vCPU | warm ms @1/8/32 | cold ms (n) | $/1M req HTTP x86 | arm (not measured) | "
             "REST x86 | URL x86 | $/1M texts @32 HTTP arm (not measured) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    fig, (ax, ax_ms) = plt.subplots(1, 2, figsize=(11, 4))
    for variant in meas.variants(model):
        xs, ys, ms = [], [], []
        for memory in meas.memories(model, variant):
            run = meas.run(model, variant, memory)
            p1 = meas.profile(model, variant, memory, 1)
            c = {(a, i): estimate(p1, Deployment(model, variant, memory, a, i), w1, prices).per_million_requests
                 for a in ("x86_64", "arm64") for i in APIS}
            c32 = estimate(meas.profile(model, variant, memory, 32), Deployment(model, variant, memory, "arm64", "http"),
                           replace(w, texts_per_request=32), prices).per_million_texts
            warm = "/".join(f"{run['warm'][k]['median_ms']:.1f}" for k in sorted(run["warm"], key=int))
            n_cold = len(run.get("cold_runs") or [1])
            lines.append(f"| {variant} | {memory} | {vcpu_share(memory):.2f} | {warm} | {p1.init_ms + p1.first_ms:.0f} "
                         f"({n_cold}) | ${c['x86_64', 'http']:.3f} | ${c['arm64', 'http']:.3f} | "
                         f"${c['x86_64', 'rest']:.3f} | ${c['x86_64', 'url']:.3f} | ${c32:.3f} |")
            xs.append(memory)
            ys.append(estimate(p1, Deployment(model, variant, memory, arch, "http"), w1,
                               prices).per_request["lambda_compute"] * 1e6)
            ms.append(p1.warm_ms)
        line, = ax.plot(xs, ys, marker="o", label=variant)
        ax_ms.plot(xs, ms, marker="o", color=line.get_color(), label=variant)
        needed = meas.required_memory(model, variant)
        ax.axvline(needed, color=line.get_color(), linestyle=":", linewidth=0.8)
    ax.set(xlabel="Lambda memory (MB)   (dotted: memory the variant needs)",
           ylabel=f"Lambda compute $ per 1M requests ({arch})", yscale="log",
           title=f"{model}: compute cost incl. cold starts, 1 text")
    ax_ms.set(xlabel="Lambda memory (MB)", ylabel="warm duration, ms (median)", yscale="log",
              title=f"{model}: warm duration, 1 text")
    for a in (ax, ax_ms):
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    png = f"cost_vs_memory_{model}.png"
    fig.tight_layout()
    fig.savefig(out_dir / png, dpi=110)
    plt.close(fig)
    fees = estimate(meas.profile(model, variant, memory, 1), Deployment(model, variant, memory, arch, "http"),
                    w1, prices)
    flat = fees.request_usd - fees.per_request["lambda_compute"]
    return lines + ["", f"The plot shows the part that depends on memory (Lambda compute, cold starts included); "
                    f"all-in adds about ${flat * 1e6:.2f} per 1M requests of fees that do not (HTTP API, Lambda "
                    "requests, logs, DynamoDB, transfer).", "", f"![{model} cost against memory]({png})", ""]


def _deployed(meas, prices, w, stage, aliases) -> tuple[str, str, int]:
    """The sentiment variant the stage serves, at its balanced recommended memory."""
    name, variant = served_variant("sentiment", aliases.get("sentiment"))
    if name not in meas.models():
        name = meas.models()[0]
    if variant not in meas.variants(name):
        variant = meas.variants(name)[0]
    rec = recommend(meas, prices, w, name, variant, "balanced", arch=stage.architecture, api=stage.api_type)
    return name, variant, rec.memory_mb


def _breakeven_section(meas, prices, w, stage, aliases, out_dir) -> list[str]:
    import matplotlib.pyplot as plt

    name, variant, memory = _deployed(meas, prices, w, stage, aliases)
    opts, skipped = breakeven.options(meas, prices, w, name, variant, memory, stage.architecture)
    lines = [f"## Break-even: monthly cost against traffic ({name} {variant}, {w.texts_per_request:g} text/request)", "",
             "| option | " + " | ".join(f"{t:,.0f}/month" for t in TRAFFIC_MARKS) + " | note |",
             "|---|" + "---|" * len(TRAFFIC_MARKS) + "---|"]
    for o in opts:
        lines.append(f"| {o.name} | " + " | ".join(f"${o.monthly(t):,.2f}" for t in TRAFFIC_MARKS) + f" | {o.note} |")
    lam = opts[0]
    lines += ["", "Break-even with " + lam.name + ":", ""]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [1e4 * 10 ** (i / 20) for i in range(121)]
    for o, style in zip(opts, ("-", "--", "-", "-", ":")):
        ax.plot(xs, [o.monthly(x) for x in xs], style, label=o.name)
    for o in opts[1:]:
        be = breakeven.break_even(lam.monthly, o.monthly)
        lines.append(f"- {o.name}: " + (f"**{be:,.0f} requests/month** (~{be / 2.628e6:.1f} req/s average)"
                                         if be else "Lambda stays cheaper over 1k-10G requests/month"))
        if be:
            ax.axvline(be, color="grey", linestyle=":", linewidth=0.8)
            ax.annotate(f"{be:.2g}", (be, lam.monthly(be)), fontsize=7)
    lines += [f"- {s}" for s in skipped]
    ax.set(xscale="log", yscale="log", xlabel="requests per month", ylabel="USD per month",
           title="Monthly cost against traffic (dotted: break-even with Lambda HTTP)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "monthly_vs_traffic.png", dpi=110)
    plt.close(fig)
    return lines + ["", "![monthly cost against traffic](monthly_vs_traffic.png)", ""]


def _edge_section(meas, prices, w, stage, aliases) -> list[str]:
    name, variant, memory = _deployed(meas, prices, w, stage, aliases)
    cloud = estimate(meas.profile(name, variant, memory, w.texts_per_request),
                     Deployment(name, variant, memory, stage.architecture, "http"), w, prices)
    rows = edge.edge_table(meas, prices, cloud, browser=edge.browser_measurement(name))
    lines = [f"## Edge versus cloud: the same {name} {variant} artifact", "",
             "| criterion | edge (local device) | cloud (Lambda + HTTP API) |", "|---|---|---|"]
    return lines + [f"| {a} | {b} | {c} |" for a, b, c in rows] + [""]


def _method_section(meas: Measurements, stage: StageParams) -> list[str]:
    d = meas.doc
    torch_note = next((r.get("note", "") for r in meas.runs if r.get("runner") == "pytorch"), "")
    return ["## Method and assumptions", "",
            f"- Each (model, variant, memory) ran in a fresh process (empty model cache, artifact downloaded from a "
            f"local moto S3), limited by {d.get('cpu_limit_method', '?')} to memory/1,769 vCPU with one inference "
            "thread per visible core (1 up to 1,769 MB, then 2). The host has "
            f"{d.get('host', {}).get('cpus', '?')} cores, so 3,008 and 4,096 MB get at most 2 vCPU here "
            "(Lambda gives 4,096 MB 2.3 vCPU): those rows are pessimistic.",
            f"- The measured process ran at nice {d.get('child_nice', 0)} (its cgroup weighted alike) on a host shared "
            f"with other work (load average {d.get('load_avg_start')} -> {d.get('load_avg_end')}); "
            "per-request CPU time is saved beside the wall time so contention can be checked.",
            "- Cold start = process spawn to handler imported (Lambda INIT, billed since Aug 2025) + the first "
            "request (artifact download, sha256 check, session creation, inference). The local S3 is faster "
            "than real S3; S3 to Lambda transfer in one region is free, so only the GETs are priced.",
            "- The PyTorch baseline (sentiment, fp32, eager, `torch.inference_mode`) is timed as model code only "
            "(tokenise, forward, softmax, JSON), without the HTTP layer, auth or metering: that favours it. Its "
            "per-request fees (logs, response size, DynamoDB) are taken from the int8 handler run. Serving it on "
            "Lambda would also need a container image (torch alone exceeds the 250 MB zip limit). "
            + (f"Checkpoint: {torch_note}." if torch_note else ""),
            "- Log bytes: the sweep measures what the handler writes per request at access_log_sample_rate 1 with "
            "full fields (newer files split the access line from the EMF lines; older ones give the access line as "
            "the measured total minus the EMF bytes the current code writes: derived). A stage's sampling is priced "
            "as rate x the line, its lean fields as the line functions/api/telemetry.py builds (derived), per-model "
            "metrics off as minus those EMF copies; plus 300 bytes of Lambda START/END/REPORT lines with "
            "lambda_log_format text. With json_quiet the lines the function writes to stdout (EMF, lean access "
            "lines) are priced at the bytes written: Lambda's docs say a JSON line without level or timestamp is "
            "taken as INFO with a timestamp added, which may add a few bytes on AWS (not measurable here). Usage metering writes to DynamoDB as the meter flushes (every "
            f"{stage.usage_flush_requests} request(s) for this stage, or {Settings.usage_flush_interval_s:g} s per "
            "environment and token, derived from the traffic), never fewer units than the sweep saw per warm request "
            "when the stage flushes as the sweep ran (a different N is priced by the flush rule alone); token lookups "
            "read DynamoDB (strongly consistent, 1 RRU) only on a token cache miss.",
            f"- Cold starts: {d.get('cold_starts', 1)} fresh process(es) per (model, variant, memory); the model prices "
            "the median of each phase. CPU quota refilled every "
            f"{d.get('cfs_period_ms', 10)} ms (the period public measurements of Lambda's throttling show: 20 ms; "
            "older files used 10 ms). A request shorter than the quota is not throttled, on Lambda as here.",
            "- Always-on options are sized from the warm duration at one vCPU, planned at 60 % utilisation. "
            "arm64 and Graviton rows assume x86_64 durations (**not measured**). To measure arm64, SnapStart "
            "restores or a container image on AWS, deploy the stage and run AWS Lambda Power Tuning against the "
            "api function with the same payload (`python -m infra.cost recommend --json` prints the same shape "
            "to compare).", ""]


def _write_csv(meas, prices, w, path: Path) -> None:
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["model", "variant", "memory_mb", "arch", "api", "texts_per_request", "warm_billed_ms",
                      "usd_per_1m_requests", "usd_per_1m_texts", "cold_start_share", "duration"])
        for texts in (1, 8, 32):
            for c in grid(meas, prices, replace(w, texts_per_request=texts)):
                d = c.deployment
                out.writerow([d.model, d.variant, d.memory_mb, d.arch, d.api, texts, c.warm_billed_ms,
                              f"{c.per_million_requests:.4f}", f"{c.per_million_texts:.4f}", f"{c.cold_start_share:.6f}",
                              "measured (x86_64)" if d.arch == "x86_64" else "not measured: x86_64 duration assumed"])


__all__ = ["write_report", "goal", "Goal", "RESULTS_DIR"]
