"""Every setting the Lambda functions read, in one place, read once at cold start.

Explicit argument > environment variable > default. Nothing else in functions/ reads
os.environ: handlers call ``Settings.from_env(os.environ)`` once and pass the result on. The
platform's own variables (Lambda, Powertools, serverless-wsgi) that the handlers act on are read
here too, by their owners' rules (``PLATFORM_ENV``).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

# environment variable names (the single list; serverless.yml and the local stack set these)
ENV = {
    "stage": "SNLP_STAGE",
    "artifacts_bucket": "SNLP_ARTIFACTS_BUCKET",
    "data_bucket": "SNLP_DATA_BUCKET",
    "tokens_table": "SNLP_TOKENS_TABLE",
    "jobs_table": "SNLP_JOBS_TABLE",
    "batch_queue_url": "SNLP_BATCH_QUEUE_URL",
    "train_queue_url": "SNLP_TRAIN_QUEUE_URL",
    "preload_models": "SNLP_PRELOAD_MODELS",
    "default_classify_model": "SNLP_DEFAULT_CLASSIFY_MODEL",
    "default_embed_model": "SNLP_DEFAULT_EMBED_MODEL",
    "model_cache_dir": "SNLP_MODEL_CACHE_DIR",
    "cache_max_models": "SNLP_CACHE_MAX_MODELS",
    "cache_max_bytes": "SNLP_CACHE_MAX_BYTES",
    "alias_ttl_s": "SNLP_ALIAS_TTL_S",
    "token_cache_ttl_s": "SNLP_TOKEN_CACHE_TTL_S",
    "usage_flush_requests": "SNLP_USAGE_FLUSH_REQUESTS",
    "usage_flush_interval_s": "SNLP_USAGE_FLUSH_INTERVAL_S",
    "rate_requests_per_minute": "SNLP_RATE_REQUESTS_PER_MINUTE",
    "rate_texts_per_minute": "SNLP_RATE_TEXTS_PER_MINUTE",
    "edge_downloads_per_day": "SNLP_EDGE_DOWNLOADS_PER_DAY",
    "legacy_tokens": "SNLP_LEGACY_TOKENS",
    "auth_enabled": "SNLP_AUTH_ENABLED",
    "max_texts": "SNLP_MAX_TEXTS",
    "max_chars": "SNLP_MAX_CHARS",
    "max_document_chars": "SNLP_MAX_DOCUMENT_CHARS",
    "max_windows": "SNLP_MAX_WINDOWS",
    "max_body_bytes": "SNLP_MAX_BODY_BYTES",
    "truncate": "SNLP_TRUNCATE",
    "threads": "SNLP_THREADS",
    "batch_size": "SNLP_BATCH_SIZE",
    "log_texts": "SNLP_LOG_TEXTS",
    "batch_chunk_bytes": "SNLP_BATCH_CHUNK_BYTES",
    "batch_max_line_bytes": "SNLP_BATCH_MAX_LINE_BYTES",
    "presign_ttl_s": "SNLP_PRESIGN_TTL_S",
    "batch_max_upload_bytes": "SNLP_BATCH_MAX_UPLOAD_BYTES",
    "batch_max_receives": "SNLP_BATCH_MAX_RECEIVES",
    "batch_job_deadline_s": "SNLP_BATCH_JOB_DEADLINE_S",
    "batch_file_max_bytes": "SNLP_BATCH_FILE_MAX_BYTES",
    "access_log_sample_rate": "SNLP_ACCESS_LOG_SAMPLE_RATE",
    "metrics_per_model": "SNLP_METRICS_PER_MODEL",
    "metrics_flush_requests": "SNLP_METRICS_FLUSH_REQUESTS",
    "access_log_fields": "SNLP_ACCESS_LOG_FIELDS",
}
# the platform's own variables (Lambda, Powertools, serverless-wsgi), each read by its owner's rule
# into Settings' platform fields (``platform_values``), so handlers read them from Settings like the rest
PLATFORM_ENV = {
    "function_name": "AWS_LAMBDA_FUNCTION_NAME",
    "trace_disabled": "POWERTOOLS_TRACE_DISABLED",
    "metrics_disabled": "POWERTOOLS_METRICS_DISABLED",
    "dev": "POWERTOOLS_DEV",
    "strip_stage_path": "STRIP_STAGE_PATH",
    "base_path": "API_GATEWAY_BASE_PATH",
}
# what a success's access log line carries (errors always get the full line): functions/api/telemetry.py
ACCESS_LOG_FIELDS = ("full", "lean")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_WSGI_TRUE = ("yes", "y", "true", "t", "1")  # serverless-wsgi's STRIP_STAGE_PATH values


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    stage: str = "local"
    artifacts_bucket: str = ""
    data_bucket: str = ""
    tokens_table: str = ""
    jobs_table: str = ""
    batch_queue_url: str = ""
    train_queue_url: str = ""  # the train function's queue (functions/train); empty: no /v1/train routes
    preload_models: tuple[str, ...] = ()
    default_classify_model: str = "sentiment"
    default_embed_model: str = "minilm-embed"
    model_cache_dir: str = "/tmp/snlp-models"
    cache_max_models: int = 4
    cache_max_bytes: int = 400 * 1024 * 1024  # /tmp is 512 MB by default on Lambda
    alias_ttl_s: float = 60.0
    token_cache_ttl_s: float = 60.0
    # usage is written to DynamoDB every N requests per token (1: before each answer leaves, so
    # nothing served is lost with an instance; functions/auth/usage.py states the tradeoff) ...
    usage_flush_requests: int = 1
    usage_flush_interval_s: float = 5.0  # ... or after this many seconds, whichever comes first
    # per-token rate limits (a token's own values win; 0: no limit), one-minute windows
    rate_requests_per_minute: int = 600
    rate_texts_per_minute: int = 20_000
    # GET /v1/edge/<model> per token per UTC day (0: no cap): each hands out URLs to ~23-31 MB of S3 egress
    # and runs no model, so the texts quota does not bound it. It counts bundles handed out: the page asks
    # for one per page load in edge mode even when its browser cache then serves the files (20 x 31 MB =
    # 620 MB, ~$0.06 of egress a token a day at $0.09/GB)
    edge_downloads_per_day: int = 20
    legacy_tokens: bool = True  # accept tokens issued before the checksum (functions/auth/tokens.py)
    auth_enabled: bool = True
    max_texts: int = 64
    max_chars: int = 2000
    # on_overflow: chunk takes whole documents: this many characters per text (~25k tokens)...
    max_document_chars: int = 100_000
    # ... and at most this many model windows per request (keeps one request well inside the 29 s gateway limit)
    max_windows: int = 256
    max_body_bytes: int = 6 * 1024 * 1024  # Lambda's synchronous payload limit
    truncate: bool = True
    threads: int = 1  # Lambda gives one vCPU per 1,769 MB
    # micro-batch size inside one request / batch job: texts are sorted by length and run 8 at
    # a time, each batch padded only to its own longest text (make bench: ~1.5x the throughput of
    # one batch padded to the longest for 32 tweets, and a smaller onnxruntime arena)
    batch_size: int = 8
    log_texts: bool = False
    batch_chunk_bytes: int = 8 * 1024 * 1024
    batch_max_line_bytes: int = 64 * 1024
    presign_ttl_s: int = 3600
    # one upload URL takes one object of at most this size; a bigger one fails its job before any
    # model is loaded (a presigned PUT cannot cap the size S3 accepts: the worker checks it)
    batch_max_upload_bytes: int = 256 * 1024 * 1024
    batch_max_receives: int = 5  # the queue's redrive maxReceiveCount: the last try before the DLQ
    # a job still running this long after its upload started is shown (and recorded) failed, so
    # no job polls forever; 24 h, the OpenAI Batch API's completion window (docs/batch-scale.md)
    batch_job_deadline_s: int = 24 * 3600
    # POST /v1/files (OpenAI Batch API) takes the file in the request body: API Gateway passes a
    # binary body base64-encoded inside Lambda's 6 MB event, so ~4.4 MB of file at most
    batch_file_max_bytes: int = 4 * 1024 * 1024
    # per-request overhead levers (config/stages.yml): log lines and metric-months are paid fees
    access_log_sample_rate: float = 1.0  # share of successful requests with an access log line
    metrics_per_model: bool = True  # per-model copies of the inference metrics (a metric-month each)
    # EMF lines written once per N invocations (values as lists; up to N-1 invocations' points lost
    # with a discarded environment); at most 100: EMF takes 100 values per metric and document
    metrics_flush_requests: int = 1
    access_log_fields: str = "full"  # full: the Powertools line; lean: a compact line of the billing/debug fields
    # from the platform's variables (PLATFORM_ENV, by their owners' rules: platform_values), not SNLP_*
    tracing: bool = False  # X-Ray, inside Lambda unless disabled (the Tracer costs 200-400 ms at cold start)
    metrics: bool = True  # EMF metric lines (Powertools' rule)
    strip_stage_path: bool = False  # serverless-wsgi's: a REST API stage name left out of the path
    base_path: str = ""  # serverless-wsgi's: a custom domain's base path mapping, left out of the path

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> "Settings":
        values: dict[str, Any] = platform_values(environ)
        types = {f.name: f.type for f in fields(cls)}
        for attr, var in ENV.items():
            if var not in environ:
                continue
            values[attr] = _parse(attr, types[attr], environ[var])
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes: Any) -> "Settings":
        return replace(self, **changes)

    def __post_init__(self) -> None:
        for attr in ("max_texts", "max_chars", "max_document_chars", "max_windows", "max_body_bytes", "threads",
                     "batch_size",
                     "cache_max_models", "cache_max_bytes", "usage_flush_requests",
                     "batch_max_upload_bytes"):
            if getattr(self, attr) <= 0:
                raise SettingsError(f"{ENV[attr]} must be positive")
        if not 1 <= self.metrics_flush_requests <= 100:
            raise SettingsError(f"{ENV['metrics_flush_requests']} must be between 1 and 100")
        if self.access_log_fields not in ACCESS_LOG_FIELDS:
            raise SettingsError(f"{ENV['access_log_fields']} must be one of {', '.join(ACCESS_LOG_FIELDS)}, "
                                f"got {self.access_log_fields!r}")


def tracing_enabled(environ: Mapping[str, str]) -> bool:
    """Trace only inside Lambda and unless POWERTOOLS_TRACE_DISABLED says otherwise."""
    disabled = environ.get(PLATFORM_ENV["trace_disabled"], "").strip().lower() in _TRUE
    return not disabled and bool(environ.get(PLATFORM_ENV["function_name"]))


def metrics_enabled(environ: Mapping[str, str]) -> bool:
    """Powertools' rule: POWERTOOLS_METRICS_DISABLED, else off in POWERTOOLS_DEV mode."""
    disabled = environ.get(PLATFORM_ENV["metrics_disabled"])
    if disabled is not None:
        return disabled.strip().lower() not in _TRUE
    return environ.get(PLATFORM_ENV["dev"], "").strip().lower() not in _TRUE


def platform_values(environ: Mapping[str, str]) -> dict[str, Any]:
    """Settings' platform fields from the platform's variables (PLATFORM_ENV)."""
    return {"tracing": tracing_enabled(environ), "metrics": metrics_enabled(environ),
            "strip_stage_path": environ.get(PLATFORM_ENV["strip_stage_path"], "").lower().strip() in _WSGI_TRUE,
            "base_path": environ.get(PLATFORM_ENV["base_path"]) or ""}


def _parse(attr: str, typ: Any, raw: str) -> Any:
    typ = str(typ)
    try:
        if typ == "bool":
            low = raw.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(raw)
        if typ == "int":
            return int(raw)
        if typ == "float":
            return float(raw)
        if typ.startswith("tuple"):
            return tuple(p.strip() for p in raw.split(",") if p.strip())
        return raw
    except ValueError as exc:
        raise SettingsError(f"{ENV[attr]}={raw!r} is not a valid {typ}") from exc


__all__ = ["Settings", "SettingsError", "ENV", "PLATFORM_ENV", "ACCESS_LOG_FIELDS", "tracing_enabled",
           "metrics_enabled", "platform_values"]
