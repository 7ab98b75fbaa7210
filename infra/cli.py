"""``snlp``: the command line for daily use. One entry point, one module per command group.

Each group lives in ``infra/cli_<group>.py`` and exposes ``register(subparsers)``, which adds
its commands with ``set_defaults(func=handler)``; ``handler(args) -> int``.

Configuration (API URL, token): flags > environment (SNLP_API_URL, SNLP_TOKEN) > config file
(~/.config/snlp/config.toml, then the local stack's .local/).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from infra.cli_common import CliError

GROUPS = ("tokens", "usage", "infer", "batch", "models", "cost")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snlp", description="Serverless NLP: classify, embed, compare texts, run batches, "
        "manage tokens and models, estimate cost.",
        epilog="Run `snlp <command> --help` for the options of each command.")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for group in GROUPS:
        importlib.import_module(f"infra.cli_{group}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # pass-through commands (publish, promote, models, cost) hand every argument on, --help included
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "passthrough", False):
        args.rest = extra
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
