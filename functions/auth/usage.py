"""Per-token usage (requests, texts, tokens), the daily quota and per-minute rate limits.

Usage rows (tokens table): pk ``USAGE#<token_id>``, sk ``<YYYY-MM-DD>`` (UTC), counters
``requests``, ``texts``, ``tokens`` grown with atomic ``ADD``; the quota counts texts per UTC
day. The same row carries the rate-limit windows (functions/auth/ratelimit.py): ``win`` (epoch
minute), ``win_requests``, ``win_texts`` and the minute before it, ``prev_requests``, ``prev_texts``.

The API meter (``UsageMeter``), its guarantees in numbers:
- The first time an instance sees a token on a day it reads the row (one consistent GetItem),
  so a fresh instance starts from the table's total, not from zero.
- Usage is written before the answer leaves (``flush_every=1``, the default): one UpdateItem per
  metered request, which also returns the table's totals (all instances, batch jobs included).
  If that write fails the answer is a 503 and the request is refunded: nothing served is left
  unwritten when Lambda discards an instance, and nothing is billed that was not served.
- Far from the quota (more than ``headroom``, 10 %, left) a request is admitted on what the
  instance last read; near it every admission is a conditional ``ADD`` (exact across instances).
  An instance's view can be stale by what others served since its last write, and its next
  write corrects it, so: texts served per day <= quota + one request's texts per instance that
  served the token that day (at most ``max_texts`` each).
- Rate limits (requests and texts per minute, over a sliding minute) are counted in the same
  write: instances agree within one request per instance per minute.
``flush_every > 1`` buffers writes (fewer UpdateItems, same quota logic) at the price of
losing up to that many requests' usage when an instance is discarded: a stated tradeoff.

Batch jobs use ``reserve`` / ``settle`` below: direct conditional writes on the same rows.
"""
from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from functions.store.clients import error_code

from . import ratelimit
from .errors import QuotaExceededError, RateLimitedError, TokenStoreUnavailableError
from .ratelimit import WINDOW_S, RateLimits, Windows
from .tokens import TokenRecord

USAGE_PK = "USAGE#"
RETENTION_S = 400 * 86400  # usage rows are billing records: keep them a little over a year
_UPDATE = "ADD #r :r, #t :t, #k :k SET expires_at = if_not_exists(expires_at, :exp)"
_NAMES = {"#r": "requests", "#t": "texts", "#k": "tokens"}
# the rate windows, counted in the same write: add to this minute, move on to the next minute
# (this one becomes the previous), or start afresh after a quiet minute or more
_EXP = "expires_at = if_not_exists(expires_at, :exp)"
_WINDOW = {
    "same": ("ADD #r :r, #t :t, #k :k, #wr :r, #wt :t SET " + _EXP, "#w = :m"),
    "next": ("ADD #r :r, #t :t, #k :k SET #w = :m, #pr = #wr, #pt = #wt, #wr = :r, #wt = :t, " + _EXP,
             "#w = :before"),
    "fresh": ("ADD #r :r, #t :t, #k :k SET #w = :m, #pr = :zero, #pt = :zero, #wr = :r, #wt = :t, " + _EXP,
              "(attribute_not_exists(#w) OR #w < :before)"),
}
_WIN_NAMES = {**_NAMES, "#w": "win", "#wr": "win_requests", "#wt": "win_texts"}
_PREV_NAMES = {"#pr": "prev_requests", "#pt": "prev_texts"}
_FITS = "(attribute_not_exists(#t) OR #t <= :max_before)"
RETRY_UNAVAILABLE_S = 5.0  # after a failed write, wait this long before the next try
MONTH_RE = re.compile(r"\d{4}-(0[1-9]|1[0-2])")  # a month of usage rows: YYYY-MM (UTC)


_last_day: tuple[float, str] = (float("nan"), "")  # (epoch day number, its date): a few calls per request


def utc_day(epoch_s: float) -> str:
    global _last_day
    number = epoch_s // 86400  # gmtime floors to the second, so the date changes only at multiples of 86400
    last = _last_day
    if number == last[0]:
        return last[1]
    day = time.strftime("%Y-%m-%d", time.gmtime(epoch_s))
    _last_day = (number, day)
    return day


def seconds_to_utc_midnight(epoch_s: float) -> int:
    return max(1, math.ceil(86400 - (epoch_s % 86400)))


def quota_exceeded(quota: int, now_wall: float) -> QuotaExceededError:
    """The one 429 every path (API, batch) answers for a spent daily quota."""
    return QuotaExceededError(f"daily quota of {quota} texts reached; it resets at 00:00 UTC",
                              retry_after=seconds_to_utc_midnight(now_wall))


@dataclass
class _Day:
    used: int | None = None  # texts in the table at our last read or write (all instances); None: not read
    requests: int = 0  # pending, not yet written
    texts: int = 0
    tokens: int = 0
    windows: Windows = Windows()  # the rate windows the table held at our last read or write
    last_flush: float = field(default=0.0)

    @property
    def dirty(self) -> bool:
        return bool(self.requests or self.texts or self.tokens)

    def seen(self, row: dict[str, Any]) -> None:
        """Take the table's totals from a returned or read row."""
        self.used = _n(row, "texts")
        if "win" in row:
            self.windows = Windows(_n(row, "win"), (_n(row, "win_requests"), _n(row, "win_texts")),
                                   (_n(row, "prev_requests"), _n(row, "prev_texts")))

    @property
    def in_flight(self) -> tuple[int, int]:
        return self.requests, self.texts


@dataclass(frozen=True)
class Ticket:
    """Admitted texts: refund them if the work fails, record the tokens if it succeeds.
    For batch jobs (``reserve``) it is a reservation of ``texts`` on ``day``'s row."""

    token_id: str
    day: str
    texts: int


class UsageMeter:
    """Admission (rate limits, daily quota) and usage writes for the API. Thread-safe."""

    def __init__(self, client: Any, table: str, *, flush_every: int = 1, flush_interval_s: float = 5.0,
                 headroom: float = 0.1, limits: RateLimits = RateLimits(), clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, on_error: Callable[[Exception], None] | None = None) -> None:
        self.client, self.table = client, table
        self.flush_every, self.flush_interval_s, self.headroom = flush_every, flush_interval_s, headroom
        self.default_limits = limits
        self.clock, self.wall, self.on_error = clock, wall, on_error
        self._days: dict[tuple[str, str], _Day] = {}
        self._lock = threading.Lock()
        self._down_until = float("-inf")  # after a failed DynamoDB call: refuse without asking again

    def limits_for(self, record: TokenRecord) -> RateLimits:
        """The token's own limits where it has them, else the service defaults."""
        d = self.default_limits
        if record.requests_per_minute is None and record.texts_per_minute is None:
            return d
        rpm = record.requests_per_minute if record.requests_per_minute is not None else d.requests_per_minute
        tpm = record.texts_per_minute if record.texts_per_minute is not None else d.texts_per_minute
        return RateLimits(rpm, tpm)

    def check(self, record: TokenRecord, texts: int) -> None:
        """Refuse early (429/503) what ``admit`` would refuse on what this instance knows,
        reserving nothing: the API calls it before any model is downloaded or loaded."""
        now_wall = self.wall()
        day = utc_day(now_wall)
        quota = record.quota_per_day
        with self._lock:
            self._check_store()
            state = self._state(record.token_id, day)
            if state.used is None:
                self._read(record.token_id, day, state)
            self._check_rate(state, self.limits_for(record), texts, now_wall)
            if quota is not None and state.used + state.texts + texts > quota:
                raise quota_exceeded(quota, now_wall)

    def admit(self, record: TokenRecord, texts: int) -> Ticket:
        """Admit ``texts`` or raise RateLimitedError / QuotaExceededError (429, Retry-After) or
        TokenStoreUnavailableError (503). Nothing is loaded or run before this answers."""
        now_wall = self.wall()
        day = utc_day(now_wall)
        quota = record.quota_per_day
        limits = self.limits_for(record)
        with self._lock:
            self._check_store()
            state = self._state(record.token_id, day)
            if state.used is None:
                self._read(record.token_id, day, state)
            self._check_rate(state, limits, texts, now_wall)
            projected = state.used + state.texts + texts
            if quota is None or projected <= quota - int(quota * self.headroom):
                state.requests += 1
                state.texts += texts
                return Ticket(record.token_id, day, texts)
            # near the boundary: write what is pending, then ask the table, atomically
            self._write(record.token_id, day, state)
            row = self._update(record.token_id, day, 1, texts, 0, now_wall, max_before=quota - texts)
            if row is None:
                raise quota_exceeded(quota, now_wall)
            state.seen(row)
            return Ticket(record.token_id, day, texts)

    def record(self, ticket: Ticket, tokens: int) -> None:
        """The admitted work succeeded: count its tokens and write (every request by default).
        With ``flush_every=1`` a failed write refunds the ticket and raises a 503: the caller
        must not hand out what could not be billed."""
        with self._lock:
            state = self._state(ticket.token_id, ticket.day)
            state.tokens += tokens
            if not self._due(state):
                return
            try:
                self._check_store()
                self._write(ticket.token_id, ticket.day, state)
            except TokenStoreUnavailableError:
                if self.flush_every == 1:
                    state.requests, state.texts, state.tokens = (state.requests - 1, state.texts - ticket.texts,
                                                                 state.tokens - tokens)
                    raise
                # buffered mode: keep it pending for the next flush (the stated tradeoff)

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
                if token_id is not None and tid != token_id:
                    continue
                if state.dirty and self.clock() >= self._down_until:
                    try:
                        self._write(tid, day, state)
                    except TokenStoreUnavailableError:
                        pass  # kept pending; on_error has been told
                if day != utc_day(self.wall()) and not state.dirty:
                    del self._days[(tid, day)]

    def flush_due(self) -> None:
        """Write what is due: every pending change with ``flush_every=1`` (refunds of failed
        requests), else full or old buffers. The Lambda handler calls this after every invocation."""
        with self._lock:
            due = [(tid, day) for (tid, day), state in self._days.items() if state.dirty and self._due(state)]
        for tid, day in due:
            self.flush(tid)

    def pending(self, token_id: str, day: str | None = None) -> dict[str, int]:
        state = self._days.get((token_id, day or utc_day(self.wall())), _Day())
        return {"requests": state.requests, "texts": state.texts, "tokens": state.tokens}

    def rate_status(self, record: TokenRecord) -> dict[str, tuple[int, int, int]]:
        """{"requests"|"texts": (limit, remaining, seconds to reset)} for the limits that are on,
        from what this instance knows (no DynamoDB call)."""
        now_wall = self.wall()
        state = self._days.get((record.token_id, utc_day(now_wall)), _Day())
        return ratelimit.status(state.windows, self.limits_for(record), now_wall, state.in_flight)

    # --- internals ----------------------------------------------------------------------
    def _state(self, token_id: str, day: str) -> _Day:
        state = self._days.get((token_id, day))
        if state is None:
            state = self._days[(token_id, day)] = _Day(last_flush=self.clock())
        return state

    def _due(self, state: _Day) -> bool:
        return (self.flush_every == 1 or state.requests >= self.flush_every
                or self.clock() - state.last_flush >= self.flush_interval_s)

    def _check_store(self) -> None:
        if self.clock() < self._down_until:
            raise TokenStoreUnavailableError("usage store unavailable; try again shortly",
                                             retry_after=int(RETRY_UNAVAILABLE_S))

    def _failed(self, exc: Exception) -> TokenStoreUnavailableError:
        self._down_until = self.clock() + RETRY_UNAVAILABLE_S
        if self.on_error is not None:
            self.on_error(exc)
        return TokenStoreUnavailableError("usage store unavailable; try again shortly",
                                          retry_after=int(RETRY_UNAVAILABLE_S))

    def _check_rate(self, state: _Day, limits: RateLimits, texts: int, now_wall: float) -> None:
        broken = ratelimit.over(state.windows, limits, now_wall, texts, state.in_flight)
        if broken:
            raise RateLimitedError(f"rate limit of {broken} reached",
                                   retry_after=ratelimit.retry_after(state.windows, limits, now_wall, texts))

    def _read(self, token_id: str, day: str, state: _Day) -> None:
        try:
            row = self.client.get_item(TableName=self.table, Key=_key(token_id, day),
                                       ConsistentRead=True).get("Item") or {}
        except Exception as exc:  # noqa: BLE001
            raise self._failed(exc) from exc
        state.seen(row)

    def _write(self, token_id: str, day: str, state: _Day) -> None:
        state.last_flush = self.clock()
        if not state.dirty:
            return
        row = self._update(token_id, day, state.requests, state.texts, state.tokens, self.wall())
        state.requests = state.texts = state.tokens = 0
        state.seen(row or {})

    def _update(self, token_id: str, day: str, requests: int, texts: int, tokens: int, now_wall: float, *,
                max_before: int | None = None) -> dict[str, Any] | None:
        """One ADD on the day row, counting the rate window too; None: the quota condition failed."""
        values = {":r": {"N": str(requests)}, ":t": {"N": str(texts)}, ":k": {"N": str(tokens)},
                  ":exp": {"N": str(int(now_wall) + RETENTION_S)}}
        fits = ""
        if max_before is not None:
            values[":max_before"] = {"N": str(max_before)}
            fits = " AND " + _FITS
        minute = int(now_wall // WINDOW_S)
        state = self._days.get((token_id, day))
        known = state.windows.minute if state is not None else -1
        if requests <= 0 and texts <= 0:  # a refund: the window keeps what it counted
            kwargs = {"UpdateExpression": _UPDATE, "ExpressionAttributeNames": _NAMES}
            if fits:
                kwargs["ConditionExpression"] = fits[5:]
            return self._call(token_id, day, values, kwargs)
        for _ in range(3):
            minute = max(minute, known)  # a clock behind the table's counts into the table's minute
            step = "same" if known == minute else "next" if known == minute - 1 else "fresh"
            expression, condition = _WINDOW[step]
            extra = {":m": {"N": str(minute)}}
            if step != "same":
                extra[":before"] = {"N": str(minute - 1)}
            if step == "fresh":
                extra[":zero"] = {"N": "0"}
            kwargs = {"UpdateExpression": expression, "ConditionExpression": condition + fits,
                      "ExpressionAttributeNames": _WIN_NAMES if step == "same" else {**_WIN_NAMES, **_PREV_NAMES},
                      "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
            try:
                return self._call(token_id, day, {**values, **extra}, kwargs, raise_condition=True)
            except _ConditionFailed as failed:
                old = failed.item
                if max_before is not None and _n(old, "texts") > max_before:
                    return None
                known = _n(old, "win") if "win" in old else -1
        raise self._failed(RuntimeError("usage row kept changing under the rate window"))

    def _call(self, token_id: str, day: str, values: dict[str, Any], kwargs: dict[str, Any], *,
              raise_condition: bool = False) -> dict[str, Any] | None:
        try:
            out = self.client.update_item(TableName=self.table, Key=_key(token_id, day),
                                          ExpressionAttributeValues=values, ReturnValues="ALL_NEW", **kwargs)
        except Exception as exc:  # noqa: BLE001
            if _is_condition_failure(exc):
                if raise_condition:
                    raise _ConditionFailed(getattr(exc, "response", {}).get("Item") or {}) from None
                return None
            raise self._failed(exc) from exc
        return out.get("Attributes") or {}


class _ConditionFailed(Exception):
    def __init__(self, item: dict[str, Any]) -> None:
        super().__init__("condition failed")
        self.item = item


def _key(token_id: str, day: str) -> dict[str, Any]:
    return {"pk": {"S": USAGE_PK + token_id}, "sk": {"S": day}}


def _n(row: dict[str, Any], name: str) -> int:
    return int(row.get(name, {}).get("N", "0"))


def _is_condition_failure(exc: Exception) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


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
            TableName=table, Key=_key(token_id, day), UpdateExpression=_UPDATE,
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues={":r": {"N": str(int(requests))}, ":t": {"N": str(int(texts))},
                                       ":k": {"N": str(int(tokens))},
                                       ":exp": {"N": str(int(time.time() if now is None else now) + RETENTION_S)}},
            ReturnValues="ALL_NEW")
    except Exception as exc:  # noqa: BLE001
        raise TokenStoreUnavailableError("usage store unavailable; try again shortly",
                                         retry_after=int(RETRY_UNAVAILABLE_S)) from exc
    return _counts(out.get("Attributes") or {})


EDGE_DOWNLOADS = "edge_downloads"  # on the same USAGE# row: model bundles handed out for edge mode


def count_edge_download(client: Any, table: str, token_id: str, cap: int, *, now: float | None = None) -> int:
    """Count one edge-mode download on today's usage row unless ``cap`` were already counted (a
    conditional write: exact across instances); returns the day's count. Over the cap:
    RateLimitedError (429) with Retry-After to 00:00 UTC. ``cap`` 0: no cap, still counted."""
    now = time.time() if now is None else now
    condition = {} if cap <= 0 else {"ConditionExpression": "attribute_not_exists(#d) OR #d < :cap"}
    values = {":one": {"N": "1"}, ":exp": {"N": str(int(now) + RETENTION_S)}}
    if cap > 0:
        values[":cap"] = {"N": str(int(cap))}
    try:
        out = client.update_item(TableName=table, Key=_key(token_id, utc_day(now)),
                                 UpdateExpression=f"ADD #d :one SET {_EXP}", ExpressionAttributeNames={"#d": EDGE_DOWNLOADS},
                                 ExpressionAttributeValues=values, ReturnValues="UPDATED_NEW", **condition)
    except Exception as exc:  # noqa: BLE001
        if _is_condition_failure(exc):
            raise RateLimitedError(f"daily cap of {cap} edge model downloads reached; it resets at 00:00 UTC "
                                   "(a downloaded model stays cached in the browser)",
                                   retry_after=seconds_to_utc_midnight(now)) from exc
        raise TokenStoreUnavailableError("usage store unavailable; try again shortly",
                                         retry_after=int(RETRY_UNAVAILABLE_S)) from exc
    return _n(out.get("Attributes") or {}, EDGE_DOWNLOADS)


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
    raise quota_exceeded(quota_per_day, now)


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
    if texts > quota:  # a fresh day's row has no counter yet: the condition below would admit anything
        return False
    try:
        client.update_item(
            TableName=table, Key=_key(token_id, day), UpdateExpression=_UPDATE,
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
    return {k: _n(item, k) for k in COUNTERS}


COUNTERS = ("requests", "texts", "tokens")


def read_usage(client: Any, table: str, token_id: str, day: str) -> dict[str, int]:
    """One day's counters for one token, straight from the table."""
    item = client.get_item(TableName=table, Key=_key(token_id, day), ConsistentRead=True).get("Item") or {}
    return _counts(item)


def read_month(client: Any, table: str, token_id: str, month: str) -> dict[str, dict[str, int]]:
    """{day: counters} of one token for a month ``YYYY-MM`` (one Query on the token's own rows)."""
    days: dict[str, dict[str, int]] = {}
    paginator = client.get_paginator("query")
    for page in paginator.paginate(TableName=table, KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
                                   ExpressionAttributeValues={":pk": {"S": USAGE_PK + token_id},
                                                              ":m": {"S": month}}):
        for item in page.get("Items", ()):
            days[item["sk"]["S"]] = _counts(item)
    return days


def total(days: dict[str, dict[str, int]]) -> dict[str, int]:
    return {k: sum(d.get(k, 0) for d in days.values()) for k in COUNTERS}


__all__ = ["count_edge_download", "EDGE_DOWNLOADS", "UsageMeter", "RateLimits", "Ticket", "read_usage", "read_month", "total", "reserve", "settle",
           "add_usage", "utc_day", "seconds_to_utc_midnight", "quota_exceeded", "USAGE_PK", "COUNTERS", "MONTH_RE"]
