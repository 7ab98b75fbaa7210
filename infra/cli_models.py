"""``snlp publish|promote|models``: delegate to the model pipeline's own CLI (model_artifacts).

The pipeline owns building, publishing and aliases; these commands only forward their
arguments, so ``snlp publish --help`` shows the pipeline's real options.
"""
from __future__ import annotations

import argparse
import subprocess
import sys

from infra.cli_common import REPO, CliError

COMMANDS = {
    "publish": ("publish", "publish a built model version to an artifacts bucket"),
    "promote": ("promote", "point an alias (e.g. prod) at a version: takes effect without a redeploy"),
    "models": ("list", "list built and published models with their aliases"),
}


def register(sub: argparse._SubParsersAction) -> None:
    for name, (target, text) in COMMANDS.items():
        # add_help=False: --help goes through to the pipeline's parser, which knows the options
        p = sub.add_parser(name, help=text, description=text, add_help=False)
        p.set_defaults(func=lambda args, target=target: delegate(target, args.rest), passthrough=True)


def delegate(target: str, rest: list[str]) -> int:
    """Run ``python -m model_artifacts <target> <rest>`` in the repository; return its exit code."""
    try:
        return subprocess.call([sys.executable, "-m", "model_artifacts", target, *rest], cwd=str(REPO))
    except OSError as exc:
        raise CliError(f"cannot run the model pipeline: {exc}") from exc


__all__ = ["register", "delegate"]
