"""``snlp usage``: what each token used in a month, priced per 1,000 texts, for invoicing.

    snlp usage [--month YYYY-MM] [--owner X] [--csv] [--stage S | --price-per-1000 P]

Rows come from the tokens table's USAGE# rows (one per token per UTC day, written by the API
before each answer and by batch jobs per chunk). The price per 1,000 texts is the stage's
``price_per_1000_texts`` in config/stages.yml unless --price-per-1000 says otherwise; each
token's amount is rounded half-up to the cent. Table, endpoint and region as for ``snlp tokens``.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from infra.cli_common import CliError
from infra.cli_tokens import _aws_call, connect

CENT = Decimal("0.01")
FIELDS = ("month", "token_id", "owner", "requests", "texts", "tokens", "price_usd")


def register(sub: argparse._SubParsersAction) -> None:
    text = "per-token requests, texts, tokens and price for a month (for invoicing)"
    usage = sub.add_parser("usage", help=text, description=__doc__.split("\n\n")[0])
    usage.add_argument("--month", help="YYYY-MM, UTC (default: this month)")
    usage.add_argument("--owner", help="only this owner's tokens")
    usage.add_argument("--csv", action="store_true", help="print CSV (one row per token, no total line)")
    usage.add_argument("--stage", help="stage whose price_per_1000_texts applies (default: $SNLP_STAGE, else local)")
    usage.add_argument("--price-per-1000", type=Decimal, metavar="USD", help="price per 1,000 texts")
    usage.add_argument("--table", help="tokens table (default: $SNLP_TOKENS_TABLE)")
    usage.add_argument("--endpoint-url", help="DynamoDB endpoint (default: $AWS_ENDPOINT_URL, else AWS)")
    usage.add_argument("--region", help="AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1)")
    usage.set_defaults(func=cmd_usage)


def price_per_1000(args: argparse.Namespace) -> Decimal:
    if args.price_per_1000 is not None:
        if args.price_per_1000 < 0:
            raise CliError("--price-per-1000 must be >= 0")
        return args.price_per_1000
    from infra.config import ConfigError, load_config

    try:
        stage = load_config().stage(args.stage or os.environ.get("SNLP_STAGE") or "local")
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    return Decimal(str(stage.price_per_1000_texts))


def amount(texts: int, per_1000: Decimal) -> Decimal:
    """What ``texts`` cost at ``per_1000`` USD per 1,000 texts, rounded half-up to the cent."""
    return (Decimal(texts) * per_1000 / 1000).quantize(CENT, rounding=ROUND_HALF_UP)


def cmd_usage(args: argparse.Namespace) -> int:
    from functions.auth.admin import usage_report
    from functions.auth.usage import MONTH_RE

    month = args.month or time.strftime("%Y-%m", time.gmtime())
    if not MONTH_RE.fullmatch(month):
        raise CliError(f"--month must look like YYYY-MM, not {month!r}")
    per_1000 = price_per_1000(args)
    client, table = connect(args)
    rows = _aws_call(usage_report, client, table, month, owner=args.owner)
    for row in rows:
        row["price_usd"] = amount(row["texts"], per_1000)
    if args.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return 0
    _table(rows, month, per_1000)
    return 0


def _table(rows: list[dict[str, Any]], month: str, per_1000: Decimal) -> None:
    print(f"usage for {month} (UTC), ${per_1000} per 1,000 texts")
    print(f"{'TOKEN_ID':<22} {'OWNER':<20} {'REQUESTS':>10} {'TEXTS':>12} {'TOKENS':>14} {'PRICE_USD':>11}")
    for row in rows:
        print(f"{row['token_id']:<22} {row['owner'][:20]:<20} {row['requests']:>10} {row['texts']:>12} "
              f"{row['tokens']:>14} {row['price_usd']:>11}")
    totals = {k: sum(r[k] for r in rows) for k in ("requests", "texts", "tokens", "price_usd")}
    print(f"{'TOTAL':<22} {'':<20} {totals['requests']:>10} {totals['texts']:>12} {totals['tokens']:>14} "
          f"{Decimal(totals['price_usd']):>11}")


__all__ = ["register", "cmd_usage", "amount", "price_per_1000"]
