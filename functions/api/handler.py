"""Lambda entry point of the ``api`` function: ``functions.api.handler.handler``.

Cold start (module import): settings read once, clients, artifact store, token store, the
configured models preloaded; the Flask app (with the batch and training job services) only when
a request first needs it. Each invocation: Powertools Logger (with the
request's correlation id) around ``lambda_http`` (HTTP API POSTs to the hot inference routes
answered directly, functions/api/direct.py; other HTTP API events straight into the WSGI app;
others through ``serverless_wsgi.handle_request``, never serverless-wsgi's stock
``wsgi_handler.handler``, which runs commands sent in special events), then the
invocation's metrics as EMF lines (``telemetry.publish``; ColdStart on the first). The Tracer
is imported and created only when tracing is on: it costs 200-400 ms at cold start even when
disabled. Works for HTTP API (payload 2.0) and REST API (1.0) events.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from aws_lambda_powertools.logging import Logger

from functions.auth.tokens import TokenStore
from functions.auth.usage import RateLimits, UsageMeter
from functions.settings import Settings
from functions.store.artifacts import ArtifactStore
from functions.store.clients import default_dynamodb_client, default_s3_client

from . import jsonio, lambda_http, snapstart
from .context import ApiServices
from .direct import DirectRoutes, hot_routes
from .telemetry import SERVICE, Telemetry, cold_start_point, publish

CORRELATION_HEADERS = ("x-request-id", "x-correlation-id")


class LazyApp:
    """The Flask app, built on its first use (a request the direct path does not answer, a test
    client, SnapStart's snapshot): the hot routes need none of Flask, so a cold start imports none
    of it (Flask, werkzeug, jinja2, the other routes' modules). A WSGI app; attributes are the app's."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build, self._app, self._lock = build, None, threading.Lock()

    def build(self) -> Any:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._build()
        return self._app

    @property
    def built(self) -> bool:
        return self._app is not None

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        return self.build()(environ, start_response)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.build(), name)


@dataclass
class Runtime:
    settings: Settings
    app: Any  # LazyApp (the Flask app)
    store: ArtifactStore
    telemetry: Telemetry
    logger: Logger
    preloaded: dict[str, str | None]
    services: ApiServices  # what the direct path and the Flask app serve with


def build_runtime(environ: Mapping[str, str], *, s3_client: Any = None, dynamodb_client: Any = None,
                  logger: Logger | None = None) -> Runtime:
    """Everything a warm invocation reuses; tests pass moto-backed clients."""
    settings = Settings.from_env(environ)
    logger = logger or Logger(service=SERVICE, json_serializer=jsonio.log_line, json_deserializer=jsonio.log_message)
    telemetry = Telemetry(per_model=settings.metrics_per_model, flush_every=settings.metrics_flush_requests)
    session = _session() if s3_client is None or dynamodb_client is None else None
    store_s3 = s3_client or default_s3_client(session=session)
    store = ArtifactStore.from_settings(settings, store_s3, on_event=telemetry.store_event)
    tokens = meter = None
    ddb = None
    if settings.auth_enabled or settings.jobs_table:
        ddb = dynamodb_client or default_dynamodb_client(session=session)
    if settings.auth_enabled:
        tokens = TokenStore(ddb, settings.tokens_table, cache_ttl_s=settings.token_cache_ttl_s,
                            accept_legacy=settings.legacy_tokens)
        meter = UsageMeter(ddb, settings.tokens_table, flush_every=settings.usage_flush_requests,
                           flush_interval_s=settings.usage_flush_interval_s,
                           limits=RateLimits(settings.rate_requests_per_minute, settings.rate_texts_per_minute),
                           on_error=lambda exc: logger.warning("usage write failed: answered 503 and refunded "
                                                               "(buffered stages: kept for the next write)",
                                                               extra={"error": type(exc).__name__}))
    services = ApiServices(settings=settings, store=store, tokens=tokens, meter=meter, telemetry=telemetry,
                           clock=time.perf_counter, logger=logger)

    def build_app() -> Any:
        """The Flask app with the batch and training job services: only its routes use them, so
        the hot routes' cold start neither imports boto3 (functions.batch.jobs) nor creates the
        SQS client (bench cold start, "as prod deploys it" row)."""
        from .app import create_app

        jobs = None
        if settings.jobs_table and settings.data_bucket:
            from functions.batch.jobs import JobService  # it imports boto3

            jobs = JobService.from_settings(settings, store_s3, ddb, store=store)
        return create_app(settings, store, tokens, meter=meter, telemetry=telemetry, logger=logger, jobs=jobs,
                          train_jobs=train_jobs(settings, store_s3, ddb, session), services=services)

    app = LazyApp(build_app)
    preloaded = store.preload(settings.preload_models)
    for ref, problem in preloaded.items():
        if problem:
            logger.warning("preload failed", extra={"model": ref, "detail": problem})
    return Runtime(settings, app, store, telemetry, logger, preloaded, services)


def train_jobs(settings: Settings, s3: Any, ddb: Any, session: Any = None) -> Any:
    """The training-job service when the stage has a train queue (functions/train), else None."""
    if not (settings.train_queue_url and settings.jobs_table and settings.data_bucket):
        return None
    from functions.store.clients import default_client
    from functions.train.jobs import TrainJobs, TrainLedger

    refund = None
    if settings.auth_enabled and settings.tokens_table:
        from functions.auth.usage import Ticket, settle

        def refund(reservation: dict[str, Any]) -> None:  # a job whose worker is gone ran nothing billable
            ticket = Ticket(str(reservation["token_id"]), str(reservation["day"]), int(reservation["texts"]))
            settle(ddb, settings.tokens_table, ticket, texts=0, requests=0)

    return TrainJobs(s3, default_client("sqs", session=session or _session()),
                     TrainLedger(ddb, settings.jobs_table), bucket=settings.data_bucket,
                     queue_url=settings.train_queue_url, refund=refund)


def _session() -> Any:
    """One botocore session for every client: each new session reloads botocore's data files.
    botocore's own (not boto3's): the API calls no boto3 extra (S3 transfers, resources), and
    boto3 + its S3 injections cost a cold start tens of milliseconds for nothing."""
    import botocore.session

    return botocore.session.get_session()


def correlation_id(event: Mapping[str, Any], context: Any = None) -> str | None:
    headers = event.get("headers") or {}
    lowered = {str(k).lower(): v for k, v in headers.items()}
    for name in CORRELATION_HEADERS:
        if lowered.get(name):
            return str(lowered[name])[:128]
    rid = (event.get("requestContext") or {}).get("requestId")
    return str(rid) if rid else getattr(context, "aws_request_id", None)


def strip_stage(event: dict[str, Any]) -> dict[str, Any]:
    """HTTP API named stages keep the stage in rawPath; routes are matched without it."""
    stage = (event.get("requestContext") or {}).get("stage")
    raw = event.get("rawPath")
    if event.get("version") == "2.0" and stage and stage != "$default" and isinstance(raw, str) \
            and raw.startswith(f"/{stage}/"):
        return {**event, "rawPath": raw[len(stage) + 1:]}
    return event


def make_handler(runtime: Runtime, *, tracing: bool = False, metrics: bool | None = None,
                 direct: bool = True) -> Callable[[dict, Any], dict]:
    """The invocation entry point; ``metrics`` None: as the settings say (``Settings.metrics``);
    ``direct`` False: every request through Flask (tests compare the two)."""
    metrics = runtime.settings.metrics if metrics is None else metrics
    logger = runtime.logger
    meter = runtime.services.meter
    cold = [True]  # the first invocation of this instance publishes ColdStart
    serve = lambda_http.make(runtime.app, runtime.settings,
                             direct=DirectRoutes(runtime.services, hot_routes()) if direct else None)

    def handler(event: dict, context: Any) -> dict:
        logger.set_correlation_id(correlation_id(event, context))
        try:
            return serve(strip_stage(event), context)
        finally:
            if meter is not None:  # usage still pending (refunds; full buffers) is written now:
                meter.flush_due()  # Lambda may freeze or discard the instance once we return
            extra = ()
            if cold:
                cold.clear()
                extra = (cold_start_point(str(getattr(context, "function_name", ""))),)
            publish(runtime.telemetry, extra=extra, enabled=metrics)

    if tracing:
        from aws_lambda_powertools.tracing import Tracer  # only now: it is expensive to create

        handler = Tracer(service=SERVICE).capture_lambda_handler(handler, capture_response=False)
    return logger.inject_lambda_context(handler, log_event=False)


RUNTIME = build_runtime(os.environ)
snapstart.install(RUNTIME)  # hooks run only where SnapStart snapshots and restores (api_snapstart)
handler = make_handler(RUNTIME, tracing=RUNTIME.settings.tracing)

__all__ = ["handler", "build_runtime", "make_handler", "Runtime", "LazyApp", "correlation_id", "strip_stage"]
