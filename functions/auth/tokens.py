"""Access tokens on DynamoDB, stored only as sha256 hashes, checked through a short-TTL cache.

Record layout (tokens table, string keys ``pk``/``sk``)::

    pk "TOKEN#<sha256 hex>", sk "META": token_id, owner, models (list or "*"), quota_per_day,
                                        created_at, revoked

Tokens carry a checksum: ``snlp_`` + 43 random characters + 8 hex digits of the CRC-32 of
what precedes them (56 characters). A token that is malformed, or has the new length and a
wrong checksum, is refused without a DynamoDB call. Tokens issued before the checksum (any
other length) are "legacy": they are looked up while ``accept_legacy`` (SNLP_LEGACY_TOKENS,
default on) lets them; ``snlp tokens list`` marks them so they can be rotated and the switch
turned off, after which every token without a valid checksum costs nothing to refuse.

A warm request does not read DynamoDB: answers (valid, revoked, unknown) are cached for
``cache_ttl_s`` (unknown tokens for ``negative_ttl_s``). Hence a revocation takes effect
within ``cache_ttl_s`` on every warm instance. If DynamoDB cannot answer, an expired cached
answer younger than ``stale_if_error_s`` is used; with no answer at all the request gets 503:
access is never opened because the store is down.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .errors import InvalidTokenError, ModelNotAllowedError, TokenRevokedError, TokenStoreUnavailableError

TOKEN_PREFIX = "snlp_"
TOKEN_PK = "TOKEN#"
META_SK = "META"
MAX_TOKEN_CHARS = 128
CHECK_CHARS = 8  # hex digits of CRC-32
CHECKED_TOKEN_CHARS = len(TOKEN_PREFIX) + 43 + CHECK_CHARS
_TOKEN_RE = re.compile(r"snlp_[A-Za-z0-9_-]{1,123}")  # URL-safe base64 alphabet, MAX_TOKEN_CHARS in all
ALL_MODELS = "*"
TOKEN_ID_RE = re.compile(r"tok_[0-9a-f]{16}")  # what new_token_id writes: the public token id
RETRY_UNAVAILABLE_S = 5.0  # after DynamoDB failed, do not ask it again for this long


def new_token() -> str:
    """A fresh secret: ``snlp_`` + 32 random bytes, URL-safe base64 (43 characters) + checksum."""
    body = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return body + _checksum(body)


def _checksum(body: str) -> str:
    return f"{zlib.crc32(body.encode('ascii')):08x}"


def has_checksum(token: str) -> bool:
    """True for a token of the current format whose checksum matches (no I/O)."""
    return (len(token) == CHECKED_TOKEN_CHARS and token.isascii()
            and hmac.compare_digest(token[-CHECK_CHARS:], _checksum(token[:-CHECK_CHARS])))


def precheck(token: str, *, accept_legacy: bool = True) -> bool:
    """Whether a token is worth a DynamoDB lookup: well formed, and checksummed (or legacy while
    legacy tokens are accepted). False means refuse now, at no cost."""
    if not _TOKEN_RE.fullmatch(token):
        return False
    if len(token) == CHECKED_TOKEN_CHARS:
        return has_checksum(token)
    return accept_legacy


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token_id() -> str:
    """Public, non-secret id used in logs, usage records and ``tokens revoke``."""
    return "tok_" + secrets.token_hex(8)


@dataclass(frozen=True)
class TokenRecord:
    token_id: str
    owner: str
    models: tuple[str, ...] | str  # model names, or "*" for every model
    quota_per_day: int | None  # texts per UTC day; None: unlimited (auth turned off)
    created_at: str = ""
    revoked: bool = False
    requests_per_minute: int | None = None  # None: the service default (SNLP_RATE_REQUESTS_PER_MINUTE)
    texts_per_minute: int | None = None  # None: the service default (SNLP_RATE_TEXTS_PER_MINUTE)
    legacy: bool = False  # issued before tokens carried a checksum: rotate it

    def allows(self, model_name: str) -> bool:
        return self.models == ALL_MODELS or model_name in self.models

    def require_model(self, model_name: str) -> None:
        if not self.allows(model_name):
            raise ModelNotAllowedError(f"this token may not use model {model_name}")

    def public(self) -> dict[str, Any]:
        """What admins see: never the token or its hash."""
        return {"token_id": self.token_id, "owner": self.owner,
                "models": self.models if self.models == ALL_MODELS else list(self.models),
                "quota_per_day": self.quota_per_day, "requests_per_minute": self.requests_per_minute,
                "texts_per_minute": self.texts_per_minute, "created_at": self.created_at, "revoked": self.revoked,
                "legacy": self.legacy}


ANONYMOUS = TokenRecord(token_id="anonymous", owner="anonymous", models=ALL_MODELS, quota_per_day=None)


# --- DynamoDB item codec (low-level client format) ---------------------------------------
def to_item(token_hash: str, record: TokenRecord) -> dict[str, Any]:
    models: dict[str, Any] = ({"S": ALL_MODELS} if record.models == ALL_MODELS
                              else {"L": [{"S": m} for m in record.models]})
    item = {"pk": {"S": TOKEN_PK + token_hash}, "sk": {"S": META_SK}, "token_hash": {"S": token_hash},
            "token_id": {"S": record.token_id}, "owner": {"S": record.owner}, "models": models,
            "quota_per_day": {"N": str(int(record.quota_per_day or 0))},
            "created_at": {"S": record.created_at}, "revoked": {"BOOL": record.revoked},
            "checksum": {"BOOL": not record.legacy}}
    for name in ("requests_per_minute", "texts_per_minute"):
        if getattr(record, name) is not None:
            item[name] = {"N": str(int(getattr(record, name)))}
    return item


def from_item(item: Mapping[str, Any]) -> TokenRecord:
    raw_models = item.get("models", {})
    models: tuple[str, ...] | str = (ALL_MODELS if raw_models.get("S") == ALL_MODELS
                                     else tuple(m["S"] for m in raw_models.get("L", ())))
    return TokenRecord(token_id=item["token_id"]["S"], owner=item.get("owner", {}).get("S", ""),
                       models=models, quota_per_day=int(item.get("quota_per_day", {}).get("N", "0")),
                       created_at=item.get("created_at", {}).get("S", ""),
                       revoked=bool(item.get("revoked", {}).get("BOOL", False)),
                       requests_per_minute=_optional_int(item, "requests_per_minute"),
                       texts_per_minute=_optional_int(item, "texts_per_minute"),
                       legacy=not item.get("checksum", {}).get("BOOL", False))


def _optional_int(item: Mapping[str, Any], name: str) -> int | None:
    return int(item[name]["N"]) if name in item else None


@dataclass
class _Cached:
    record: TokenRecord | None  # None: no such token
    fresh_until: float
    usable_until: float  # stale answers may stand in while DynamoDB is down


class TokenStore:
    """Checks bearer tokens against the tokens table. Thread-safe; the client is passed in."""

    def __init__(self, client: Any, table: str, *, cache_ttl_s: float = 60.0, negative_ttl_s: float = 60.0,
                 stale_if_error_s: float = 300.0, max_cached: int = 10_000, accept_legacy: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.table = client, table
        self.cache_ttl_s, self.negative_ttl_s = cache_ttl_s, min(negative_ttl_s, cache_ttl_s)
        self.stale_if_error_s, self.max_cached = stale_if_error_s, max_cached
        self.clock, self.accept_legacy = clock, accept_legacy
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._lock = threading.Lock()

    def authenticate(self, token: str) -> TokenRecord:
        """The record of a valid, unrevoked token; raises Invalid/Revoked/Unavailable errors."""
        if not precheck(token, accept_legacy=self.accept_legacy):
            raise InvalidTokenError("the access token is not valid")  # no DynamoDB call for garbage
        digest = hash_token(token)
        now = self.clock()
        cached = self._cache.get(digest)
        if cached is None or now >= cached.fresh_until:
            cached = self._refresh(digest, now, cached)
        return _verdict(cached.record)

    def _refresh(self, digest: str, now: float, stale: _Cached | None) -> _Cached:
        try:
            item = self.client.get_item(TableName=self.table, Key={"pk": {"S": TOKEN_PK + digest},
                                                                   "sk": {"S": META_SK}},
                                        ConsistentRead=True).get("Item")
        except Exception as exc:  # noqa: BLE001 - any failure to read means "no answer"
            if stale is not None and now < stale.usable_until:
                # keep the stale answer a little longer instead of paying timeouts on every request
                stale.fresh_until = min(now + RETRY_UNAVAILABLE_S, stale.usable_until)
                return stale
            raise TokenStoreUnavailableError("the token store is unavailable; try again shortly",
                                             retry_after=int(RETRY_UNAVAILABLE_S)) from exc
        record = None
        # the key lookup already matched; compare the stored hash in constant time anyway
        if item is not None and hmac.compare_digest(item.get("token_hash", {}).get("S", ""), digest):
            record = from_item(item)
        ttl = self.cache_ttl_s if record is not None else self.negative_ttl_s
        entry = _Cached(record, now + ttl, now + ttl + self.stale_if_error_s)
        with self._lock:
            self._cache[digest] = entry
            self._cache.move_to_end(digest)
            while len(self._cache) > self.max_cached:
                self._cache.popitem(last=False)
        return entry

    def forget(self) -> None:
        """Drop every cached answer (tests, admin tools)."""
        with self._lock:
            self._cache.clear()


def _verdict(record: TokenRecord | None) -> TokenRecord:
    if record is None:
        raise InvalidTokenError("the access token is not valid")
    if record.revoked:
        raise TokenRevokedError("the access token has been revoked")
    return record


__all__ = ["TokenStore", "TokenRecord", "ANONYMOUS", "ALL_MODELS", "new_token", "new_token_id", "hash_token",
           "to_item", "from_item", "has_checksum", "precheck", "TOKEN_PREFIX", "TOKEN_PK", "META_SK"]
