"""The Flask app factory: routes, auth, limits and the one error handler.

Order of checks on every request: token in the query string (400, before anything could log
it) -> routing (404/405) -> body size (413, before parsing) -> access token (401/403/503)
-> the route (400/415/422/404/429/503). Health and the API docs are public. The checks, the
error answers, the closing headers and the access line are functions/api/gate.py's, shared
with the direct path for hot HTTP API routes (functions/api/direct.py, built here too).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

from flask import Flask, Response, request

from functions.settings import Settings

from . import (current, gate, routes_docs, routes_edge, routes_models, routes_native, routes_openai, routes_sharing,
               routes_tfserving, routes_v2)
from .context import ApiServices, RequestFacts
from .direct import DirectRoutes, hot_routes
from .gate import QUERY_SECRETS, error_style
from .routes_batch import batch_blueprint
from .routes_openai_batch import openai_batch_blueprint
from .routes_usage import register as register_usage
from .routes_web import web_blueprint
from .telemetry import Telemetry

# web: the page signs in itself; v2 health is the protocol's liveness probe, like /health
PUBLIC_ENDPOINTS = frozenset({"health", "openapi", "docs", "static", "web.index", "web.asset", "web.vendor", *routes_v2.PUBLIC})
STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings, store: Any, tokens: Any | None, *, meter: Any | None = None,
               clock: Callable[[], float] = time.perf_counter, telemetry: Telemetry | None = None,
               logger: Any | None = None, jobs: Any | None = None, train_jobs: Any | None = None,
               services: ApiServices | None = None) -> Flask:
    """Build the API. ``tokens``: .authenticate(token); ``meter``: usage/quota (None: not metered);
    ``jobs``: the batch job service (functions.batch.jobs.JobService; None: no /v1/batch routes);
    ``train_jobs``: training jobs (functions.train.jobs.TrainJobs; None: no /v1/train routes);
    ``services``: the ApiServices to serve with (the Lambda handler's, shared with its direct path),
    else built here from the other arguments."""
    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static")
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    ctx = services or ApiServices(settings=settings, store=store, tokens=tokens, meter=meter,
                                  telemetry=telemetry or Telemetry(), clock=clock,
                                  logger=logger or logging.getLogger("snlp.api"))
    app.extensions["snlp"] = ctx
    app.extensions["snlp_public_endpoints"] = PUBLIC_ENDPOINTS
    max_body = settings.max_body_bytes

    @app.before_request
    def _gate() -> None:
        req = request._get_current_object()  # one proxy lookup for the whole gate
        # the request's facts: kept for the views and the after hook in one place (functions/api/current.py),
        # handed on as an argument from there (the direct path keeps them local: functions/api/direct.py)
        seen = current.begin(RequestFacts(clock(), gate.request_id(req.headers, req.environ.get("serverless.event"))))
        if req.query_string:
            gate.check_query(req.args)
        if req.routing_exception is not None:
            raise req.routing_exception
        gate.check_length(max_body, req.content_length)
        if req.method in gate.BODY_METHODS:
            gate.check_body(max_body, req.get_data(cache=True))
        if req.endpoint not in PUBLIC_ENDPOINTS:
            seen.principal = ctx.authenticate(req.headers)

    @app.after_request
    def _finish(response: Response) -> Response:
        seen = current.begun()
        response.headers.update(gate.finish_headers(ctx, seen))
        gate.access_log(ctx, response.status_code, seen, request.method, request.path)
        return response

    @app.errorhandler(Exception)
    def _error(exc: Exception) -> Response:
        status, headers, body, content_type = gate.problem(ctx, exc, request.method, request.path, current.begun())
        return Response(body, status=status, headers=headers, content_type=content_type)

    routes_native.register(app, ctx)
    routes_models.register(app, ctx)
    routes_sharing.register(app, ctx)
    routes_tfserving.register(app, ctx)
    routes_v2.register(app, ctx)
    routes_openai.register(app, ctx)
    routes_docs.register(app, ctx)
    register_usage(app, ctx)
    if jobs is not None:
        app.register_blueprint(batch_blueprint(jobs, current.principal))
        app.register_blueprint(openai_batch_blueprint(openai_batches(jobs, settings, store), current.principal))
    if train_jobs is not None:
        from .routes_train import train_blueprint  # only where training is on: it imports the batch ledger (boto3)

        app.register_blueprint(train_blueprint(ctx, train_jobs))
    routes_edge.register(app, ctx)
    # the hot routes once more, for HTTP API events without Flask (functions/api/lambda_http.py asks)
    app.extensions["snlp_direct"] = DirectRoutes(ctx, hot_routes())
    app.register_blueprint(web_blueprint(s3_origins=lambda: _bucket_origins(store, settings)))  # GET / (the web page) and /app/* assets: infra issue 7
    return app


def _bucket_origins(store: Any, settings: Settings) -> list[str]:
    """The S3 origins the page talks to (presigned URLs of both buckets), for its CSP."""
    reader = getattr(store, "s3", None)
    client = getattr(reader, "client", None)
    if client is None or not hasattr(client, "generate_presigned_url"):
        return []
    from functions.batch.jobs import sigv4_client

    buckets = [settings.artifacts_bucket, settings.data_bucket]
    # presigned URLs come from SigV4 clients (uploads, downloads, edge models): their origins, exactly
    return sorted(set(routes_edge.s3_origins(client, buckets) + routes_edge.s3_origins(sigv4_client(client), buckets)))


def openai_batches(jobs: Any, settings: Settings, store: Any) -> Any:
    """The OpenAI Batch API's service over the batch job service (same jobs, same admission)."""
    from functions.batch.openai_batch import OpenAIBatches

    task_of = (lambda ref: store.manifest(ref).task) if hasattr(store, "manifest") else None
    return OpenAIBatches(jobs, max_file_bytes=settings.batch_file_max_bytes, task_of=task_of,
                         default_models={"embed": settings.default_embed_model,
                                         "classify": settings.default_classify_model})


__all__ = ["create_app", "error_style", "PUBLIC_ENDPOINTS", "QUERY_SECRETS"]
