"""The web page for non-programmers: GET / and its packaged static assets (no CDN, works offline).

Kept apart from the API routes: the page is a plain client of the public HTTP API (it signs in
with a token and calls /v1/...), so the app only has to register this blueprint::

    app.register_blueprint(web_blueprint())

Assets live in ``functions/web/static/`` and ship with the function code. The catalog's cost
column reads ``app/cost.json`` (``functions/web/static/cost.json``) when the cost model has
written one; without it the page shows "n/a". Its shape::

    {"generated_at": "...", "assumptions": "HTTP API, x86_64, 1 text/request, ...",
     "models": [{"model": "sentiment", "quantization": "int8", "version": "<optional>",
                 "usd_per_1m_requests": 1.23}, ...]}

A row matches a catalog line by model + version, else by model + quantization.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from flask import Blueprint, Response, abort, send_from_directory

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"
COST_FILE = "cost.json"
ASSETS = frozenset({"app.js", "app.css", "train.js", "edge.js"})
# npm ES modules packaged with the page, beside its own files (infra/web_assets.py copies them; git-ignored)
VENDOR_DIR = STATIC_DIR.parent / "vendor"
VENDOR = frozenset({"ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "tokenizers.min.mjs"})


def csp(s3_origins: list[str] | tuple[str, ...] = ()) -> str:
    """The page loads only its own files. API calls go to this origin; presigned uploads, downloads,
    edge models and the WebAssembly runtime go to the buckets' S3 origins: exactly those (any
    http(s) origin only when they are not known). 'wasm-unsafe-eval' lets onnxruntime-web compile
    its WebAssembly; no script is evaluated from a string."""
    connect = " ".join(s3_origins) if s3_origins else "https: http:"
    return ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {connect}; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


CSP = csp()


def web_blueprint(static_dir: str | Path = STATIC_DIR, cost_file: str | Path | None = None,
                  s3_origins: Callable[[], list[str]] | list[str] | tuple[str, ...] = (),
                  vendor_dir: str | Path = VENDOR_DIR) -> Blueprint:
    """Blueprint serving ``/`` (the page), ``/app/app.js``, ``/app/app.css``, ``/app/cost.json`` and
    the page's vendored ES modules under ``/app/vendor/``."""
    static = Path(static_dir)
    # the origins are computed on the page's first request, not at cold start (a SigV4 client costs)
    policy: dict[str, str] = {} if callable(s3_origins) else {"csp": csp(s3_origins)}
    vendored = Path(vendor_dir)
    cost = Path(cost_file) if cost_file else static / COST_FILE
    bp = Blueprint("web", __name__)

    @bp.get("/")
    def index() -> Response:
        resp = send_from_directory(static, "index.html", mimetype="text/html", max_age=0)
        if "csp" not in policy:
            policy["csp"] = csp(s3_origins())  # type: ignore[operator]
        resp.headers["Content-Security-Policy"] = policy["csp"]
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        return resp

    @bp.get("/app/vendor/<name>")
    def vendor(name: str) -> Response:
        if name not in VENDOR or not (vendored / name).is_file():
            abort(404)
        resp = send_from_directory(vendored, name, mimetype="text/javascript", max_age=3600)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp

    @bp.get("/app/<name>")
    def asset(name: str) -> Response:
        if name == COST_FILE:
            if not cost.is_file():
                abort(404)
            return send_from_directory(cost.parent, cost.name, mimetype="application/json", max_age=60)
        if name not in ASSETS:
            abort(404)
        resp = send_from_directory(static, name, max_age=300)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp

    return bp


__all__ = ["web_blueprint", "STATIC_DIR"]
