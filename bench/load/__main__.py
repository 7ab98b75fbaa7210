"""``python -m bench.load --users 50 --duration 120``: the documented full load run.

Targets, in order: ``--url``/``--token`` (+ ``--pid`` for RSS); else the running local stack
(``.local/stack.json`` and ``.local/token`` written by ``make up``); else it starts the local
stack itself on free loopback ports (the real default models must be built) and stops it after.
Exit code 1 when any request failed or the API's RSS grew by 10 % or more.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from infra.local.moto import free_port

from . import Mix, run_load

REPO = Path(__file__).resolve().parents[2]
RSS_GROWTH_LIMIT = 0.10


def _running_stack(state_dir: Path) -> tuple[str, str, int | None] | None:
    try:
        state = json.loads((state_dir / "stack.json").read_text())
        token = (state_dir / "token").read_text().strip()
    except (OSError, ValueError):
        return None
    from infra.local.procs import http_ok

    if not http_ok(f"{state['api_url']}/health"):
        return None
    return state["api_url"], token, state.get("pids", {}).get("API")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=50, help="concurrent users (threads)")
    p.add_argument("--duration", type=float, default=120.0, help="seconds; the run stops by itself")
    p.add_argument("--warmup", type=float, default=None, help="seconds before latency and RSS are measured")
    p.add_argument("--url", help="API base URL (loopback only)")
    p.add_argument("--token", help="access token for --url")
    p.add_argument("--pid", type=int, help="API process id, for RSS")
    p.add_argument("--classify-model", default="sentiment")
    p.add_argument("--embed-model", default="minilm-embed")
    p.add_argument("--state-dir", type=Path, default=REPO / ".local", help="where `make up` keeps its state")
    p.add_argument("--dist", type=Path, default=REPO / "model_artifacts" / "dist",
                   help="built models for a stack this command starts itself")
    p.add_argument("--json", type=Path, help="also write the report here")
    args = p.parse_args(argv)
    mix = Mix(classify_model=args.classify_model, embed_model=args.embed_model)

    stack = None
    if args.url:
        if not args.token:
            p.error("--url needs --token")
        target = (args.url, args.token, args.pid)
    else:
        target = _running_stack(args.state_dir)
        if target is None:
            from infra.local.stack import LocalStack, StackOptions

            print("no running local stack: starting one on free ports (stopped at the end)")
            opts = StackOptions(state_dir=Path(tempfile.mkdtemp(prefix="snlp-load-")), api_port=free_port(),
                                moto_port=free_port(), dist=args.dist, start_worker=False,
                                echo=lambda s: print(s))
            stack = LocalStack(opts).up()
            api = next(c for c in stack.children if c.name == "API")
            target = (stack.api_url, stack.token, api.proc.pid if api.proc else None)
    try:
        url, token, pid = target
        print(f"load: {args.users} users for {args.duration:.0f} s against {url}")
        report = run_load(url, token, users=args.users, duration_s=args.duration, warmup_s=args.warmup,
                          mix=mix, api_pid=pid)
    finally:
        if stack is not None:
            stack.down()
            shutil.rmtree(stack.opts.state_dir, ignore_errors=True)
    print("\n".join(report.lines()))
    if args.json:
        args.json.write_text(report.to_json() + "\n")
    ok = report.errors == 0 and (report.rss_growth is None or report.rss_growth < RSS_GROWTH_LIMIT)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
