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

from flask import Blueprint, Response, abort, send_from_directory

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"
COST_FILE = "cost.json"
ASSETS = frozenset({"app.js", "app.css", "train.js"})

# the page only loads its own files; API calls go to this origin, presigned uploads and
# downloads go to the S3 endpoint (another origin), hence connect-src allows http(s)
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' https: http:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def web_blueprint(static_dir: str | Path = STATIC_DIR, cost_file: str | Path | None = None) -> Blueprint:
    """Blueprint serving ``/`` (the page), ``/app/app.js``, ``/app/app.css`` and ``/app/cost.json``."""
    static = Path(static_dir)
    cost = Path(cost_file) if cost_file else static / COST_FILE
    bp = Blueprint("web", __name__)

    @bp.get("/")
    def index() -> Response:
        resp = send_from_directory(static, "index.html", mimetype="text/html", max_age=0)
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
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
