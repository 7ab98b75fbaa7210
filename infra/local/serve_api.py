"""Serve the Lambda handler's Flask app with waitress (a production WSGI server).

The app object is the one ``functions/api/handler.py`` hands to ``serverless_wsgi`` on Lambda:
the same factory, the same settings read from the same environment variables.

    python -m infra.local.serve_api --host 127.0.0.1 --port 8000
"""
from __future__ import annotations

import argparse
import sys
import threading


def lambda_app():
    """The WSGI app the Lambda handler serves (built at import time, as on a cold start),
    wrapped so that its metrics are written as EMF lines after each request, as on Lambda."""
    from functions.api import handler

    return MetricsFlush(handler.RUNTIME.app, handler.RUNTIME.telemetry,
                        enabled=handler.RUNTIME.settings.metrics)


class MetricsFlush:
    """WSGI middleware: after each request, write the app's telemetry as EMF lines (the Lambda
    handler does this per invocation); without it the points would pile up."""

    def __init__(self, app, telemetry, enabled: bool = True) -> None:
        self.app, self.telemetry, self.enabled = app, telemetry, enabled
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        try:
            return self.app(environ, start_response)
        finally:
            self.flush()

    def flush(self) -> None:
        from functions.api.telemetry import publish

        with self.lock:
            try:
                publish(self.telemetry, enabled=self.enabled)
            except Exception as exc:  # noqa: BLE001 - metrics must never break a local request
                print(f"metrics flush failed: {exc!r}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.serve_api", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)

    from waitress import serve

    app = lambda_app()
    print(f"serving the Lambda handler's app on http://{args.host}:{args.port}", flush=True)
    # waitress handles SIGTERM/SIGINT by exiting; the orchestrator stops the whole process group
    serve(app, host=args.host, port=args.port, threads=args.threads, ident="serverless-nlp",
          max_request_body_size=8 * 1024 * 1024, clear_untrusted_proxy_headers=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
