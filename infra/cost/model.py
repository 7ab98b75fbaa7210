"""The cost model: pure arithmetic over a `Profile` (measured) and a `PriceBook` (listed).

Conventions, stated once:
- Billed duration is the measured duration rounded UP to the next 1 ms (Lambda bills per ms).
- Since 1 Aug 2025 Lambda bills the INIT phase too, so a cold start bills init + first request.
- Free tiers are never subtracted (the report says so): costs are what steady traffic pays.
- API Gateway and Lambda use the first pricing tier; a month is 730 hours.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from functions.settings import Settings

from .errors import BadInputError, BadTrafficError
from .measurements import Profile
from .pricing import PriceBook

ARCHES = ("x86_64", "arm64")
APIS = ("http", "rest")
SECONDS_PER_MONTH = 730 * 3600
GB = 1e9  # transfer and log volumes are priced per decimal GB
# Lambda writes START, END and REPORT lines for every invocation on top of the function's own logs
PLATFORM_LOG_BYTES = 300
FREE_EPHEMERAL_MB = 512


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
    cold_start_share: float = 0.01  # fraction of requests that hit a new execution environment
    token_cache_hit_rate: float = 0.95  # share of requests whose token is in the in-memory cache
    versions_kept: int = 3  # artifact versions kept in S3 per variant
    # usage metering buffers writes: one per N requests or per interval (functions/settings.py)
    usage_flush_requests: int = Settings.usage_flush_requests
    usage_flush_interval_s: float = Settings.usage_flush_interval_s

    def __post_init__(self) -> None:
        if not self.requests_per_month > 0:
            raise BadTrafficError(f"requests per month must be positive, got {self.requests_per_month}")
        if not self.texts_per_request > 0:
            raise BadTrafficError(f"texts per request must be positive, got {self.texts_per_request}")
        for name in ("cold_start_share", "token_cache_hit_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise BadInputError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.versions_kept < 1:
            raise BadInputError(f"versions kept must be at least 1, got {self.versions_kept}")


@dataclass(frozen=True)
class Deployment:
    model: str
    variant: str
    memory_mb: int
    arch: str = "arm64"
    api: str = "http"
    ephemeral_mb: int = 512
    provisioned_concurrency: int = 0

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


@dataclass(frozen=True)
class Cost:
    """USD per request by component, plus fixed USD per month."""

    deployment: Deployment
    workload: Workload
    per_request: dict[str, float] = field(default_factory=dict)
    per_month_fixed: dict[str, float] = field(default_factory=dict)
    warm_billed_ms: int = 0
    cold_billed_ms: int = 0

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

    def monthly(self, requests_per_month: float | None = None) -> float:
        r = self.workload.requests_per_month if requests_per_month is None else requests_per_month
        return self.fixed_usd_month + r * self.request_usd


def estimate(profile: Profile, deployment: Deployment, workload: Workload, prices: PriceBook,
             *, arm64_duration_factor: float = 1.0) -> Cost:
    """All-in cost of serving ``workload`` with ``deployment``, from measured ``profile``.

    Durations were measured on x86_64; ``arm64_duration_factor`` scales them for arm64
    (1.0 = assume the same speed: an assumption, not a measurement).
    """
    arch, gb = deployment.arch, deployment.memory_mb / 1024.0
    k = arm64_duration_factor if arch == "arm64" else 1.0
    warm_ms = billed_ms(profile.warm_ms * k)
    cold_ms = billed_ms(profile.init_ms * k) + billed_ms(profile.first_ms * k)
    cold = workload.cold_start_share
    if deployment.provisioned_concurrency:
        # traffic assumed to fit the provisioned environments: no cold starts, cheaper duration
        cold, gb_s_price = 0.0, prices.get(f"lambda.provisioned_duration_gb_second_{arch}")
    else:
        gb_s_price = prices.get(f"lambda.gb_second_{arch}")
    mean_ms = (1 - cold) * warm_ms + cold * cold_ms
    extra_eph_gb = max(0, deployment.ephemeral_mb - FREE_EPHEMERAL_MB) / 1024.0
    log_bytes = (1 - cold) * profile.log_bytes + cold * profile.cold_log_bytes + PLATFORM_LOG_BYTES
    reads = (1 - workload.token_cache_hit_rate) * profile.ddb_reads_on_miss
    writes = profile.ddb_write_units_per_flush / requests_per_usage_write(workload, profile.warm_ms)
    per_request = {
        "lambda_compute": gb * mean_ms / 1000.0 * gb_s_price,
        "lambda_requests": prices.get("lambda.request"),
        "lambda_ephemeral": extra_eph_gb * mean_ms / 1000.0 * prices.get("lambda.ephemeral_gb_second"),
        "api_gateway": prices.get(f"apigateway.{deployment.api}_request"),
        "cold_start_s3": cold * (profile.cold_s3_gets * prices.get("s3.get_request")
                                 + profile.artifact_bytes / GB
                                 * prices.get("s3.transfer_to_lambda_same_region_gb")),
        "logs": log_bytes / GB * prices.get("cloudwatch.logs_ingestion_gb"),
        "dynamodb": reads * prices.get("dynamodb.read_request_unit")
                    + writes * prices.get("dynamodb.write_request_unit"),
        "data_out": profile.response_bytes / GB * prices.get("data_transfer.out_internet_gb"),
    }
    fixed = {"s3_storage": s3_storage_month(profile.artifact_bytes, workload.versions_kept, prices)}
    if deployment.provisioned_concurrency:
        fixed["provisioned_concurrency"] = (deployment.provisioned_concurrency * gb * SECONDS_PER_MONTH
                                            * prices.get(f"lambda.provisioned_gb_second_{arch}"))
    return Cost(deployment, workload, per_request, fixed, warm_ms, cold_ms)


def requests_per_usage_write(workload: Workload, warm_ms: float) -> float:
    """How many requests share one buffered usage write, for steady traffic.

    An environment flushes every ``usage_flush_requests`` requests or, at low traffic, on the
    first request after ``usage_flush_interval_s``. One environment serves at most
    1000 / warm_ms requests per second; above that Lambda adds environments.
    """
    rate = workload.requests_per_month / SECONDS_PER_MONTH
    per_env = min(rate, 1000.0 / max(warm_ms, 1e-3))
    return min(float(workload.usage_flush_requests), max(1.0, per_env * workload.usage_flush_interval_s))


def s3_storage_month(artifact_bytes: int, versions_kept: int, prices: PriceBook) -> float:
    """USD per month to keep ``versions_kept`` versions of one variant's artifact in S3 Standard."""
    return artifact_bytes / 2**30 * versions_kept * prices.get("s3.storage_gb_month")


__all__ = ["Workload", "Deployment", "Cost", "estimate", "billed_ms", "s3_storage_month", "requests_per_usage_write",
           "ARCHES", "APIS", "SECONDS_PER_MONTH", "PLATFORM_LOG_BYTES"]
