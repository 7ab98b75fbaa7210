"""GET /openapi.json and GET /docs (a packaged page, no CDN): public, they hold no data."""
from __future__ import annotations

import json

from flask import Flask, Response

from .context import ApiServices

# the docs page loads only its own files: no CDN, no inline script
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def register(app: Flask, ctx: ApiServices) -> None:
    docs_html = (app.static_folder and open(f"{app.static_folder}/docs.html", encoding="utf-8").read()) or ""
    spec: list[str] = []  # built once, on the first request for it: not on every cold start

    @app.get("/openapi.json", endpoint="openapi")
    def openapi() -> Response:
        if not spec:
            from .openapi import build_openapi  # ~600 lines of schema: imported when first asked for

            spec.append(json.dumps(build_openapi(ctx.settings), separators=(",", ":")))
        return Response(spec[0], content_type="application/json; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300"})

    @app.get("/docs", endpoint="docs")
    def docs() -> Response:
        return Response(docs_html, content_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": DOCS_CSP, "X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "public, max-age=300"})
