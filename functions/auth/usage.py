"""Per-token daily usage (requests, texts, tokens) and the daily quota, with buffered writes.

Usage records: pk "USAGE#<token_id>", sk "<YYYY-MM-DD>" (UTC), counters ``requests``, ``texts``
and ``tokens`` grown with atomic ``UpdateExpression ADD``. The quota counts texts per UTC day.

Why buffered: one DynamoDB write per request would cost several ms on the warm path. So
increments collect in memory and are flushed every ``flush_every`` requests or
``flush_interval_s`` seconds (on the next request after that), whichever comes first; each
flush also reads back the table's totals, which include other instances' usage.
Near the quota (within ``headroom`` of it, 10 % by default) every admission becomes a
conditional ``ADD ... ConditionExpression texts <= quota - n``: exact at the boundary, even
across instances. The tradeoffs, stated: far from the boundary, concurrent instances can each
admit one flush window of usage they have not yet seen from each other; and if Lambda
recycles an instance, its last unflushed window (at most ``flush_every`` requests) is not
billed. Requests that fail after admission are refunded (a negative ADD on the next flush).
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import QuotaExceededError, TokenStoreUnavailableError
from .tokens import TokenRecord

USAGE_PK = "USAGE#"
RETENTION_S = 400 * 86400  # usage rows are billing records: keep them a little over a year
_UPDATE = "ADD #r :r, #t :t, #k :k SET expires_at = if_not_exists(expires_at, :exp)"
_NAMES = {"#r": "requests", "#t": "texts", "#k": "tokens"}
RETRY_UNAVAILABLE_S = 5.0  # after a failed write, wait this long before the next try


def utc_day(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch_s))


def seconds_to_utc_midnight(epoch_s: float) -> int:
    return max(1, math.ceil(86400 - (epoch_s % 86400)))


@dataclass
class _Day:
    used: int = 0  # texts the table held at the last write we made (all instances)
    requests: int = 0  # pending, not yet written
    texts: int = 0
    tokens: int = 0
    last_flush: float = field(default=0.0)
    retry_at: float = float("-inf")  # after a failed write: no new try before this

    @property
    def dirty(self) -> bool:
        return bool(self.requests or self.texts or self.tokens)


@dataclass(frozen=True)
class Ticket:
    """One admitted request: refund it if the work fails, record its tokens if it succeeds."""

    token_id: str
    day: str
    texts: int


class UsageMeter:
    """Admission against the daily quota plus buffered usage writes. Thread-safe."""

    def __init__(self, client: Any, table: str, *, flush_every: int = 25, flush_interval_s: float = 5.0,
                 headroom: float = 0.1, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, on_error: Callable[[Exception], None] | None = None) -> None:
        self.client, self.table = client, table
        self.flush_every, self.flush_interval_s, self.headroom = flush_every, flush_interval_s, headroom
        self.clock, self.wall, self.on_error = clock, wall, on_error
        self._days: dict[tuple[str, str], _Day] = {}
        self._lock = threading.Lock()

    def admit(self, record: TokenRecord, texts: int) -> Ticket:
        """Reserve ``texts`` of today's quota or raise QuotaExceededError (429, Retry-After)."""
        now_wall = self.wall()
        day = utc_day(now_wall)
        quota = record.quota_per_day
        with self._lock:
            state = self._state(record.token_id, day)
            projected = state.used + state.texts + texts
            if quota is None or projected <= quota - int(quota * self.headroom):
                state.requests += 1
                state.texts += texts
                return Ticket(record.token_id, day, texts)
            # near the boundary: write what is pending, then ask the table, atomically
            self._write(record.token_id, day, state, strict=True)
            try:
                out = self.client.update_item(
                    TableName=self.table, Key=self._key(record.token_id, day), UpdateExpression=_UPDATE,
                    ConditionExpression="attribute_not_exists(#t) OR #t <= :max_before",
                    ExpressionAttributeNames=_NAMES,
                    ExpressionAttributeValues={":r": {"N": "1"}, ":t": {"N": str(texts)}, ":k": {"N": "0"},
                                               ":exp": {"N": str(int(now_wall) + RETENTION_S)},
                                               ":max_before": {"N": str(quota - texts)}},
                    ReturnValues="ALL_NEW")
            except Exception as exc:  # noqa: BLE001
                if _is_condition_failure(exc):
                    raise QuotaExceededError(
                        f"daily quota of {quota} texts reached; it resets at 00:00 UTC",
                        retry_after=seconds_to_utc_midnight(now_wall)) from None
                raise TokenStoreUnavailableError("usage store unavailable; try again shortly",
                                                 retry_after=5) from exc
            state.used = int(out["Attributes"]["texts"]["N"])
            return Ticket(record.token_id, day, texts)

    def record(self, ticket: Ticket, tokens: int) -> None:
        """The admitted work succeeded: count its tokens, flush if a window is full."""
        with self._lock:
            state = self._state(ticket.token_id, ticket.day)
            state.tokens += tokens
            now = self.clock()
            due = now >= state.retry_at and (state.requests >= self.flush_every
                                             or now - state.last_flush >= self.flush_interval_s)
        if due:
            self.flush(ticket.token_id)

    def refund(self, ticket: Ticket) -> None:
        """The admitted work failed: it is neither billed nor counted against the quota."""
        with self._lock:
            state = self._state(ticket.token_id, ticket.day)
            state.requests -= 1
            state.texts -= ticket.texts

    def flush(self, token_id: str | None = None) -> None:
        """Write pending increments (one token's, or all). Failures keep them pending."""
        with self._lock:
            for (tid, day), state in list(self._days.items()):
                if token_id is None or tid == token_id:
                    try:
                        self._write(tid, day, state, strict=False)
                        state.retry_at = float("-inf")
                    except Exception as exc:  # noqa: BLE001 - billing retries on a later flush
                        state.retry_at = self.clock() + RETRY_UNAVAILABLE_S
                        if self.on_error is not None:
                            self.on_error(exc)
                    if day != utc_day(self.wall()) and not state.dirty:
                        del self._days[(tid, day)]

    def pending(self, token_id: str, day: str | None = None) -> dict[str, int]:
        state = self._days.get((token_id, day or utc_day(self.wall())), _Day())
        return {"requests": state.requests, "texts": state.texts, "tokens": state.tokens}

    # --- internals ----------------------------------------------------------------------
    def _state(self, token_id: str, day: str) -> _Day:
        state = self._days.get((token_id, day))
        if state is None:
            state = self._days[(token_id, day)] = _Day(last_flush=self.clock())
        return state

    def _key(self, token_id: str, day: str) -> dict[str, Any]:
        return {"pk": {"S": USAGE_PK + token_id}, "sk": {"S": day}}

    def _write(self, token_id: str, day: str, state: _Day, *, strict: bool) -> None:
        state.last_flush = self.clock()
        if not state.dirty:
            return
        try:
            out = self.client.update_item(
                TableName=self.table, Key=self._key(token_id, day), UpdateExpression=_UPDATE,
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={":r": {"N": str(state.requests)}, ":t": {"N": str(state.texts)},
                                           ":k": {"N": str(state.tokens)},
                                           ":exp": {"N": str(int(self.wall()) + RETENTION_S)}},
                ReturnValues="ALL_NEW")
        except Exception as exc:  # noqa: BLE001
            if strict:
                raise TokenStoreUnavailableError("usage store unavailable; try again shortly",
                                                 retry_after=int(RETRY_UNAVAILABLE_S)) from exc
            raise
        state.requests = state.texts = state.tokens = 0
        state.used = int(out["Attributes"]["texts"]["N"])


def _is_condition_failure(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


# --- the quota for paths other than the API's requests (batch jobs) -----------------------------
# Direct, unbuffered writes into the same USAGE# rows the API meter uses, so one quota and one bill
# cover every path. A Ticket here is a reservation: texts already counted against the day's quota.
#
#   ticket = reserve(ddb, table, token_id, quota_per_day, n)           # job admission: 429 if over
#   ticket = reserve(ddb, table, token_id, quota_per_day, n, partial=True)  # a chunk: what is left
#   ... run ticket.texts texts ...
#   settle(ddb, table, ticket, texts=ran, tokens=tokens, requests=1)  # bill, give back the rest
#   settle(ddb, table, ticket, texts=0, requests=0)                   # nothing ran: full refund
#
# The rows are per UTC day: a ticket stays on the day it was reserved (settle writes there).
def add_usage(client: Any, table: str, token_id: str, day: str, *, requests: int = 0, texts: int = 0,
              tokens: int = 0, now: float | None = None) -> dict[str, int]:
    """Unconditionally add (or, with negative numbers, give back) usage; returns the row's totals.
    Raises TokenStoreUnavailableError when DynamoDB cannot be written."""
    try:
        out = client.update_item(
            TableName=table, Key={"pk": {"S": USAGE_PK + token_id}, "sk": {"S": day}}, UpdateExpression=_UPDATE,
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues={":r": {"N": str(int(requests))}, ":t": {"N": str(int(texts))},
                                       ":k": {"N": str(int(tokens))},
                                       ":exp": {"N": str(int(time.time() if now is None else now) + RETENTION_S)}},
            ReturnValues="ALL_NEW")
    except Exception as exc:  # noqa: BLE001
        raise TokenStoreUnavailableError("usage store unavailable; try again shortly",
                                         retry_after=int(RETRY_UNAVAILABLE_S)) from exc
    return _counts(out.get("Attributes") or {})


def reserve(client: Any, table: str, token_id: str, quota_per_day: int | None, texts: int, *,
            partial: bool = False, now: float | None = None) -> Ticket:
    """Count ``texts`` against today's quota with a conditional write: exact across instances.

    ``partial=False``: all or nothing, QuotaExceededError (429, Retry-After to 00:00 UTC) if
    they do not fit. ``partial=True``: grant what is left (``ticket.texts`` may be smaller than
    asked); QuotaExceededError only when nothing is left. ``quota_per_day=None``: unlimited.
    The reservation counts texts only; ``settle`` adds requests and tokens and gives back the
    texts that did not run. Raises TokenStoreUnavailableError (503) when DynamoDB cannot answer."""
    now = time.time() if now is None else now
    day = utc_day(now)
    texts = int(texts)
    if texts < 0:
        raise ValueError("texts must be >= 0")
    if quota_per_day is None or texts == 0:
        if texts:
            add_usage(client, table, token_id, day, texts=texts, now=now)
        return Ticket(token_id, day, texts)
    for _ in range(5):  # a partial grant races other writers: re-read and try again
        grant = texts
        if partial:
            used = _read_texts(client, table, token_id, day)
            grant = min(texts, quota_per_day - used)
        if grant <= 0:
            break
        if _add_if_fits(client, table, token_id, day, grant, quota_per_day, now):
            return Ticket(token_id, day, grant)
        if not partial:
            break
    raise QuotaExceededError(f"daily quota of {quota_per_day} texts reached; it resets at 00:00 UTC",
                             retry_after=seconds_to_utc_midnight(now))


def settle(client: Any, table: str, ticket: Ticket, *, texts: int, tokens: int = 0, requests: int = 1,
           now: float | None = None) -> dict[str, int]:
    """Bill what ran under a reservation (``texts`` <= ``ticket.texts``), count ``requests`` and
    ``tokens``, and give the unused ``ticket.texts - texts`` back to the quota. Returns the totals."""
    if not 0 <= texts <= ticket.texts:
        raise ValueError(f"settle: {texts} texts ran on a reservation of {ticket.texts}")
    return add_usage(client, table, ticket.token_id, ticket.day, requests=requests, texts=texts - ticket.texts,
                     tokens=tokens, now=now)


def _read_texts(client: Any, table: str, token_id: str, day: str) -> int:
    try:
        return read_usage(client, table, token_id, day)["texts"]
    except Exception as exc:  # noqa: BLE001
        raise TokenStoreUnavailableError("usage store unavailable; try again shortly",
                                         retry_after=int(RETRY_UNAVAILABLE_S)) from exc


def _add_if_fits(client: Any, table: str, token_id: str, day: str, texts: int, quota: int, now: float) -> bool:
    try:
        client.update_item(
            TableName=table, Key={"pk": {"S": USAGE_PK + token_id}, "sk": {"S": day}}, UpdateExpression=_UPDATE,
            ConditionExpression="attribute_not_exists(#t) OR #t <= :max_before", ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues={":r": {"N": "0"}, ":t": {"N": str(texts)}, ":k": {"N": "0"},
                                       ":exp": {"N": str(int(now) + RETENTION_S)},
                                       ":max_before": {"N": str(quota - texts)}})
    except Exception as exc:  # noqa: BLE001
        if _is_condition_failure(exc):
            return False
        raise TokenStoreUnavailableError("usage store unavailable; try again shortly",
                                         retry_after=int(RETRY_UNAVAILABLE_S)) from exc
    return True


def _counts(item: dict[str, Any]) -> dict[str, int]:
    return {k: int(item.get(k, {}).get("N", "0")) for k in ("requests", "texts", "tokens")}


def read_usage(client: Any, table: str, token_id: str, day: str) -> dict[str, int]:
    """Today's (or ``day``'s) counters for one token, straight from the table."""
    item = client.get_item(TableName=table, Key={"pk": {"S": USAGE_PK + token_id}, "sk": {"S": day}},
                           ConsistentRead=True).get("Item") or {}
    return {k: int(item.get(k, {}).get("N", "0")) for k in ("requests", "texts", "tokens")}


__all__ = ["UsageMeter", "Ticket", "read_usage", "reserve", "settle", "add_usage", "utc_day",
           "seconds_to_utc_midnight", "USAGE_PK"]
