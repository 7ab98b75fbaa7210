"""Stage parameters (the cost levers) from config/stages.yml: load, validate, name resources.

One file is the source of truth: serverless.yml reads it with ``${file(config/stages.yml):...}``,
``make package`` validates it here first, the local stack takes its resource names from
``resource_names`` and the cost model reads the same stage parameters. The command line
(``python -m infra.stages check|names``) lives in :mod:`infra.stages`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from functions.nlp.errors import ModelNotFoundError
from functions.settings import ACCESS_LOG_FIELDS
from functions.store.refs import parse_ref
from functions.train.queue import DLQ_SUFFIX

REPO = Path(__file__).resolve().parent.parent
CONFIG_FILE = REPO / "config" / "stages.yml"
DIST = REPO / "model_artifacts" / "dist"

ARCHITECTURES = ("x86_64", "arm64")
API_TYPES = ("http", "rest", "url")  # url: a Lambda function URL (auth NONE; our tokens)
FREE_EPHEMERAL_MB, MAX_EPHEMERAL_MB = 512, 10240
LAMBDA_LOG_FORMATS = ("text", "json_quiet")  # infra/serverless/lambda-logs.yml
MEMORY_MIN_MB, MEMORY_MAX_MB = 128, 10240
MB_PER_VCPU = 1769
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account: the local stack uses the same names
# CloudWatch Logs accepts only these retention periods
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
                      1827, 2192, 2557, 2922, 3288, 3653)
_STAGE_RE = re.compile(r"^[a-z][a-z0-9-]{0,11}$")


class ConfigError(ValueError):
    """The stage configuration cannot be deployed."""


@dataclass(frozen=True)
class StageConfig:
    """One stage's parameters, validated."""

    stage: str
    architecture: str
    api_type: str
    api_memory_mb: int
    api_timeout_s: int
    api_threads: int
    api_provisioned_concurrency: int
    api_reserved_concurrency: int | None
    api_snapstart: bool
    api_ephemeral_mb: int
    batch_memory_mb: int
    batch_timeout_s: int
    batch_visibility_timeout_s: int
    batch_threads: int
    batch_reserved_concurrency: int | None
    batch_size: int
    batch_window_s: int
    batch_max_receive_count: int
    preload_models: tuple[str, ...]
    log_retention_days: int
    tracing: bool
    xray_sampling_rate: float
    xray_reservoir_per_s: int
    powertools_trace_disabled: bool
    access_log_sample_rate: float
    access_log_fields: str
    metrics_per_model: bool
    metrics_flush_requests: int
    lambda_log_format: str
    results_expire_days: int
    incoming_expire_days: int
    alarm_5xx_rate_pct: float
    alarm_p99_latency_ms: float
    alarm_email: str
    api_throttle_rate: int
    api_throttle_burst: int
    api_rate_requests_per_minute: int
    api_rate_texts_per_minute: int
    legacy_tokens: bool
    usage_flush_requests: int
    price_per_1000_texts: float


@dataclass(frozen=True)
class Config:
    service: str
    region: str
    runtime: str
    deploy_unzipped_max_mb: float
    layer_goal_mb: float
    stages: Mapping[str, StageConfig]

    def stage(self, name: str) -> StageConfig:
        if name not in self.stages:
            raise ConfigError(f"unknown stage {name!r}: known stages are {', '.join(sorted(self.stages))}"
                              f" (add it to {CONFIG_FILE.name})")
        return self.stages[name]


def load_config(path: Path | str = CONFIG_FILE) -> Config:
    """Read and validate every stage in the file; raise ConfigError naming the bad key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("stages"), dict) or not raw["stages"]:
        raise ConfigError(f"{path}: needs a 'stages' mapping with at least one stage")
    limits = raw.get("limits") or {}
    stages = {name: _stage(str(name), values) for name, values in raw["stages"].items()}
    return Config(service=str(raw.get("service", "serverless-nlp")),
                  region=str(raw.get("region", "us-east-1")),
                  runtime=str(raw.get("runtime", "python3.12")),
                  deploy_unzipped_max_mb=float(limits.get("deploy_unzipped_max_mb", 250)),
                  layer_goal_mb=float(limits.get("layer_goal_mb", 120)),
                  stages=stages)


def _stage(name: str, values: Any) -> StageConfig:
    where = f"stages.{name}"
    if not _STAGE_RE.match(name):
        raise ConfigError(f"{where}: stage names are lowercase letters, digits and '-', at most 12 chars"
                          " (they end up in bucket names)")
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping of parameters")
    known = {f.name for f in fields(StageConfig)} - {"stage"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown parameter(s) {', '.join(unknown)}")
    missing = sorted(known - set(values))
    if missing:
        raise ConfigError(f"{where}: missing parameter(s) {', '.join(missing)}")
    v = dict(values)
    arch = v["architecture"]
    if arch not in ARCHITECTURES:
        raise ConfigError(f"{where}.architecture: unknown architecture {arch!r}; use one of {', '.join(ARCHITECTURES)}")
    if v["api_type"] not in API_TYPES:
        raise ConfigError(f"{where}.api_type: {v['api_type']!r} is not one of {', '.join(API_TYPES)}")
    for fn in ("api", "batch"):
        mem = _int(v, f"{fn}_memory_mb", where)
        if not MEMORY_MIN_MB <= mem <= MEMORY_MAX_MB:
            raise ConfigError(f"{where}.{fn}_memory_mb: {mem} MB is outside the Lambda range "
                              f"{MEMORY_MIN_MB}-{MEMORY_MAX_MB} MB")
        threads = _int(v, f"{fn}_threads", where, minimum=1)
        vcpus = -(-mem // MB_PER_VCPU)
        if threads > vcpus:
            raise ConfigError(f"{where}.{fn}_threads: {threads} threads but {mem} MB gives "
                              f"{vcpus} vCPU (one per {MB_PER_VCPU} MB)")
        _optional_int(v, f"{fn}_reserved_concurrency", where, minimum=1)
    if _int(v, "api_timeout_s", where, minimum=1) > 29 and v["api_type"] == "http":
        raise ConfigError(f"{where}.api_timeout_s: API Gateway integrations time out after 29 s")
    if _int(v, "batch_timeout_s", where, minimum=1) > 900:
        raise ConfigError(f"{where}.batch_timeout_s: Lambda's maximum is 900 s")
    visibility = _int(v, "batch_visibility_timeout_s", where, minimum=1)
    if not v["batch_timeout_s"] <= visibility <= 43200:
        raise ConfigError(f"{where}.batch_visibility_timeout_s: {visibility} s must be at least "
                          f"batch_timeout_s ({v['batch_timeout_s']} s) and at most 43200 s")
    _int(v, "api_provisioned_concurrency", where, minimum=0)
    _startup_levers(v, where)
    _int(v, "batch_size", where, minimum=1)
    _int(v, "batch_window_s", where, minimum=0)
    _int(v, "batch_max_receive_count", where, minimum=1)
    for key in ("results_expire_days", "incoming_expire_days", "api_throttle_rate", "api_throttle_burst",
                "usage_flush_requests"):
        _int(v, key, where, minimum=1)
    _int(v, "metrics_flush_requests", where, minimum=1)
    if v["metrics_flush_requests"] > 100:  # EMF: at most 100 values per metric in one document
        raise ConfigError(f"{where}.metrics_flush_requests: at most 100, got {v['metrics_flush_requests']}")
    for key in ("api_rate_requests_per_minute", "api_rate_texts_per_minute"):
        _int(v, key, where, minimum=0)
    price = v["price_per_1000_texts"]
    if not isinstance(price, (int, float)) or isinstance(price, bool) or price < 0:
        raise ConfigError(f"{where}.price_per_1000_texts: expected a price >= 0 (USD), got {price!r}")
    if v["log_retention_days"] not in LOG_RETENTION_DAYS:
        raise ConfigError(f"{where}.log_retention_days: {v['log_retention_days']!r} is not a CloudWatch "
                          f"retention period ({', '.join(map(str, LOG_RETENTION_DAYS[:8]))}, ...)")
    for key in ("xray_sampling_rate", "access_log_sample_rate"):
        if not isinstance(v[key], (int, float)) or isinstance(v[key], bool) or not 0 <= v[key] <= 1:
            raise ConfigError(f"{where}.{key}: expected a share between 0 and 1, got {v[key]!r}")
    _int(v, "xray_reservoir_per_s", where, minimum=0)
    if v["access_log_fields"] not in ACCESS_LOG_FIELDS:
        raise ConfigError(f"{where}.access_log_fields: {v['access_log_fields']!r} is not one of "
                          f"{', '.join(ACCESS_LOG_FIELDS)}")
    if v["lambda_log_format"] not in LAMBDA_LOG_FORMATS:
        raise ConfigError(f"{where}.lambda_log_format: {v['lambda_log_format']!r} is not one of "
                          f"{', '.join(LAMBDA_LOG_FORMATS)}")
    for key in ("tracing", "powertools_trace_disabled", "api_snapstart", "metrics_per_model", "legacy_tokens"):
        if not isinstance(v[key], bool):
            raise ConfigError(f"{where}.{key}: expected true or false, got {v[key]!r}")
    for key in ("alarm_5xx_rate_pct", "alarm_p99_latency_ms"):
        if not isinstance(v[key], (int, float)) or isinstance(v[key], bool) or v[key] <= 0:
            raise ConfigError(f"{where}.{key}: expected a positive number, got {v[key]!r}")
    v["preload_models"] = parse_model_refs(v["preload_models"], f"{where}.preload_models")
    v["alarm_email"] = str(v["alarm_email"] or "")
    return StageConfig(stage=name, **v)


def _startup_levers(v: dict, where: str) -> None:
    """SnapStart, provisioned concurrency, /tmp size and the function URL's cap, as AWS allows them."""
    eph = _int(v, "api_ephemeral_mb", where, minimum=FREE_EPHEMERAL_MB)
    if eph > MAX_EPHEMERAL_MB:
        raise ConfigError(f"{where}.api_ephemeral_mb: Lambda allows {FREE_EPHEMERAL_MB}-{MAX_EPHEMERAL_MB} MB of /tmp")
    if v["api_snapstart"] is True and (v["api_provisioned_concurrency"] or eph > FREE_EPHEMERAL_MB):
        raise ConfigError(f"{where}.api_snapstart: SnapStart works with neither provisioned concurrency "
                          f"nor /tmp above {FREE_EPHEMERAL_MB} MB (api_ephemeral_mb)")
    if v["api_type"] == "url" and v["api_reserved_concurrency"] is None:
        raise ConfigError(f"{where}.api_reserved_concurrency: api_type url has no gateway throttling; "
                          "reserved concurrency is its cap, so set it (e.g. 20)")


def _int(v: dict, key: str, where: str, minimum: int = 0) -> int:
    value = v[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{where}.{key}: expected an integer >= {minimum}, got {value!r}")
    return value


def _optional_int(v: dict, key: str, where: str, minimum: int) -> int | None:
    if v[key] is None:
        return None
    if v[key] == 0:
        raise ConfigError(f"{where}.{key}: 0 would stop the function entirely; use null for no reservation")
    return _int(v, key, where, minimum)


def parse_model_refs(value: Any, where: str = "preload_models") -> tuple[str, ...]:
    """'a,b:fp32,c@v1' -> validated refs, in order (the grammar of functions.store.refs.parse_ref)."""
    if value is None or value == "":
        return ()
    if not isinstance(value, str):
        raise ConfigError(f"{where}: write the models as one comma-separated string (it becomes "
                          f"SNLP_PRELOAD_MODELS), got {value!r}")
    items = value.split(",")
    refs = tuple(str(item).strip() for item in items if str(item).strip())
    for ref in refs:
        try:
            parse_ref(ref)
        except ModelNotFoundError:
            raise ConfigError(f"{where}: {ref!r} is not a model reference (name, name:alias or name@version)") from None
    return refs


def resource_names(stage: str, account_id: str = LOCAL_ACCOUNT_ID, service: str = "serverless-nlp") -> dict[str, str]:
    """Physical names of every named resource; serverless.yml builds the same names (tested)."""
    base = f"{service}-{stage}"
    return {
        "stack": base,
        "artifacts_bucket": f"{base}-artifacts-{account_id}",
        "data_bucket": f"{base}-data-{account_id}",
        "tokens_table": f"{base}-tokens",
        "jobs_table": f"{base}-jobs",
        "batch_queue": f"{base}-batch",
        "batch_dlq": f"{base}-batch{DLQ_SUFFIX}",
        "train_queue": f"{base}-train",
        "train_dlq": f"{base}-train{DLQ_SUFFIX}",
        "train_function": f"{base}-train",
        "api_function": f"{base}-api",
        "batch_function": f"{base}-batch",
        "alarm_topic": f"{base}-alarms",
        "dashboard": base,
    }


def function_environment(cfg: StageConfig, function: str, names: Mapping[str, str],
                         queue_url: str) -> dict[str, str]:
    """Environment of one function (keys from functions/settings.py ENV); serverless.yml sets the same."""
    from functions.settings import ENV

    threads = cfg.api_threads if function == "api" else cfg.batch_threads
    return {
        ENV["stage"]: cfg.stage,
        ENV["artifacts_bucket"]: names["artifacts_bucket"],
        ENV["data_bucket"]: names["data_bucket"],
        ENV["tokens_table"]: names["tokens_table"],
        ENV["jobs_table"]: names["jobs_table"],
        ENV["batch_queue_url"]: queue_url,
        ENV["train_queue_url"]: names.get("train_queue_url", ""),  # empty: no /v1/train routes
        ENV["preload_models"]: ",".join(cfg.preload_models) if function == "api" else "",
        ENV["threads"]: str(threads),
        **({ENV["batch_max_receives"]: str(cfg.batch_max_receive_count)} if function == "batch" else {}),
        **({ENV["access_log_sample_rate"]: f"{cfg.access_log_sample_rate:g}",  # as osls renders it: 1, 0.1
            ENV["access_log_fields"]: cfg.access_log_fields,
            ENV["metrics_per_model"]: str(cfg.metrics_per_model).lower(),
            ENV["metrics_flush_requests"]: str(cfg.metrics_flush_requests),
            ENV["rate_requests_per_minute"]: str(cfg.api_rate_requests_per_minute),
            ENV["rate_texts_per_minute"]: str(cfg.api_rate_texts_per_minute),
            ENV["legacy_tokens"]: str(cfg.legacy_tokens).lower(),
            ENV["usage_flush_requests"]: str(cfg.usage_flush_requests)} if function == "api" else {}),
        "POWERTOOLS_SERVICE_NAME": function,
        "POWERTOOLS_METRICS_NAMESPACE": "ServerlessNLP",
        "POWERTOOLS_TRACE_DISABLED": str(cfg.powertools_trace_disabled).lower(),
    }
