"""``snlp publish|promote|models``: delegate to the model pipeline's own CLI (model_artifacts).
``snlp share``: a trained model's owner shares it (or stops) through the API.

The pipeline owns building, publishing and aliases; these commands only forward their
arguments, so ``snlp publish --help`` shows the pipeline's real options. Sharing is the API's
(PUT/PATCH/DELETE /v1/models/{name}/sharing, owner only), so ``share`` calls it with your token.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from urllib.parse import quote

from infra.cli_common import REPO, Api, CliError, add_connection_args, print_json, resolve

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
    p = sub.add_parser("share", help="share a model you trained with other tokens or everyone, or stop sharing",
                       description="Show or change who may use a model you trained (owner only). Without options "
                                   "it shows the sharing. Other API instances apply a change within the alias "
                                   "cache TTL (a minute by default).")
    p.add_argument("model", help="the model's name")
    p.add_argument("--add", action="append", default=[], metavar="TOKEN_ID",
                   help="a token id to share with (tok_...; repeat for more)")
    p.add_argument("--remove", action="append", default=[], metavar="TOKEN_ID",
                   help="a token id to stop sharing with (repeatable)")
    public = p.add_mutually_exclusive_group()
    public.add_argument("--public", action="store_true", default=None, help="every token may use it")
    public.add_argument("--private", dest="public", action="store_false", default=None,
                        help="only the tokens shared with")
    p.add_argument("--none", action="store_true", help="unshare: only you may use it")
    add_connection_args(p)
    p.set_defaults(func=cmd_share)


def share_request(args: argparse.Namespace) -> tuple[str, dict | None]:
    """(method, body) of the sharing call the options ask for."""
    if args.none:
        if args.add or args.remove or args.public is not None:
            raise CliError("--none unshares everything: give it alone")
        return "DELETE", None
    body: dict = {k: v for k, v in (("add", args.add), ("remove", args.remove)) if v}
    if args.public is not None:
        body["public"] = args.public
    return ("PATCH", body) if body else ("GET", None)


def cmd_share(args: argparse.Namespace) -> int:
    method, body = share_request(args)
    data = Api(resolve(args)).call(method, f"/v1/models/{quote(args.model, safe='')}/sharing", body)
    print_json(data)
    return 0


def delegate(target: str, rest: list[str]) -> int:
    """Run ``python -m model_artifacts <target> <rest>`` in the repository; return its exit code."""
    try:
        return subprocess.call([sys.executable, "-m", "model_artifacts", target, *rest], cwd=str(REPO))
    except OSError as exc:
        raise CliError(f"cannot run the model pipeline: {exc}") from exc


__all__ = ["register", "delegate", "share_request", "cmd_share"]
