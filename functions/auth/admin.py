"""Admin operations on tokens: create (the secret is returned once), list, revoke.

No argument parsing here: ``infra/cli.py`` (``snlp tokens ...``) and tests call these.
"""
from __future__ import annotations

import time
from typing import Any, Iterable

from functions.nlp.manifest import NAME_RE

from .tokens import ALL_MODELS, META_SK, TOKEN_PK, TokenRecord, from_item, hash_token, new_token, new_token_id, to_item


class AdminError(ValueError):
    """Bad admin input, or a token id that does not exist."""


def parse_models(models: str | Iterable[str]) -> tuple[str, ...] | str:
    """``"*"`` or a comma-separated list of model names."""
    items = [m.strip() for m in (models.split(",") if isinstance(models, str) else models) if m.strip()]
    if items == [ALL_MODELS]:
        return ALL_MODELS
    if not items:
        raise AdminError("--models needs at least one model name, or '*'")
    bad = [m for m in items if not NAME_RE.fullmatch(m)]
    if bad:
        raise AdminError(f"invalid model name(s): {', '.join(bad)}")
    return tuple(dict.fromkeys(items))


def create_token(client: Any, table: str, *, owner: str, models: str | Iterable[str], quota_per_day: int,
                 requests_per_minute: int | None = None, texts_per_minute: int | None = None) -> tuple[str, TokenRecord]:
    """Store a new token's hash; returns (the token, shown once, and its record).
    Rate limits left at None follow the service defaults; 0 turns a limit off for this token."""
    if not owner or not owner.strip():
        raise AdminError("--owner must not be empty")
    if int(quota_per_day) < 1:
        raise AdminError("--quota-per-day must be at least 1")
    for flag, value in (("--requests-per-minute", requests_per_minute), ("--texts-per-minute", texts_per_minute)):
        if value is not None and int(value) < 0:
            raise AdminError(f"{flag} must be 0 (no limit) or more")
    token = new_token()
    record = TokenRecord(token_id=new_token_id(), owner=owner.strip(), models=parse_models(models),
                         quota_per_day=int(quota_per_day), requests_per_minute=requests_per_minute,
                         texts_per_minute=texts_per_minute,
                         created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    client.put_item(TableName=table, Item=to_item(hash_token(token), record),
                    ConditionExpression="attribute_not_exists(pk)")
    return token, record


def _token_items(client: Any, table: str) -> Iterable[dict]:
    paginator = client.get_paginator("scan")
    for page in paginator.paginate(TableName=table, FilterExpression="begins_with(pk, :p) AND sk = :s",
                                   ExpressionAttributeValues={":p": {"S": TOKEN_PK}, ":s": {"S": META_SK}}):
        yield from page.get("Items", ())


def list_tokens(client: Any, table: str) -> list[TokenRecord]:
    """Every token record (admin-only scan), oldest first."""
    return sorted((from_item(i) for i in _token_items(client, table)), key=lambda r: (r.created_at, r.token_id))


def revoke_token(client: Any, table: str, token_id: str) -> TokenRecord:
    """Mark a token revoked. Warm API instances notice within SNLP_TOKEN_CACHE_TTL_S."""
    for item in _token_items(client, table):
        if item.get("token_id", {}).get("S") == token_id:
            client.update_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]},
                               UpdateExpression="SET revoked = :t", ExpressionAttributeValues={":t": {"BOOL": True}})
            item["revoked"] = {"BOOL": True}
            return from_item(item)
    raise AdminError(f"no token with id {token_id}")


def usage_report(client: Any, table: str, month: str, *, owner: str | None = None) -> list[dict[str, Any]]:
    """Per token: its record's public fields and its requests, texts and tokens in ``month``
    (YYYY-MM, UTC days), oldest token first; ``owner`` keeps only that owner's tokens."""
    from .usage import read_month, total

    rows = []
    for record in list_tokens(client, table):
        if owner is not None and record.owner != owner:
            continue
        rows.append({"month": month, "token_id": record.token_id, "owner": record.owner,
                     **total(read_month(client, table, record.token_id, month))})
    return rows


__all__ = ["create_token", "list_tokens", "revoke_token", "usage_report", "parse_models", "AdminError"]
