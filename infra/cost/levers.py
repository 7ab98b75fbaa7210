"""From the stage config to what the model prices: a `Deployment` with every lever the stage sets.

Custom metrics are counted from the names the handlers emit (functions/*/telemetry.py): each
(metric name, dimension set) is one metric-month, prorated by the hours it is published. Metrics
every request or cold start publishes (``STEADY``) count all month; the others (errors, integrity
failures, batch metrics) appear only in hours when that happens: ``EVENT_HOURS_SHARE`` of them,
and ``ERROR_TYPES_SEEN`` distinct per-error copies, both assumptions stated in the report.
"""
from __future__ import annotations

from types import ModuleType

from .model import Deployment, Workload
from .stage_config import StageParams

ERROR_TYPES_SEEN = 5  # distinct problem codes (422, 401, 429 ...) seen in a month: assumed
EVENT_HOURS_SHARE = 0.1  # share of the month's hours in which an event-driven metric is published: assumed
STEADY = ("COLD_START", "MODEL_LOAD_MS", "INFERENCE_MS", "TEXTS", "TOKENS")  # api, every hour with traffic
_NOT_METRICS = {"NAMESPACE", "SERVICE", "MS", "COUNT"}
# api metrics that also get a per-model copy (functions/api/telemetry.py: inference, store_event)
PER_MODEL = ("INFERENCE_MS", "TEXTS", "TOKENS", "MODEL_LOAD_MS", "ARTIFACT_INTEGRITY_FAILURES")


def metric_names(module: ModuleType) -> set[str]:
    return {v for k, v in vars(module).items() if k.isupper() and isinstance(v, str) and k not in _NOT_METRICS}


def custom_metric_count(models: int, per_model: bool = True, error_types: int = ERROR_TYPES_SEEN,
                        event_share: float = EVENT_HOURS_SHARE) -> float:
    """Metric-months both functions create: service-level names + per-model and per-error copies."""
    from functions.api import telemetry as api
    from functions.batch import telemetry as batch

    steady = {getattr(api, k) for k in STEADY}
    model_steady = [k for k in PER_MODEL if k in STEADY]
    count = len(steady) + (len(model_steady) * models if per_model else 0)
    events = (len(metric_names(api) - steady) + len(metric_names(batch)) + error_types
              + (len(PER_MODEL) - len(model_steady)) * models * per_model)
    return count + event_share * events


def deployment(stage: StageParams, model: str, variant: str, memory_mb: int, *, api: str | None = None,
               arch: str | None = None, **changes) -> Deployment:
    """The api function as ``stage`` deploys it, serving ``model``/``variant`` at ``memory_mb``."""
    values = dict(model=model, variant=variant, memory_mb=memory_mb, arch=arch or stage.architecture,
                  api=api or stage.api_type, ephemeral_mb=stage.ephemeral_mb,
                  provisioned_concurrency=stage.provisioned_concurrency, snapstart=stage.snapstart,
                  tracing=stage.tracing, xray_sampling_rate=stage.xray_sampling_rate,
                  xray_reservoir_per_s=stage.xray_reservoir_per_s, log_retention_days=stage.log_retention_days,
                  platform_log_lines=stage.lambda_log_format == "text",
                  access_log_sample_rate=stage.access_log_sample_rate, access_log_fields=stage.access_log_fields,
                  metrics_per_model=stage.metrics_per_model, metrics_flush_requests=stage.metrics_flush_requests,
                  custom_metrics=custom_metric_count(max(1, len(stage.preload_models)), stage.metrics_per_model))
    values.update(changes)
    return Deployment(**values)


def workload(stage: StageParams, requests_per_month: float, texts_per_request: float = 1, **changes) -> Workload:
    """Traffic as the stage meters it: usage written every ``usage_flush_requests`` requests."""
    return Workload(requests_per_month, texts_per_request, usage_flush_requests=stage.usage_flush_requests, **changes)


def usage_flush_bound(stage: StageParams, max_texts: int | None = None) -> str:
    """What buffering usage costs in accuracy (functions/auth/usage.py's guarantees, at N)."""
    from functions.settings import Settings

    n, cap = stage.usage_flush_requests, stage.reserved_concurrency
    texts = max_texts or Settings.max_texts
    envs = f"at most {cap} environments (api_reserved_concurrency)" if cap else "environments are not capped"
    if n == 1:
        return ("usage is written before each answer leaves: nothing lost with an environment; a token may pass its "
                f"daily quota by one request's texts (<= {texts}) per environment that served it that day ({envs})")
    return (f"usage written every {n} requests (or {Settings.usage_flush_interval_s:g} s) per environment and token: "
            f"up to {n - 1} requests' usage (<= {(n - 1) * texts} texts) lost per environment Lambda discards before "
            f"its next write; a token may pass its daily quota by up to {n} requests' texts (<= {n * texts}) per "
            f"environment that served it that day ({envs})")


__all__ = ["workload", "usage_flush_bound", "deployment", "custom_metric_count", "metric_names", "ERROR_TYPES_SEEN"]
