"""``snlp tokens create|list|revoke``: access tokens in the DynamoDB tokens table.

The table comes from --table or SNLP_TOKENS_TABLE; the endpoint from --endpoint-url or
AWS_ENDPOINT_URL (the local stack's moto server); the region from --region, AWS_REGION or
AWS_DEFAULT_REGION (default us-east-1). The token itself is printed once, at creation, and
never stored: the table keeps only its sha256.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Mapping

from infra.cli_common import CliError

ENV_TABLE, ENV_ENDPOINT = "SNLP_TOKENS_TABLE", "AWS_ENDPOINT_URL"


def register(sub: argparse._SubParsersAction) -> None:
    text = "create, list and revoke access tokens"
    tokens = sub.add_parser("tokens", help=text, description=text)
    cmds = tokens.add_subparsers(dest="tokens_command", metavar="<action>", required=True)

    create = cmds.add_parser("create", help="create a token and print it once",
                             description="Create a token. It is printed once: store it now.")
    create.add_argument("--owner", required=True, help="who the token is for (shown in lists and logs)")
    create.add_argument("--models", required=True, help="comma-separated model names, or '*' for all")
    create.add_argument("--quota-per-day", required=True, type=int, metavar="N",
                        help="texts per UTC day; over it the API answers 429 with Retry-After")
    create.add_argument("--requests-per-minute", type=int, metavar="N",
                        help="this token's rate limit (default: the stage's api_rate_requests_per_minute; 0: none)")
    create.add_argument("--texts-per-minute", type=int, metavar="N",
                        help="this token's texts per minute (default: the stage's api_rate_texts_per_minute; 0: none)")
    create.add_argument("--json", action="store_true", help="print JSON (token + record) instead of text")
    create.set_defaults(func=cmd_create)

    listing = cmds.add_parser("list", help="list tokens (ids, owners, models, quotas; never the secrets)",
                              description="List tokens without their secrets.")
    listing.add_argument("--json", action="store_true", help="print JSON lines")
    listing.set_defaults(func=cmd_list)

    revoke = cmds.add_parser("revoke", help="revoke a token by id",
                             description="Revoke a token. Warm API instances stop accepting it within "
                                         "SNLP_TOKEN_CACHE_TTL_S seconds (default 60).")
    revoke.add_argument("token_id", help="the token's id (tok_...), from `snlp tokens list`")
    revoke.set_defaults(func=cmd_revoke)

    for parser in (create, listing, revoke):
        parser.add_argument("--table", help=f"tokens table (default: ${ENV_TABLE})")
        parser.add_argument("--endpoint-url", help=f"DynamoDB endpoint (default: ${ENV_ENDPOINT}, else AWS)")
        parser.add_argument("--region", help="AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1)")


def connect(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> tuple[Any, str]:
    table = args.table or environ.get(ENV_TABLE)
    if not table:
        raise CliError(f"no tokens table: pass --table or set {ENV_TABLE}")
    import boto3

    from functions.store.clients import client_config

    region = args.region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = args.endpoint_url or environ.get(ENV_ENDPOINT) or None
    client = boto3.session.Session().client("dynamodb", region_name=region, endpoint_url=endpoint,
                                            config=client_config(connect_timeout=3.0, read_timeout=10.0))
    return client, table


def _aws_call(fn, *args: Any, **kwargs: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    from functions.auth.admin import AdminError

    try:
        return fn(*args, **kwargs)
    except AdminError as exc:
        raise CliError(str(exc)) from exc
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise CliError(f"DynamoDB refused: {err.get('Code', 'error')}: {err.get('Message', '')}") from exc
    except BotoCoreError as exc:
        raise CliError(f"cannot reach DynamoDB: {exc}") from exc


def cmd_create(args: argparse.Namespace) -> int:
    from functions.auth.admin import create_token

    client, table = connect(args)
    token, record = _aws_call(create_token, client, table, owner=args.owner, models=args.models,
                              quota_per_day=args.quota_per_day, requests_per_minute=args.requests_per_minute,
                              texts_per_minute=args.texts_per_minute)
    if args.json:
        print(json.dumps({"token": token, **record.public()}))
    else:
        print(token)
        print(f"token_id={record.token_id} owner={record.owner} models={_models(record.public()['models'])} "
              f"quota_per_day={record.quota_per_day}", file=sys.stderr)
        print("This token is shown once: store it now. Send it as 'Authorization: Bearer <token>'.",
              file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from functions.auth.admin import list_tokens

    client, table = connect(args)
    records = _aws_call(list_tokens, client, table)
    if args.json:
        for record in records:
            print(json.dumps(record.public()))
        return 0
    print(f"{'TOKEN_ID':<22} {'OWNER':<20} {'QUOTA/DAY':>10} {'REVOKED':<8} {'FORMAT':<7} {'CREATED':<21} MODELS")
    for record in records:
        public = record.public()
        print(f"{record.token_id:<22} {record.owner[:20]:<20} {record.quota_per_day:>10} "
              f"{'yes' if record.revoked else 'no':<8} {'legacy' if record.legacy else 'ok':<7} "
              f"{record.created_at:<21} {_models(public['models'])}")
    legacy = sum(1 for r in records if r.legacy and not r.revoked)
    if legacy:
        print(f"{legacy} active token(s) predate the checksum: create replacements, revoke these, then set "
              "legacy_tokens: false in config/stages.yml", file=sys.stderr)
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from functions.auth.admin import revoke_token

    client, table = connect(args)
    record = _aws_call(revoke_token, client, table, args.token_id)
    print(f"revoked {record.token_id} ({record.owner}); warm API instances stop accepting it within their "
          "token cache TTL (SNLP_TOKEN_CACHE_TTL_S)")
    return 0


def _models(models: Any) -> str:
    return models if isinstance(models, str) else ",".join(models)


__all__ = ["register", "connect", "cmd_create", "cmd_list", "cmd_revoke"]
