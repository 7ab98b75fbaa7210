"""Report sections on what the stage deploys: goal rows, every line item with its source, the
three front doors, startup options, the batch path, storage tradeoffs and a traffic curve."""
from __future__ import annotations

from dataclasses import dataclass, replace

from . import breakeven
from .batch import BatchJob, estimate_batch, openai_per_million_texts
from .errors import CostError
from .levers import ERROR_TYPES_SEEN, EVENT_HOURS_SHARE, deployment, usage_flush_bound, workload
from .log_bytes import function_log_bytes
from .measurements import Measurements
from .model import PLATFORM_LOG_BYTES, SOURCES, Cost, Workload, estimate, requests_per_metrics_line
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
    profile = meas.profile(s.model, s.variant, s.memory_mb, w.texts_per_request, stage=stage.stage)
    return estimate(profile, deployment(stage, s.model, s.variant, s.memory_mb, **changes), w, prices)


LEAN_STAGE = "lean"  # config/stages.yml: the stage built to meet the goal; its rows sit next to the report's stage


def lean_stage() -> StageParams | None:
    """The lean stage's parameters, or None where the config has no such stage."""
    from .errors import StageConfigError
    from .stage_config import read_stage

    try:
        return read_stage(LEAN_STAGE)
    except StageConfigError:
        return None


def _levers(stage: StageParams) -> str:
    return (f"{stage.architecture}, tracing {'on' if stage.tracing else 'off'}, lambda_log_format "
            f"{stage.lambda_log_format}, access log {stage.access_log_sample_rate:g} of successes with "
            f"{stage.access_log_fields} fields, per-model metrics {'on' if stage.metrics_per_model else 'off'}, "
            f"EMF written every {stage.metrics_flush_requests} request(s), "
            f"usage flushed every {stage.usage_flush_requests} request(s), logs kept {stage.log_retention_days} days")


def goal_rows(meas, prices, stage: StageParams, aliases) -> tuple[list[str], Cost]:
    """The two front-door goal rows for ``stage``; returns them and its function URL cost."""
    w = workload(stage, GOAL_REQUESTS)
    s = served(meas, prices, w, stage, aliases)
    rows, url = [], None
    for api, target in GOALS.items():
        c = _cost(meas, prices, w, stage, s, api=api)
        url = url or c
        got = c.all_in_per_million
        rows.append(f"| {stage.stage} ({s.memory_mb} MB) | {FRONT_DOORS[api][0]}, $ per 1M requests | <= ${target:.2f} | "
                    f"${got:.3f} (per request ${c.per_million_requests:.3f} + fixed ${c.fixed_usd_month:.2f}/month) | "
                    f"{'met' if got <= target else '**not met**'} |")
    return rows, url


def overhead_facts(meas, prices, stage: StageParams, aliases) -> list[str]:
    """Per stage: what its levers leave per request (log bytes, metric-months, write units) and the flush bound."""
    w = workload(stage, GOAL_REQUESTS)
    s = served(meas, prices, w, stage, aliases)
    c = _cost(meas, prices, w, stage, s, api="url")
    profile = meas.profile(s.model, s.variant, s.memory_mb, stage=stage.stage)
    logs = function_log_bytes(profile, sample_rate=stage.access_log_sample_rate, fields=stage.access_log_fields,
                              per_model=stage.metrics_per_model,
                              metrics_per_line=requests_per_metrics_line(w, c.deployment, profile.warm_ms))
    platform = PLATFORM_LOG_BYTES if stage.lambda_log_format == "text" else 0
    return [f"- `{stage.stage}`: {_levers(stage)}. Function log bytes per request **{logs.total + platform:.0f}** "
            f"(access {logs.access:.0f} = {stage.access_log_sample_rate:g} x a {logs.access_line:.0f} B line, EMF "
            f"{logs.emf:.0f} + per-model {logs.emf_model:.0f}, platform lines {platform}; {logs.source}); custom "
            f"metrics **{c.deployment.custom_metrics:.1f}** metric-months (${c.per_month_fixed.get('custom_metrics', 0):.2f}"
            f"/month); DynamoDB ${c.per_request['dynamodb'] * 1e6:.3f} per 1M requests "
            f"(usage_flush_requests {stage.usage_flush_requests}). Bound: {usage_flush_bound(stage)}. "
            f"Warm duration billed **{c.warm_billed_ms:.2f} ms** per request on average: {_warm_words(profile, w)}."]


def _warm_words(profile, w: Workload) -> str:
    """Where a stage's warm duration comes from (measured, derived), in words."""
    from .model import requests_per_usage_write

    if profile.warm_ms_no_write is None or profile.usage_write_ms is None:
        return (f"{profile.warm_source}, {profile.warm_ms:.2f} ms (this file does not split out the usage writes: "
                f"a stage flushing usage every {w.usage_flush_requests} request(s) is priced with the sweep's writes)")
    k = requests_per_usage_write(w, profile.warm_ms)
    return (f"{profile.warm_ms_no_write:.2f} ms without usage writes + one {profile.usage_write_ms:.2f} ms write per "
            f"{k:.3g} request(s) ({profile.warm_source})")


def what_it_would_take(meas, prices, stage: StageParams, aliases, target: float = GOALS["url"]) -> list[str]:
    """The function URL goal's budget: the duration-independent fees first, then the billed ms per
    request what is left allows (x86_64 and the arm64 price), against the measured ms."""
    w = workload(stage, GOAL_REQUESTS)
    s = served(meas, prices, w, stage, aliases)
    c = _cost(meas, prices, w, stage, s, api="url")
    fixed = c.fixed_usd_month / GOAL_REQUESTS * 1e6
    fees = {k: v * 1e6 for k, v in c.per_request.items() if k != "lambda_compute" and v * 1e6 >= 0.0005}
    request_fee = fees.get("lambda_requests", 0.0)
    left = target - sum(fees.values()) - fixed
    parts = ", ".join(f"{k} ${v:.3f}" for k, v in sorted(fees.items(), key=lambda kv: -kv[1]))
    needed = meas.required_memory(s.model, s.variant)

    def allows(budget: float, memory: int) -> str:
        gb = memory / 1024
        ms = {a: budget / 1e6 / (prices.get(f"lambda.gb_second_{a}") * gb) * 1e3 for a in ("x86_64", "arm64")}
        measured = _cost(meas, prices, w, stage, replace(s, memory_mb=memory), api="url").warm_billed_ms
        return (f"{ms['x86_64']:.1f} ms at x86_64 / {ms['arm64']:.1f} ms at the arm64 price at {memory} MB, against "
                f"{measured:.1f} ms billed warm there (measured, x86_64)")

    this = (f"that leaves **${left:.3f}** per 1M for compute: {allows(left, s.memory_mb)}" if left > 0 else
            f"they alone are **${-left:.3f}** over the goal before any compute")
    return [f"What it would take (`{stage.stage}`, function URL, ${target:.2f} per 1M): the duration-independent fees "
            f"are {parts} + fixed ${fixed:.3f} (custom metrics and S3 over {GOAL_REQUESTS:,.0f} requests): {this}. "
            f"Lambda's request fee alone is ${request_fee:.2f}, {request_fee / target:.0%} of the goal; with every "
            f"other fee at zero the remaining ${target - request_fee:.2f} allows {allows(target - request_fee, s.memory_mb)}; "
            f"at the smallest memory the model needs ({needed} MB) {allows(target - request_fee, needed)} "
            "(arm64 durations not measured)."]


def goal_section(meas: Measurements, prices: PriceBook, stage: StageParams, aliases: dict,
                 lean: StageParams | None = None) -> list[str]:
    w = workload(stage, GOAL_REQUESTS)
    s = served(meas, prices, w, stage, aliases)
    stages = [stage] + ([lean] if lean is not None and lean.stage != stage.stage else [])
    lines = [f"## Goals: {s.model} {s.variant}, one text per request, {GOAL_REQUESTS:,.0f} requests/month, "
             f"{prices.region}, all-in", "",
             "Each stage at its own memory (if measured, else the balanced recommendation) and levers; all-in = every "
             "per-request line item + the fixed monthly fees spread over the month's requests.", "",
             "| stage | goal | target | ours | verdict |", "|---|---|---|---|---|"]
    for st in stages:
        lines += goal_rows(meas, prices, st, aliases)[0]
    batch = _batch(meas, prices, stage, aliases)
    if batch is not None:
        got = batch.per_million_texts
        lines.append(f"| {stage.stage} | batch through S3, $ per 1M texts ({batch.job.memory_mb} MB, the stage's) | "
                     f"<= ${BATCH_GOAL:.2f} | ${got:.3f} | {'met' if got <= BATCH_GOAL else '**not met**'} |")
        best = _cheapest_batch(meas, prices, stage, aliases)
        lines.append(f"| {stage.stage} | batch through S3 at the cheapest measured memory ({best.job.memory_mb} MB) | "
                     f"<= ${BATCH_GOAL:.2f} | ${best.per_million_texts:.3f} | "
                     f"{'met' if best.per_million_texts <= BATCH_GOAL else '**not met**'} |")
    cheap_stage = stages[-1]
    cheap_w = workload(cheap_stage, GOAL_REQUESTS)
    cheapest = recommend(meas, prices, cheap_w, s.model, s.variant, "cost",
                         make=lambda m, v, mem: deployment(cheap_stage, m, v, mem, api="url"))
    lines += ["", "What each stage's overhead levers leave per request (log bytes: the sweep measured the handler at "
              "access_log_sample_rate 1 with full fields; sampling and lean fields are priced from those bytes as "
              "stated):", ""]
    for st in stages:
        lines += overhead_facts(meas, prices, st, aliases)
    lines += ["", f"`{cheap_stage.stage}` at the cheapest measured memory ({cheapest.memory_mb} MB, Power Tuning's `cost` "
              f"strategy), function URL: **${cheapest.chosen.cost.all_in_per_million:.3f}** per 1M requests "
              "(x86_64; arm64 would cut Lambda compute by a fifth at the same duration, not measured).", ""]
    for st in stages:
        lines += what_it_would_take(meas, prices, st, aliases) + [""]
    lines += ["The same work elsewhere (list prices as recalled, verify):", "",
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
    w = workload(stage, GOAL_REQUESTS)
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
    lines += ["", "Levers for the largest fees after the front door (all priced above; the goal section shows the "
              f"`{LEAN_STAGE}` stage with them set): logs (`access_log_sample_rate`, `access_log_fields` full|lean, "
              "`metrics_per_model`; `make bench` measures the bytes per request at the stage's and the lean settings; "
              "Lambda's own START/END/REPORT lines, about 300 B, go away with `lambda_log_format: json_quiet`), DynamoDB "
              f"(`usage_flush_requests`: {usage_flush_bound(stage)}) and custom "
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
        w = workload(stage, requests)
        s = served(meas, prices, w, stage, aliases)
        costs = {a: _cost(meas, prices, w, stage, s, api=a) for a in FRONT_DOORS}
        lines.append(f"| {requests:,.0f} | {costs['http'].cold_start_share:.3%} | "
                     + " | ".join(f"${costs[a].all_in_per_million:.3f}" for a in FRONT_DOORS)
                     + f" | ${costs['http'].monthly():,.2f} |")
    return lines + [""]


__all__ = ["goal_section", "goal_rows", "overhead_facts", "what_it_would_take", "lean_stage", "LEAN_STAGE", "line_items_section", "startup_section", "batch_section", "storage_section",
           "traffic_section", "served", "Served", "GOALS", "BATCH_GOAL", "FRONT_DOORS"]
