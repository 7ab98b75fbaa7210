"""Report sections on what the stage deploys: goal rows, every line item with its source, the
three front doors, startup options, the batch path, storage tradeoffs and a traffic curve."""
from __future__ import annotations

from dataclasses import dataclass, replace

from . import breakeven
from .batch import BatchJob, estimate_batch, openai_per_million_texts
from .errors import CostError
from .levers import ERROR_TYPES_SEEN, EVENT_HOURS_SHARE, deployment
from .measurements import Measurements
from .model import SOURCES, Cost, Workload, estimate
from .pricing import PriceBook
from .recommend import recommend
from .stage_config import StageParams, served_variant

GOAL_REQUESTS = 10e6  # per month, the reference traffic
GOAL_TOKENS_PER_TEXT = 20
GOALS = {"url": 0.40, "http": 1.60}  # USD per 1M requests, all-in
BATCH_GOAL = 0.10  # USD per 1M texts
FRONT_DOORS = {
    "url": ("Lambda function URL", "custom domains (only via CloudFront), AWS WAF (only via CloudFront), gateway "
            "throttling and usage plans, gateway access logs; reserved concurrency is the only cap"),
    "http": ("HTTP API", "AWS WAF, API keys and usage plans, caching; has custom domains, stage/route throttling, "
             "access logs"),
    "rest": ("REST API", "nothing of these: custom domains, WAF, API keys + usage plans, throttling, caching "
             "(at 3.5x the HTTP API fee)"),
}
TRAFFIC_LEVELS = (1e4, 1e5, 1e6, 1e7, 1e8, 1e9)
LAMBDA_UNZIPPED_MB = 250  # function + layers
OTHER_LAYERS_MB = 175  # runtime layer (~144 MB x86_64, DESIGN.md) + aws layer + function code, about


@dataclass(frozen=True)
class Served:
    model: str
    variant: str
    memory_mb: int
    how: str  # why this memory


def served(meas: Measurements, prices: PriceBook, w: Workload, stage: StageParams,
           aliases: dict, model: str = "sentiment") -> Served:
    """The variant the stage serves for ``model`` at the stage's memory (if measured), else balanced."""
    name, variant = served_variant(model, aliases.get(model))
    if name not in meas.models():
        name = meas.models()[0]
    if variant not in meas.variants(name):
        variant = meas.variants(name)[0]
    if stage.api_memory_mb in meas.memories(name, variant) and stage.api_memory_mb >= meas.required_memory(name, variant):
        return Served(name, variant, stage.api_memory_mb, f"the stage's api_memory_mb ({stage.api_memory_mb} MB)")
    rec = recommend(meas, prices, w, name, variant, "balanced", arch=stage.architecture, api=stage.api_type)
    return Served(name, variant, rec.memory_mb, f"balanced recommendation (the stage's {stage.api_memory_mb} MB "
                                                "was not measured or is too small)")


def _cost(meas, prices, w, stage, s: Served, **changes) -> Cost:
    profile = meas.profile(s.model, s.variant, s.memory_mb, w.texts_per_request)
    return estimate(profile, deployment(stage, s.model, s.variant, s.memory_mb, **changes), w, prices)


def goal_section(meas: Measurements, prices: PriceBook, stage: StageParams, aliases: dict) -> list[str]:
    w = Workload(GOAL_REQUESTS, 1)
    s = served(meas, prices, w, stage, aliases)
    lines = [f"## Goals: {s.model} {s.variant}, one text per request, {GOAL_REQUESTS:,.0f} requests/month, "
             f"{prices.region}, all-in", "",
             f"Memory: {s.memory_mb} MB ({s.how}); every other lever as stage `{stage.stage}` sets it "
             f"({stage.architecture}, tracing {'on' if stage.tracing else 'off'}, per-model metrics "
             f"{'on' if stage.metrics_per_model else 'off'}, logs kept {stage.log_retention_days} days). All-in = "
             "every per-request line item + the fixed monthly fees spread over the month's requests.", "",
             "| goal | target | ours | verdict |", "|---|---|---|---|"]
    for api, target in GOALS.items():
        c = _cost(meas, prices, w, stage, s, api=api)
        got = c.all_in_per_million
        lines.append(f"| {FRONT_DOORS[api][0]}, $ per 1M requests | <= ${target:.2f} | ${got:.3f} "
                     f"(per request ${c.per_million_requests:.3f} + fixed ${c.fixed_usd_month:.2f}/month) | "
                     f"{'met' if got <= target else '**not met**'} |")
    batch = _batch(meas, prices, stage, aliases)
    if batch is not None:
        got = batch.per_million_texts
        lines.append(f"| batch through S3, $ per 1M texts ({batch.job.memory_mb} MB, the stage's) | <= ${BATCH_GOAL:.2f} | "
                     f"${got:.3f} | {'met' if got <= BATCH_GOAL else '**not met**'} |")
        best = _cheapest_batch(meas, prices, stage, aliases)
        lines.append(f"| batch through S3 at the cheapest measured memory ({best.job.memory_mb} MB) | "
                     f"<= ${BATCH_GOAL:.2f} | ${best.per_million_texts:.3f} | "
                     f"{'met' if best.per_million_texts <= BATCH_GOAL else '**not met**'} |")
    lean = _cost(meas, prices, w, stage, s, api="url", tracing=False, platform_log_lines=False,
                 custom_metrics=deployment(replace(stage, metrics_per_model=False), s.model, s.variant,
                                           s.memory_mb).custom_metrics)
    lean_metrics = deployment(replace(stage, metrics_per_model=False), s.model, s.variant, s.memory_mb).custom_metrics
    cheapest = recommend(meas, prices, w, s.model, s.variant, "cost",
                         make=lambda m, v, mem: deployment(stage, m, v, mem, api="url", tracing=False,
                                                           platform_log_lines=False, custom_metrics=lean_metrics))
    lines += ["", f"With the lean levers (function URL, tracing off, per-model metrics off, lambda_log_format "
              "json_quiet; the access log sampling is not priced here: `make bench` measures its bytes): "
              f"**${lean.all_in_per_million:.3f}** per 1M requests at {s.memory_mb} MB; at the cheapest measured "
              f"memory ({cheapest.memory_mb} MB, Power Tuning's `cost` strategy): "
              f"**${cheapest.chosen.cost.all_in_per_million:.3f}** (x86_64; arm64 would cut Lambda compute by a "
              "fifth at the same duration, not measured).", "",
              "The same work elsewhere (list prices as recalled, verify):", "",
              "| provider | $ per 1M texts | note |", "|---|---|---|",
              f"| OpenAI text-embedding-3-small | ${openai_per_million_texts(prices, GOAL_TOKENS_PER_TEXT):.2f} | "
              f"{GOAL_TOKENS_PER_TEXT} tokens per text; embeddings, not sentiment, but the price to beat |",
              f"| OpenAI Batch API, same model | ${openai_per_million_texts(prices, GOAL_TOKENS_PER_TEXT, True):.2f} | "
              "results within 24 h |"]
    try:
        sm = breakeven.sagemaker_option(meas, prices, w, s.model, s.variant, s.memory_mb,
                                        breakeven.shared_fees(_cost(meas, prices, w, stage, s, api="http")))
        lines.append(f"| SageMaker Serverless + REST API | ${sm.monthly(GOAL_REQUESTS) / GOAL_REQUESTS * 1e6:.2f} | "
                     f"{sm.note} |")
    except CostError as exc:
        lines.append(f"| SageMaker Serverless | - | not priced here: {exc} |")
    return lines + [""]


def _batch(meas, prices, stage, aliases, memory: int | None = None):
    """The batch path at the stage's batch memory (the nearest measured size) or at ``memory``."""
    s = served(meas, prices, Workload(1e6), stage, aliases)
    memories = meas.memories(s.model, s.variant)
    memory = memory or min(memories, key=lambda m: abs(m - stage.batch_memory_mb))
    job = BatchJob(memory_mb=memory, arch=stage.architecture, jobs_per_month=GOAL_REQUESTS / BatchJob.texts_per_job)
    return estimate_batch(meas.profile(s.model, s.variant, memory, 32), job, prices)


def _cheapest_batch(meas, prices, stage, aliases):
    s = served(meas, prices, Workload(1e6), stage, aliases)
    needed = meas.required_memory(s.model, s.variant)
    return min((_batch(meas, prices, stage, aliases, m) for m in meas.memories(s.model, s.variant) if m >= needed),
               key=lambda b: b.per_million_texts)


def line_items_section(meas, prices, stage, aliases) -> list[str]:
    w = Workload(GOAL_REQUESTS, 1)
    s = served(meas, prices, w, stage, aliases)
    costs = {api: _cost(meas, prices, w, stage, s, api=api) for api in FRONT_DOORS}
    c0 = costs["http"]
    lines = [f"## Every line item, with its source ({s.model} {s.variant}, {s.memory_mb} MB, "
             f"{GOAL_REQUESTS:,.0f} requests/month)", "",
             f"Cold-start share from the traffic model: {c0.cold_start_share:.4%}. Custom metrics: "
             f"{c0.deployment.custom_metrics:.1f} metric-months (per-error copies for {ERROR_TYPES_SEEN} error types "
             f"and event-only metrics counted for {EVENT_HOURS_SHARE:.0%} of the hours: assumed).", "",
             "| line item | function URL | HTTP API | REST API | source |", "|---|---|---|---|---|"]
    for key in c0.per_request:
        lines.append(f"| {key} (per 1M requests) | " + " | ".join(f"${costs[a].per_request[key] * 1e6:.4f}"
                                                                  for a in FRONT_DOORS) + f" | {SOURCES[key]} |")
    fixed = sorted({k for c in costs.values() for k in c.per_month_fixed})
    for key in fixed:
        lines.append(f"| {key} ($ per month) | " + " | ".join(f"${costs[a].per_month_fixed.get(key, 0):.2f}"
                                                              for a in FRONT_DOORS) + f" | {SOURCES[key]} |")
    lines.append("| **all-in per 1M requests** | " + " | ".join(f"**${costs[a].all_in_per_million:.3f}**"
                                                              for a in FRONT_DOORS) + " | |")
    lines += ["", "Levers for the largest fees after the front door: logs (`access_log_sample_rate`, `metrics_per_model`; "
              "`make bench` measures the bytes per request both ways; Lambda's own START/END/REPORT lines, about "
              "300 B, go away with `lambda_log_format: json_quiet`), DynamoDB "
              "(usage written every `SNLP_USAGE_FLUSH_REQUESTS` requests per environment and token) and custom "
              "metrics (fixed per month, so they weigh most at low traffic).",
              "", "| front door | gives up |", "|---|---|"]
    lines += [f"| {name} | {gives} |" for name, gives in FRONT_DOORS.values()]
    return lines + [""]


def startup_section(meas, prices, stage, aliases) -> list[str]:
    lines = ["## Startup options: on demand, SnapStart, provisioned concurrency", "",
             "| traffic/month | option | cold-start share | cold start billed ms | $ per 1M all-in |",
             "|---|---|---|---|---|"]
    for requests in (1e5, GOAL_REQUESTS):
        w = Workload(requests, 1)
        s = served(meas, prices, w, stage, aliases)
        options = {"on demand": {"snapstart": False, "provisioned_concurrency": 0},
                   "SnapStart": {"snapstart": True, "provisioned_concurrency": 0, "ephemeral_mb": 512},
                   "provisioned concurrency 1": {"snapstart": False, "provisioned_concurrency": 1}}
        for name, changes in options.items():
            c = _cost(meas, prices, w, stage, s, **changes)
            lines.append(f"| {requests:,.0f} | {name} | {c.cold_start_share:.4%} | {c.cold_billed_ms} | "
                         f"${c.all_in_per_million:.3f} |")
    return lines + ["", "Not measurable here: SnapStart's restore latency and the after-restore hook time "
                    "(the model bills a restored cold start as one warm request plus the per-GB restore fee), "
                    "and whether traffic fits the provisioned environments. On AWS: publish a version with "
                    "`api_snapstart: true`, invoke it after 15+ minutes idle and read `Restore Duration` and "
                    "`Billed Restore Duration` in the REPORT log line; for provisioned concurrency watch "
                    "`ProvisionedConcurrencySpilloverInvocations`.", ""]


def batch_section(meas, prices, stage, aliases) -> list[str]:
    b = _batch(meas, prices, stage, aliases)
    if b is None:
        return []
    j = b.job
    lines = [f"## Batch path: $ per 1M texts (S3 upload -> SQS -> batch Lambda at {j.memory_mb} MB -> S3 results)", "",
             f"Jobs of {j.texts_per_job:,} texts ({j.chunks} chunk(s) of {j.chunk_bytes / 2**20:.0f} MiB), "
             f"{j.jobs_per_month:g} jobs/month; {b.ms_per_text:.2f} ms per text (measured at 32 texts per request).", "",
             "| line item | $ per 1M texts |", "|---|---|"]
    lines += [f"| {k} | ${v:.4f} |" for k, v in b.parts_per_million().items()]
    lines += [f"| {k} (fixed ${v:.2f}/month) | ${v / (j.texts_per_job * j.jobs_per_month) * 1e6:.4f} |"
              for k, v in b.per_month_fixed.items()]
    return lines + [f"| **total** | **${b.per_million_texts:.3f}** |", ""]


def storage_section(meas, prices, stage, w) -> list[str]:
    lines = [f"## Storage tradeoffs per variant ({w.versions_kept} versions kept: the current one + noncurrent "
             "versions the artifacts bucket's lifecycle rule keeps for 90 days)", "",
             "| model | variant | artifact MB | S3 $/month | GETs per cold start | cold start from S3, ms (measured) | "
             "model in a layer, ms (S3 download removed: derived) | container image |",
             "|---|---|---|---|---|---|---|---|"]
    ecr = prices.get("ecr.storage_gb_month") if prices.has("ecr.storage_gb_month") else 0.0
    for model in meas.models():
        for variant in meas.variants(model):
            run = meas.run(model, variant, meas.memories(model, variant)[0])
            size = run.get("artifact_bytes", 0)
            memory = min(meas.memories(model, variant), key=lambda m: abs(m - stage.api_memory_mb))
            p = meas.profile(model, variant, memory)
            s3 = size / 2**30 * w.versions_kept * prices.get("s3.storage_gb_month")
            cold = p.init_ms + p.first_ms
            download = _median_download_ms(meas.run(model, variant, memory))
            fits = size / 2**20 + OTHER_LAYERS_MB <= LAMBDA_UNZIPPED_MB
            layer = (f"{cold - download:.0f} (at {memory} MB)" if fits and download is not None
                     else "not derived (no load phases in this sweep)" if fits else "does not fit next to the runtime layer")
            lines.append(f"| {model} | {variant} | {size / 1e6:.1f} | ${s3:.4f} | {p.cold_s3_gets} | {cold:.0f} (at {memory} MB) | "
                         f"{layer} | ${size / 2**30 * w.versions_kept * ecr:.4f}/month in ECR; cold start not measured |")
    eph = prices.get("lambda.ephemeral_gb_second")
    return lines + ["", f"/tmp: models are cached under /tmp (the stage's api_ephemeral_mb = {stage.ephemeral_mb} MB; "
                    f"the first 512 MB are free, then ${eph * 1e9:.1f} per 1M GB-s of duration). A model in a layer "
                    "skips the S3 download (the GETs above and their share of the cold start) but needs a new layer "
                    "version per model release and counts against the 250 MB limit; a container image lifts that "
                    "limit to 10 GB, gives up SnapStart and is cached per image; neither was measured here.", ""]


def _median_download_ms(run: dict) -> float | None:
    import statistics

    found = [c["load_phases"]["download_ms"] for c in run.get("cold_runs") or [run.get("cold", {})]
             if c.get("load_phases") and c["load_phases"].get("download_ms") is not None]
    return statistics.median(found) if found else None


def traffic_section(meas, prices, stage, aliases) -> list[str]:
    lines = ["## Cost against traffic (tiers, cold starts and flush windows move with it)", "",
             "| requests/month | cold-start share | " + " | ".join(f"{FRONT_DOORS[a][0]} $/1M" for a in FRONT_DOORS)
             + " | HTTP API $/month |", "|---|---|" + "---|" * len(FRONT_DOORS) + "---|"]
    for requests in TRAFFIC_LEVELS:
        w = Workload(requests, 1)
        s = served(meas, prices, w, stage, aliases)
        costs = {a: _cost(meas, prices, w, stage, s, api=a) for a in FRONT_DOORS}
        lines.append(f"| {requests:,.0f} | {costs['http'].cold_start_share:.3%} | "
                     + " | ".join(f"${costs[a].all_in_per_million:.3f}" for a in FRONT_DOORS)
                     + f" | ${costs['http'].monthly():,.2f} |")
    return lines + [""]


__all__ = ["goal_section", "line_items_section", "startup_section", "batch_section", "storage_section",
           "traffic_section", "served", "Served", "GOALS", "BATCH_GOAL", "FRONT_DOORS"]
