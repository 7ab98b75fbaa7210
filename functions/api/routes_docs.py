"""GET /openapi.json and GET /docs (a packaged page, no CDN): public, they hold no data."""
from __future__ import annotations

import json

from flask import Flask, Response

from .context import ApiServices
from .openapi import build_openapi

# the docs page loads only its own files: no CDN, no inline script
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def register(app: Flask, ctx: ApiServices) -> None:
    spec_body = json.dumps(build_openapi(ctx.settings), separators=(",", ":"))  # built once
    docs_html = (app.static_folder and open(f"{app.static_folder}/docs.html", encoding="utf-8").read()) or ""

    @app.get("/openapi.json", endpoint="openapi")
    def openapi() -> Response:
        return Response(spec_body, content_type="application/json; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300"})

    @app.get("/docs", endpoint="docs")
    def docs() -> Response:
        return Response(docs_html, content_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": DOCS_CSP, "X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "public, max-age=300"})
