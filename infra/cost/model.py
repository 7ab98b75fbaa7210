"""The cost model: pure arithmetic over a `Profile` (measured) and a `PriceBook` (listed).

Conventions, stated once:
- Billed duration is the measured duration rounded UP to the next 1 ms (Lambda bills per ms).
- Since 1 Aug 2025 Lambda bills the INIT phase too, so a cold start bills init + first request.
- Free tiers are never subtracted (the report says so): costs are what steady traffic pays.
- Volume tiers ARE applied: each line item is a monthly quantity (GB-s, requests, GB, traces,
  metric-months) at the workload's traffic, priced through its tiers, then divided by the
  requests. So $/request depends on traffic; ``Cost.monthly(r)`` re-estimates at ``r``. Tiers
  are per account and region: the model assumes this service is the account's only user.
- The cold-start share comes from the traffic shape (traffic.py) unless a workload fixes it.
- A month is 730 hours.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

from functions.settings import ACCESS_LOG_FIELDS, Settings
from infra.config import API_TYPES, ARCHITECTURES

from .errors import BadInputError, BadTrafficError
from .log_bytes import function_log_bytes
from .measurements import Profile
from .pricing import PriceBook
from .traffic import TrafficShape, cold_start_share, environments

ARCHES = ARCHITECTURES
APIS = API_TYPES
SECONDS_PER_MONTH = 730 * 3600
DAYS_PER_MONTH = 730 / 24
GB = 1e9  # transfer and log volumes are priced per decimal GB
# Lambda writes START, END and REPORT lines for every invocation on top of the function's own logs
PLATFORM_LOG_BYTES = 300
# one HTTP API access log line in infra/serverless/api-http.yml's JSON format (~8 fields)
GATEWAY_LOG_BYTES = {"http": 230, "rest": 0, "url": 0}
# CloudWatch bills stored logs after compression; JSON logs compress to about this (assumed)
LOG_STORAGE_COMPRESSION = 0.15
FREE_EPHEMERAL_MB = 512
# the front door's per-request price key: function URLs add nothing beyond the invocation
API_PRICE = {"http": "apigateway.http_request", "rest": "apigateway.rest_request", "url": "lambda.function_url_request"}
# KMS: S3 Bucket Keys ask KMS once per new environment (artifact GETs); DynamoDB's AWS managed
# key is fetched about every 5 minutes per live environment
DDB_KMS_REFRESH_S = 300

# where each line item comes from (the report prints this)
SOURCES = {
    "lambda_compute": "measured billed ms (warm/cold mix) x memory, GB-s tiers",
    "lambda_requests": "one invocation per request",
    "lambda_ephemeral": "ephemeral storage above 512 MB x billed duration (stage lever)",
    "api_gateway": "front door: HTTP API / REST API per request (tiered); function URL free",
    "xray": "traces recorded with tracing on: REST applies the stage's sampling rule, else Lambda's 1/s + 5 %",
    "logs_ingest": "measured function log bytes (access line x access_log_sample_rate at access_log_fields, EMF "
                   "with/without per-model copies: log_bytes.py) + 300 B platform lines (lambda_log_format text), "
                   "tiered; + gateway access log",
    "logs_storage": "ingested bytes x retention (stage log_retention_days) x compression 0.15 (assumed)",
    "dynamodb": "token reads on cache miss + usage writes as flushed (every N requests or T s per environment and token)",
    "kms": "aws/s3 bucket key once per cold start + aws/dynamodb key every 5 min per live environment",
    "cold_start_s3": "artifact GETs per cold start (measured); same-region transfer free",
    "snapstart_restore": "SnapStart restore: memory GB per cold start (stage lever)",
    "data_out": "measured response bytes to the internet, tiered",
    "s3_storage": "artifact bytes x versions kept (current + noncurrent kept by the lifecycle rule)",
    "custom_metrics": "EMF metric-months the stage's telemetry creates (name x dimension set)",
    "provisioned_concurrency": "provisioned environments x memory, all month",
    "snapstart_cache": "SnapStart snapshot cache: memory x all month, one published version",
}


def billed_ms(duration_ms: float) -> int:
    """Lambda's billed duration: round up to the next whole millisecond (0.2 ms -> 1 ms)."""
    if duration_ms < 0:
        raise BadInputError(f"a duration cannot be negative ({duration_ms} ms)")
    # round first so 3.0000000001 from float noise does not bill 4 ms
    return max(1, math.ceil(round(duration_ms, 6)))


@dataclass(frozen=True)
class Workload:
    requests_per_month: float
    texts_per_request: float = 1
    cold_start_share: float | None = None  # None: derived from `traffic`; a number overrides the model
    token_cache_hit_rate: float = 0.95  # share of requests whose token is in the in-memory cache
    versions_kept: int = 3  # artifact versions kept in S3 per variant
    # usage metering buffers writes: one per N requests or per interval (functions/settings.py)
    usage_flush_requests: int = Settings.usage_flush_requests
    usage_flush_interval_s: float = Settings.usage_flush_interval_s
    traffic: TrafficShape = field(default_factory=TrafficShape)
    active_tokens: int = 1  # callers active at once: usage is buffered per token and environment

    def __post_init__(self) -> None:
        if not self.requests_per_month > 0:
            raise BadTrafficError(f"requests per month must be positive, got {self.requests_per_month}")
        if not self.texts_per_request > 0:
            raise BadTrafficError(f"texts per request must be positive, got {self.texts_per_request}")
        for name in ("cold_start_share", "token_cache_hit_rate"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise BadInputError(f"{name} must be between 0 and 1, got {value}")
        if self.versions_kept < 1:
            raise BadInputError(f"versions kept must be at least 1, got {self.versions_kept}")
        if self.active_tokens < 1:
            raise BadInputError(f"active tokens must be at least 1, got {self.active_tokens}")

    @property
    def rate_per_s(self) -> float:
        return self.requests_per_month / SECONDS_PER_MONTH


@dataclass(frozen=True)
class Deployment:
    model: str
    variant: str
    memory_mb: int
    arch: str = "arm64"
    api: str = "http"
    ephemeral_mb: int = 512
    provisioned_concurrency: int = 0
    snapstart: bool = False
    tracing: bool = False  # X-Ray active tracing
    xray_sampling_rate: float = 0.05  # share of requests traced above the reservoir
    xray_reservoir_per_s: float = 1.0  # requests per second traced first
    log_retention_days: int = 30
    gateway_access_log: bool = True  # HTTP API access log (REST and function URLs write none here)
    platform_log_lines: bool = True  # Lambda's START/END/REPORT lines (stage lambda_log_format: text)
    custom_metrics: float = 0.0  # EMF metric-months the stage's telemetry creates (levers.py)
    # the function's own log lines (stage levers; log_bytes.py prices them from the measured bytes)
    access_log_sample_rate: float = 1.0  # share of successes with an access line (errors always)
    access_log_fields: str = "full"  # full | lean (functions/api/telemetry.py)
    metrics_per_model: bool = True  # per-model EMF copies written per request
    metrics_flush_requests: int = 1  # one EMF line per N requests per environment (or 5 s)

    def __post_init__(self) -> None:
        if self.arch not in ARCHES:
            raise BadInputError(f"architecture must be one of {', '.join(ARCHES)}, got '{self.arch}'")
        if self.api not in APIS:
            raise BadInputError(f"API type must be one of {', '.join(APIS)}, got '{self.api}'")
        if not 128 <= self.memory_mb <= 10240:
            raise BadInputError(f"Lambda memory must be 128..10240 MB, got {self.memory_mb}")
        if not 512 <= self.ephemeral_mb <= 10240:
            raise BadInputError(f"ephemeral storage must be 512..10240 MB, got {self.ephemeral_mb}")
        if self.provisioned_concurrency < 0:
            raise BadInputError("provisioned concurrency cannot be negative")
        if self.snapstart and (self.provisioned_concurrency or self.ephemeral_mb > FREE_EPHEMERAL_MB):
            raise BadInputError("SnapStart works with neither provisioned concurrency nor ephemeral storage > 512 MB")
        if not 0.0 <= self.access_log_sample_rate <= 1.0:
            raise BadInputError(f"access log sample rate must be 0..1, got {self.access_log_sample_rate}")
        if self.access_log_fields not in ACCESS_LOG_FIELDS:
            raise BadInputError(f"access log fields must be one of {', '.join(ACCESS_LOG_FIELDS)}, "
                                f"got '{self.access_log_fields}'")
        if not 0.0 <= self.xray_sampling_rate <= 1.0 or self.xray_reservoir_per_s < 0:
            raise BadInputError("X-Ray sampling rate must be 0..1 and the reservoir non-negative")


@dataclass(frozen=True)
class Cost:
    """USD per request by component, plus fixed USD per month, at the workload's traffic."""

    deployment: Deployment
    workload: Workload
    per_request: dict[str, float] = field(default_factory=dict)
    per_month_fixed: dict[str, float] = field(default_factory=dict)
    warm_billed_ms: float = 0  # mean billed ms of a warm request (usage writes at the stage's rate)
    cold_billed_ms: int = 0
    cold_start_share: float = 0.0
    at: Callable[[float], "Cost"] | None = field(default=None, compare=False, repr=False)

    @property
    def request_usd(self) -> float:
        return sum(self.per_request.values())

    @property
    def per_million_requests(self) -> float:
        return self.request_usd * 1e6

    @property
    def per_million_texts(self) -> float:
        return self.per_million_requests / self.workload.texts_per_request

    @property
    def fixed_usd_month(self) -> float:
        return sum(self.per_month_fixed.values())

    @property
    def all_in_per_million(self) -> float:
        """Per-request fees plus the fixed monthly fees spread over this month's requests, per 1M."""
        return (self.request_usd + self.fixed_usd_month / self.workload.requests_per_month) * 1e6

    @property
    def lambda_compute_usd(self) -> float:
        """What AWS Lambda Power Tuning calls the cost of an invocation: compute only."""
        return self.per_request["lambda_compute"]

    def monthly(self, requests_per_month: float | None = None) -> float:
        """USD per month; another traffic level is re-estimated (tiers, cold starts, flushes move)."""
        r = self.workload.requests_per_month if requests_per_month is None else requests_per_month
        if r != self.workload.requests_per_month and self.at is not None:
            return self.at(r).monthly()
        return self.fixed_usd_month + r * self.request_usd


def cold_share(profile: Profile, deployment: Deployment, workload: Workload) -> float:
    """The workload's fixed share, else the traffic model's; provisioned environments absorb it."""
    share = workload.cold_start_share
    if share is None:
        share = cold_start_share(workload.rate_per_s, profile.warm_ms, workload.traffic)
    return share * (1.0 - provisioned_fraction(profile, deployment, workload))


def provisioned_fraction(profile: Profile, deployment: Deployment, workload: Workload) -> float:
    """Share of requests served by provisioned environments (all of them when they cover the peak)."""
    if not deployment.provisioned_concurrency:
        return 0.0
    peak = environments(workload.rate_per_s, profile.warm_ms, workload.traffic)
    return min(1.0, deployment.provisioned_concurrency / peak)


# Lambda's own sampling where no upstream service decides (HTTP API, function URL): not configurable
LAMBDA_XRAY_RESERVOIR_PER_S, LAMBDA_XRAY_RATE = 1.0, 0.05


def xray_traces(deployment: Deployment, rate_per_s: float) -> float:
    """Traces recorded per month: the reservoir first, then the sampling rate of the rest. Only a
    REST stage applies the stage's sampling rule; behind the others Lambda samples 1/s + 5 %."""
    if not deployment.tracing:
        return 0.0
    reservoir_per_s, rate = ((deployment.xray_reservoir_per_s, deployment.xray_sampling_rate)
                             if deployment.api == "rest" else (LAMBDA_XRAY_RESERVOIR_PER_S, LAMBDA_XRAY_RATE))
    reservoir = min(rate_per_s, reservoir_per_s)
    return (reservoir + rate * (rate_per_s - reservoir)) * SECONDS_PER_MONTH


def estimate(profile: Profile, deployment: Deployment, workload: Workload, prices: PriceBook,
             *, arm64_duration_factor: float = 1.0) -> Cost:
    """All-in cost of serving ``workload`` with ``deployment``, from measured ``profile``.

    Durations were measured on x86_64; ``arm64_duration_factor`` scales them for arm64
    (1.0 = assume the same speed: an assumption, not a measurement).
    """
    d, w = deployment, workload
    arch, gb, n = d.arch, d.memory_mb / 1024.0, w.requests_per_month
    k = arm64_duration_factor if arch == "arm64" else 1.0
    warm_ms = mean_warm_billed_ms(profile, w, k)
    # SnapStart restores an environment whose models are loaded and warmed: the first request
    # then runs like a warm one (restore latency itself is not billed as duration)
    cold_ms = warm_ms if d.snapstart else billed_ms(profile.init_ms * k) + billed_ms(profile.first_ms * k)
    cold = cold_share(profile, d, w)
    prov = provisioned_fraction(profile, d, w)
    od_cold = cold / (1 - prov) if prov < 1 else 0.0  # the cold share among on-demand requests
    mean_ms = (1 - od_cold) * warm_ms + od_cold * cold_ms
    on_demand_gb_s = n * (1 - prov) * mean_ms / 1000.0 * gb
    prov_gb_s = n * prov * warm_ms / 1000.0 * gb
    warm_log = function_log_bytes(profile, sample_rate=d.access_log_sample_rate, fields=d.access_log_fields,
                                  per_model=d.metrics_per_model,
                                  metrics_per_line=requests_per_metrics_line(w, d, profile.warm_ms)).total
    log_bytes = ((1 - cold) * warm_log + cold * profile.cold_log_bytes
                 + (PLATFORM_LOG_BYTES if d.platform_log_lines else 0))
    gateway_bytes = GATEWAY_LOG_BYTES[d.api] if d.gateway_access_log else 0
    ingest_gb = n * (log_bytes + gateway_bytes) / GB
    reads = (1 - w.token_cache_hit_rate) * profile.ddb_reads_on_miss
    # usage writes as the meter flushes them at this traffic, never fewer than the sweep saw per
    # warm request back to back (that also counts writes the flush rule does not: rate windows)
    # (that floor holds only at the flush setting the sweep ran: another N is priced by the rule alone)
    by_rule = profile.ddb_write_units_per_flush / requests_per_usage_write(w, profile.warm_ms)
    writes = (max(profile.ddb_writes_per_request, by_rule)
              if w.usage_flush_requests == profile.measured_flush_requests else by_rule)
    envs = environments(w.rate_per_s, profile.warm_ms, w.traffic)
    extra_eph_gb = max(0, d.ephemeral_mb - FREE_EPHEMERAL_MB) / 1024.0
    month = {
        "lambda_compute": prices.monthly(f"lambda.gb_second_{arch}", on_demand_gb_s)
                          + (prov_gb_s * prices.get(f"lambda.provisioned_duration_gb_second_{arch}") if prov else 0.0),
        "lambda_requests": prices.monthly("lambda.request", n),
        "lambda_ephemeral": extra_eph_gb * (on_demand_gb_s + prov_gb_s) / gb * prices.get("lambda.ephemeral_gb_second"),
        "api_gateway": prices.monthly(API_PRICE[d.api], n),
        "xray": prices.monthly("xray.trace_recorded", xray_traces(d, w.rate_per_s)) if d.tracing else 0.0,
        "logs_ingest": prices.monthly("cloudwatch.logs_ingestion_lambda_gb", n * log_bytes / GB)
                       + n * gateway_bytes / GB * prices.get("cloudwatch.logs_ingestion_gb"),
        "logs_storage": ingest_gb * LOG_STORAGE_COMPRESSION * d.log_retention_days / DAYS_PER_MONTH
                        * prices.get("cloudwatch.logs_storage_gb_month"),
        "dynamodb": n * (reads * prices.get("dynamodb.read_request_unit")
                         + writes * prices.get("dynamodb.write_request_unit")),
        "kms": (n * cold + envs * SECONDS_PER_MONTH / DDB_KMS_REFRESH_S) * prices.get("kms.request"),
        "cold_start_s3": n * cold * (profile.cold_s3_gets * prices.get("s3.get_request")
                                     + profile.artifact_bytes / GB * prices.get("s3.transfer_to_lambda_same_region_gb")),
        "snapstart_restore": n * cold * gb * prices.get("lambda.snapstart_restore_gb") if d.snapstart else 0.0,
        "data_out": prices.monthly("data_transfer.out_internet_gb", n * profile.response_bytes / GB),
    }
    fixed = {"s3_storage": s3_storage_month(profile.artifact_bytes, w.versions_kept, prices)}
    if d.custom_metrics:
        fixed["custom_metrics"] = prices.monthly("cloudwatch.custom_metric_month", d.custom_metrics)
    if d.provisioned_concurrency:
        fixed["provisioned_concurrency"] = (d.provisioned_concurrency * gb * SECONDS_PER_MONTH
                                            * prices.get(f"lambda.provisioned_gb_second_{arch}"))
    if d.snapstart:
        fixed["snapstart_cache"] = gb * SECONDS_PER_MONTH * prices.get("lambda.snapstart_cache_gb_second")

    def at(requests: float) -> Cost:
        return estimate(profile, d, replace(w, requests_per_month=requests), prices,
                        arm64_duration_factor=arm64_duration_factor)
    return Cost(d, w, {k_: v / n for k_, v in month.items()}, fixed, warm_ms, cold_ms, cold, at)


def requests_per_usage_write(workload: Workload, warm_ms: float) -> float:
    """How many requests share one buffered usage write.

    Each environment buffers usage per token and flushes every ``usage_flush_requests``
    requests or, at low traffic, on the first request after ``usage_flush_interval_s``.
    Traffic spreads over the environments the traffic model keeps (traffic.environments) and
    over ``active_tokens`` callers.
    """
    envs = environments(workload.rate_per_s, warm_ms, workload.traffic)
    per_buffer = workload.rate_per_s / envs / workload.active_tokens
    return min(float(workload.usage_flush_requests), max(1.0, per_buffer * workload.usage_flush_interval_s))


def mean_warm_billed_ms(profile: Profile, workload: Workload, k: float = 1.0) -> float:
    """Mean billed ms of a warm request. Where the sweep split it: the duration without usage
    writes, and 1 in ``requests_per_usage_write`` requests also pays one write (each request is
    billed, rounded up, on its own); else the measured median as the sweep's stage flushed."""
    if profile.warm_ms_no_write is None or profile.usage_write_ms is None:
        return billed_ms(profile.warm_ms * k)
    share = 1.0 / requests_per_usage_write(workload, profile.warm_ms)
    base, write = profile.warm_ms_no_write * k, profile.usage_write_ms * k
    return (1.0 - share) * billed_ms(base) + share * billed_ms(base + write)


def requests_per_metrics_line(workload: Workload, deployment: Deployment, warm_ms: float) -> float:
    """How many requests share one EMF line: every ``metrics_flush_requests`` invocations of an
    environment or, at low traffic, the first after ``METRICS_FLUSH_INTERVAL_S`` (one buffer per
    environment, whatever the token)."""
    from functions.api.telemetry import METRICS_FLUSH_INTERVAL_S

    if deployment.metrics_flush_requests <= 1:
        return 1.0
    per_env = workload.rate_per_s / environments(workload.rate_per_s, warm_ms, workload.traffic)
    return min(float(deployment.metrics_flush_requests), max(1.0, per_env * METRICS_FLUSH_INTERVAL_S))


def s3_storage_month(artifact_bytes: int, versions_kept: int, prices: PriceBook) -> float:
    """USD per month to keep ``versions_kept`` versions of one variant's artifact in S3 Standard."""
    return artifact_bytes / 2**30 * versions_kept * prices.get("s3.storage_gb_month")


__all__ = ["Workload", "Deployment", "Cost", "estimate", "billed_ms", "s3_storage_month", "requests_per_usage_write",
           "requests_per_metrics_line", "mean_warm_billed_ms",
           "cold_share", "provisioned_fraction", "xray_traces", "ARCHES", "APIS", "SECONDS_PER_MONTH",
           "PLATFORM_LOG_BYTES", "SOURCES", "API_PRICE", "TrafficShape"]
