"""``snlp cost``: the cost model's table for a given traffic (delegates to ``python -m infra.cost``)."""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys

from infra.cli_common import REPO, CliError


def register(sub: argparse._SubParsersAction) -> None:
    text = "cost per request and per month for given traffic (e.g. --requests-per-month 5e6)"
    p = sub.add_parser("cost", help=text, description=text, add_help=False)
    p.set_defaults(func=lambda args: delegate(args.rest), passthrough=True)


def delegate(rest: list[str]) -> int:
    if importlib.util.find_spec("infra.cost.__main__") is None:
        raise CliError("the cost model (infra/cost) has no command line in this checkout yet")
    try:
        return subprocess.call([sys.executable, "-m", "infra.cost", *rest], cwd=str(REPO))
    except OSError as exc:
        raise CliError(f"cannot run the cost model: {exc}") from exc


__all__ = ["register", "delegate"]
