"""Monthly cost against traffic: Lambda (HTTP and REST API) versus always-on and SageMaker Serverless.

Always-on options are sized from the SAME measured warm duration: one vCPU serves
``1000 / duration_ms`` requests per second; a task or instance is planned at
``TARGET_UTILISATION`` of that, and more are added as traffic grows (a step function).
Every option also pays the per-request fees that do not depend on where the model runs
(usage metering in DynamoDB, logs, data transfer out).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from .errors import MissingPriceError
from .measurements import Measurements, Profile
from .model import GB, SECONDS_PER_MONTH, Cost, Deployment, Workload, billed_ms, cold_share, estimate
from .pricing import PriceBook

HOURS = 730
TARGET_UTILISATION = 0.6
FARGATE_VCPU, FARGATE_GB = 1, 2
T4G_SMALL_BASELINE_VCPU = 2 * 0.20  # two burstable vCPUs at a 20 % baseline each
EBS_GB = 8
SAGEMAKER_SIZES_MB = (1024, 2048, 3072, 4096, 5120, 6144)


@dataclass(frozen=True)
class Option:
    name: str
    monthly: Callable[[float], float]  # requests/month -> USD/month
    note: str


SHARED = ("logs_ingest", "logs_storage", "dynamodb", "data_out")


def shared_fees(cost: Cost) -> float:
    """Fees every option pays per request wherever the model runs."""
    return sum(cost.per_request[k] for k in SHARED)


def _capacity(duration_ms: float, vcpus: float) -> float:
    """Requests per month one box sustains at the target utilisation."""
    return TARGET_UTILISATION * vcpus * SECONDS_PER_MONTH * 1000.0 / max(duration_ms, 1e-3)


def options(meas: Measurements, prices: PriceBook, workload: Workload, model: str, variant: str,
            memory_mb: int, arch: str = "x86_64") -> tuple[list[Option], list[str]]:
    """The options priced for this deployment, and notes on any left out for a missing price."""
    profile = meas.profile(model, variant, memory_mb, workload.texts_per_request)
    full = _full_vcpu_profile(meas, model, variant, workload)
    opts, skipped = [], []
    for api in ("http", "rest"):
        cost = estimate(profile, Deployment(model, variant, memory_mb, arch, api), workload, prices)
        opts.append(Option(f"Lambda + {api.upper()} API ({memory_mb} MB, {arch})", cost.monthly,
                           "per request; S3 storage fixed"))
    shared = shared_fees(estimate(profile, Deployment(model, variant, memory_mb, arch, "http"),
                                          workload, prices))
    fargate_hour = (FARGATE_VCPU * prices.get("fargate.vcpu_hour_x86_64")
                    + FARGATE_GB * prices.get("fargate.gb_hour_x86_64"))
    alb = prices.get("elb.alb_hour") * HOURS
    cap = _capacity(full.warm_ms, FARGATE_VCPU)
    opts.append(Option(f"Fargate {FARGATE_VCPU} vCPU/{FARGATE_GB} GB + ALB, always on",
                       lambda r: math.ceil(r / cap) * fargate_hour * HOURS + alb + r * shared,
                       f"{cap / 1e6:.1f}M requests/month per task at {TARGET_UTILISATION:.0%}; ALB LCUs not counted"))
    ec2_month = (prices.get("ec2.t4g_small_hour") + prices.get("ec2.public_ipv4_hour")) * HOURS \
        + EBS_GB * prices.get("ec2.ebs_gp3_gb_month")
    cap_ec2 = _capacity(full.warm_ms, T4G_SMALL_BASELINE_VCPU)
    opts.append(Option("EC2 t4g.small, always on", lambda r: math.ceil(r / cap_ec2) * ec2_month + r * shared,
                       f"{cap_ec2 / 1e6:.1f}M requests/month per instance at its 20 % CPU baseline; "
                       "x86 durations assumed for Graviton"))
    try:
        opts.append(sagemaker_option(meas, prices, workload, model, variant, memory_mb, shared))
    except MissingPriceError as exc:
        skipped.append(f"SageMaker Serverless left out: {exc}")
    return opts, skipped


def _full_vcpu_profile(meas: Measurements, model: str, variant: str, workload: Workload) -> Profile:
    """The measurement nearest one full vCPU (1,769 MB) for sizing always-on boxes."""
    memory = min(meas.memories(model, variant), key=lambda m: abs(m - 1769))
    return meas.profile(model, variant, memory, workload.texts_per_request)


def sagemaker_option(meas: Measurements, prices: PriceBook, workload: Workload, model: str, variant: str,
                     memory_mb: int, shared: float) -> Option:
    """SageMaker Serverless Inference at the smallest size that holds the model, behind a REST API."""
    gb_s = prices.get("sagemaker.serverless_gb_second")
    data = prices.get("sagemaker.serverless_data_gb")
    front = prices.get("apigateway.rest_request")
    size = next((s for s in SAGEMAKER_SIZES_MB if s >= memory_mb), SAGEMAKER_SIZES_MB[-1])
    measured = min(meas.memories(model, variant), key=lambda m: abs(m - size))
    p = meas.profile(model, variant, measured, workload.texts_per_request)
    c = cold_share(p, Deployment(model, variant, max(memory_mb, 128)), workload)
    mean_ms = (1 - c) * billed_ms(p.warm_ms) + c * (billed_ms(p.init_ms) + billed_ms(p.first_ms))
    per_request = (size / 1024 * mean_ms / 1000 * gb_s + (p.request_bytes + p.response_bytes) / GB * data
                   + front + shared)
    return Option(f"SageMaker Serverless ({size} MB) + REST API", lambda r: r * per_request,
                  f"durations measured at {measured} MB; REST API in front (HTTP APIs cannot call SageMaker)")


def break_even(a: Callable[[float], float], b: Callable[[float], float],
               lo: float = 1e3, hi: float = 1e10) -> float | None:
    """The smallest requests/month where option ``a`` stops being cheaper than ``b`` (None: never)."""
    grid = [lo * (hi / lo) ** (i / 400) for i in range(401)]
    for x0, x1 in zip(grid, grid[1:]):
        if a(x0) <= b(x0) and a(x1) > b(x1):
            for _ in range(60):  # bisect; step functions make the crossing a jump, that is fine
                mid = math.sqrt(x0 * x1)
                x0, x1 = (mid, x1) if a(mid) <= b(mid) else (x0, mid)
            return x1
    return None


__all__ = ["Option", "options", "break_even", "sagemaker_option", "shared_fees", "TARGET_UTILISATION"]
