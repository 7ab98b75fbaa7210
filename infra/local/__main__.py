"""``python -m infra.local up|preflight``: run the system locally (see infra/local/__init__.py)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import LocalStackError
from .preflight import MODELS_BUILD_BYTES, check_disk, check_ports, models_built
from .stack import DEFAULT_MODELS, REPO, LocalStack, StackOptions


def _port(env: str, default: int) -> int:
    raw = os.environ.get(env, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise LocalStackError(f"{env}={raw!r} is not a port number") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra.local",
                                     description="Run Serverless NLP on this machine (moto + real models).")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name, text in (("up", "start the local stack and keep it running until Ctrl-C"),
                       ("preflight", "check disk space and ports before building anything")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--api-port", type=int, default=None,
                       help="port of the API and web page (env SNLP_LOCAL_API_PORT, default 8000)")
        p.add_argument("--moto-port", type=int, default=None,
                       help="port of the moto server (env SNLP_LOCAL_MOTO_PORT, default 5000)")
        p.add_argument("--state-dir", type=Path, default=REPO / ".local", help="state, logs, token (default .local/)")
        if name == "up":
            p.add_argument("--workers", type=int, default=1, help="batch worker processes (default 1)")
            p.add_argument("--no-worker", action="store_true", help="do not start the batch worker")
            p.add_argument("--dist", type=Path, default=REPO / "model_artifacts" / "dist",
                           help="where the built models are (default model_artifacts/dist)")
            p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                           help=f"models to publish from --dist (default {','.join(DEFAULT_MODELS)})")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        api_port = args.api_port or _port("SNLP_LOCAL_API_PORT", 8000)
        moto_port = args.moto_port or _port("SNLP_LOCAL_MOTO_PORT", 5000)
        if args.cmd == "preflight":
            dist = REPO / "model_artifacts" / "dist"
            if not models_built(dist, DEFAULT_MODELS):
                check_disk(REPO, MODELS_BUILD_BYTES, "building the default models")
            check_ports({"API and web page": api_port, "moto server (S3, DynamoDB, SQS)": moto_port})
            return 0
        opts = StackOptions(state_dir=args.state_dir, api_port=api_port, moto_port=moto_port,
                            workers=args.workers, start_worker=not args.no_worker, dist=args.dist,
                            models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
                            echo=lambda line: print(line, flush=True))
        stack = LocalStack(opts)
        try:
            stack.up()
            print(stack.banner(), flush=True)
            return stack.serve_forever()
        finally:
            stack.down()  # a no-op when serve_forever already stopped everything
    except LocalStackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nstopped.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
