"""The Flask app factory: routes, auth, limits and the one error handler.

Order of checks on every request: token in the query string (400, before anything could log
it) -> routing (404/405) -> body size (413, before parsing) -> access token (401/403/503)
-> the route (400/415/422/404/429/503). Health and the API docs are public.
"""
from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from functions.settings import Settings

from . import routes_docs, routes_edge, routes_openai_batch, routes_models, routes_native, routes_openai, routes_tfserving, routes_v2
from .context import ApiServices, RequestFacts
from .errors import (ApiError, MethodNotAllowedError, PayloadTooLargeError, RouteNotFoundError, TokenInQueryError,
                     problem_payload, to_problem)
from .routes_batch import batch_blueprint
from .routes_openai_batch import openai_batch_blueprint
from .routes_usage import rate_limit_headers
from .routes_usage import register as register_usage
from .routes_web import web_blueprint
from .telemetry import Telemetry, keep_access_log, write_access_log

# web: the page signs in itself; v2 health is the protocol's liveness probe, like /health
PUBLIC_ENDPOINTS = frozenset({"health", "openapi", "docs", "static", "web.index", "web.asset", "web.vendor", *routes_v2.PUBLIC})
QUERY_SECRETS = ("token", "api_key", "apikey", "access_token", "key")
REQUEST_ID_HEADERS = ("x-request-id", "x-correlation-id")
STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings, store: Any, tokens: Any | None, *, meter: Any | None = None,
               clock: Callable[[], float] = time.perf_counter, telemetry: Telemetry | None = None,
               logger: Any | None = None, jobs: Any | None = None, train_jobs: Any | None = None) -> Flask:
    """Build the API. ``tokens``: .authenticate(token); ``meter``: usage/quota (None: not metered);
    ``jobs``: the batch job service (functions.batch.jobs.JobService; None: no /v1/batch routes);
    ``train_jobs``: training jobs (functions.train.jobs.TrainJobs; None: no /v1/train routes)."""
    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static")
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    ctx = ApiServices(settings=settings, store=store, tokens=tokens, meter=meter,
                     telemetry=telemetry or Telemetry(), clock=clock,
                     logger=logger or logging.getLogger("snlp.api"))
    app.extensions["snlp"] = ctx
    app.extensions["snlp_public_endpoints"] = PUBLIC_ENDPOINTS
    max_body = settings.max_body_bytes

    @app.before_request
    def _gate() -> None:
        req = request._get_current_object()  # one proxy lookup for the whole gate
        seen = g.facts = RequestFacts(clock(), request_id(req))
        if req.query_string and any(k.lower() in QUERY_SECRETS for k in req.args):
            raise TokenInQueryError("tokens in the URL end up in access logs: send it in the Authorization "
                                    "header (Bearer) or x-api-key instead; consider this token exposed")
        if req.routing_exception is not None:
            raise req.routing_exception
        length = req.content_length
        if length is not None and length > max_body:
            raise PayloadTooLargeError(f"the body has {length} bytes; the limit is {max_body}")
        if req.method in ("POST", "PUT", "PATCH") and len(req.get_data(cache=True)) > max_body:
            raise PayloadTooLargeError(f"the body is over the limit of {max_body} bytes")
        if req.endpoint not in PUBLIC_ENDPOINTS:
            g.principal = seen.principal = ctx.authenticate()

    @app.after_request
    def _finish(response: Response) -> Response:
        seen: RequestFacts | None = g.get("facts")
        principal = seen.principal if seen is not None else None
        response.headers["x-request-id"] = seen.request_id if seen is not None else ""
        if principal is not None and ctx.meter is not None and ctx.auth_enabled:
            response.headers.update(rate_limit_headers(ctx.meter.rate_status(principal)))
        _access_log(ctx, response.status_code, seen)
        return response

    @app.errorhandler(Exception)
    def _error(exc: Exception) -> Response:
        exc = _from_werkzeug(exc)
        problem = to_problem(exc)
        rid = _request_id_of(g.get("facts"))
        if problem.code == "internal":
            ctx.logger.exception("unhandled error", extra={"path": request.path, "request_id": rid})
        elif problem.status >= 500:
            ctx.logger.warning("unavailable", extra={"code": problem.code, "detail": getattr(exc, "detail", ""),
                                                     "path": request.path})
        ctx.telemetry.error(problem.code)
        body, content_type = problem_payload(problem, request.path, rid, style=error_style(request.path))
        response = Response(body, status=problem.status, headers=problem.headers, content_type=content_type)
        return response

    routes_native.register(app, ctx)
    routes_models.register(app, ctx)
    routes_tfserving.register(app, ctx)
    routes_v2.register(app, ctx)
    routes_openai.register(app, ctx)
    routes_docs.register(app, ctx)
    register_usage(app, ctx)
    if jobs is not None:
        app.register_blueprint(batch_blueprint(jobs, lambda: g.principal))
        app.register_blueprint(openai_batch_blueprint(openai_batches(jobs, settings, store), lambda: g.principal))
    if train_jobs is not None:
        from .routes_train import train_blueprint  # only where training is on: it imports the batch ledger (boto3)

        app.register_blueprint(train_blueprint(ctx, train_jobs))
    routes_edge.register(app, ctx)
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


def error_style(path: str) -> str:
    if routes_tfserving.is_tfserving_path(path) or routes_v2.is_v2_path(path):
        return "tfserving"  # both protocols answer errors as {"error": "..."}
    if path == "/v1/embeddings" or path.startswith(routes_openai_batch.PATHS):
        return "openai"
    return "problem"


def openai_batches(jobs: Any, settings: Settings, store: Any) -> Any:
    """The OpenAI Batch API's service over the batch job service (same jobs, same admission)."""
    from functions.batch.openai_batch import OpenAIBatches

    task_of = (lambda ref: store.manifest(ref).task) if hasattr(store, "manifest") else None
    return OpenAIBatches(jobs, max_file_bytes=settings.batch_file_max_bytes, task_of=task_of,
                         default_models={"embed": settings.default_embed_model,
                                         "classify": settings.default_classify_model})


def request_id(req: Any) -> str:
    """The caller's x-request-id / x-correlation-id, else API Gateway's requestId, else a new one."""
    for header in REQUEST_ID_HEADERS:
        value = req.headers.get(header)
        if value and len(value) <= 128 and value.isprintable():
            return value
    event = req.environ.get("serverless.event") or {}
    rid = (event.get("requestContext") or {}).get("requestId")
    return str(rid) if rid else uuid.uuid4().hex


def _from_werkzeug(exc: Exception) -> Exception:
    if not isinstance(exc, HTTPException):
        return exc
    if isinstance(exc, NotFound):
        return RouteNotFoundError(f"no route {request.method} {request.path[:200]}")
    if isinstance(exc, MethodNotAllowed):
        allow = ", ".join(sorted(exc.valid_methods or ()))
        return MethodNotAllowedError(f"{request.method} is not allowed here; use {allow}", headers={"Allow": allow})
    if isinstance(exc, RequestEntityTooLarge):
        return PayloadTooLargeError("the request body is over the size limit")
    return ApiError("the request could not be understood")


def _request_id_of(seen: RequestFacts | None) -> str | None:
    return seen.request_id if seen is not None else None


def _access_log(ctx: ApiServices, status: int, seen: RequestFacts | None) -> None:
    """One line per request (successes sampled per stage); never the token, never the texts."""
    if not keep_access_log(status, ctx.settings.access_log_sample_rate, _request_id_of(seen) or ""):
        return
    seen = seen or RequestFacts(ctx.clock(), None)  # failed before the gate ran
    principal = seen.principal
    req = request._get_current_object()
    write_access_log(ctx.logger, ctx.settings.access_log_fields, status,
                     {"input": seen.input_texts} if ctx.settings.log_texts else None,
                     method=req.method, path=req.path, request_id=seen.request_id,
                     token_id=principal.token_id if principal is not None else None, model=seen.model,
                     texts=seen.texts, tokens=seen.tokens, ms=round((ctx.clock() - seen.t0) * 1e3, 3))


__all__ = ["create_app", "error_style", "request_id"]
