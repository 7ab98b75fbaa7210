"""Batch jobs on the API's meter: admission at job creation, grants per micro-batch, settled per chunk.

One quota and one bill for every path: everything here writes the same ``USAGE#`` rows as the
API, through ``functions.auth.usage`` (``reserve`` / ``settle``); no second meter.

- Creating a job reserves its declared texts (or 1 when undeclared: the quota must have room
  for at least one) with an all-or-nothing conditional write: a token over its quota gets the
  API's 429 ``quota-exceeded`` problem. The job row keeps the reservation and the owner's quota.
- When the upload's run starts, the worker takes the reservation back (once: an atomic REMOVE on
  the job row) and gives it back to the quota; the job is then billed for what it runs.
- Before each micro-batch the worker is granted exactly the texts it is about to run (a
  conditional write; a partial grant at the boundary). A grant short of the micro-batch stops
  the job there: status ``quota-exceeded``, the lines run so far in the results and the counts.
- At the end of a chunk it settles: texts that ran (result rows without an error) are billed,
  one request per chunk, the chunk's tokens; granted texts that failed are given back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from functions.auth.errors import QuotaExceededError
from functions.auth.usage import Ticket, reserve, settle
from functions.nlp.errors import InputTypeError

QUOTA_STOP = "quota-exceeded"  # the job status, and the reason code, of a job stopped by its quota
UNDECLARED_TEXTS = 1  # reserved when the client does not say how many texts the file holds


def declared_texts(value: Any, max_bytes: int) -> int:
    """The texts a client declares for a job (None: undeclared): a positive integer no larger
    than the lines an upload of ``max_bytes`` can hold (two bytes a line, a CSV's shortest)."""
    if value is None:
        return UNDECLARED_TEXTS
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= max(1, max_bytes // 2):
        raise InputTypeError(f"texts must be the number of lines the file holds: an integer from 1 to "
                             f"{max(1, max_bytes // 2)}")
    return value


def job_meter(owner: Any) -> dict[str, Any]:
    """What the worker needs to bill a job (kept on the job row): the token id and its daily quota."""
    return {"token_id": str(owner.token_id), "quota_per_day": owner.quota_per_day}


def admit(ddb: Any, table: str, owner: Any, texts: int, *, now: float) -> dict[str, Any]:
    """Reserve ``texts`` of the owner's quota or raise QuotaExceededError (429); the job row's fields."""
    ticket = reserve(ddb, table, str(owner.token_id), owner.quota_per_day, texts, now=now)
    return {"meter": job_meter(owner), "reservation": {"day": ticket.day, "texts": ticket.texts}}


def give_back(ddb: Any, table: str, meter: dict[str, Any], reservation: dict[str, Any] | None,
              *, now: float) -> None:
    """Return a job's reservation to the quota (the caller took it off the job row: once)."""
    if reservation and int(reservation.get("texts", 0)):
        ticket = Ticket(str(meter["token_id"]), str(reservation["day"]), int(reservation["texts"]))
        settle(ddb, table, ticket, texts=0, requests=0, now=now)


@dataclass
class ChunkMeter:
    """Grants for one chunk, micro-batch by micro-batch; ``settle`` bills what ran. Callable as
    the LineRunner's budget: ``meter(n)`` -> how many of the next n texts may run (0: stop)."""

    ddb: Any
    table: str
    meter: dict[str, Any]
    clock: Callable[[], float]
    tickets: list[Ticket] = field(default_factory=list)

    def __call__(self, texts: int) -> int:
        token_id, quota = str(self.meter["token_id"]), self.meter.get("quota_per_day")
        quota = None if quota is None else int(quota)
        try:  # one conditional write while far from the boundary; at it, a partial grant
            ticket = reserve(self.ddb, self.table, token_id, quota, texts, now=self.clock())
        except QuotaExceededError:
            try:
                ticket = reserve(self.ddb, self.table, token_id, quota, texts, partial=True, now=self.clock())
            except QuotaExceededError:
                return 0
        self.tickets.append(ticket)
        return ticket.texts

    @property
    def granted(self) -> int:
        return sum(t.texts for t in self.tickets)

    def settle(self, ran: int, tokens: int) -> None:
        """Bill ``ran`` texts (<= granted), one request and ``tokens``; give the rest back: one
        write per UTC day the grants fell on (one, unless the chunk ran across midnight)."""
        granted: dict[str, int] = {}
        for ticket in self.tickets:
            granted[ticket.day] = granted.get(ticket.day, 0) + ticket.texts
        left, first = ran, True
        for day, texts in granted.items():
            used = min(left, texts)
            left -= used
            settle(self.ddb, self.table, Ticket(str(self.meter["token_id"]), day, texts), texts=used,
                   tokens=tokens if first else 0, requests=1 if first else 0, now=self.clock())
            first = False
        self.tickets = []


__all__ = ["ChunkMeter", "admit", "give_back", "declared_texts", "job_meter", "QUOTA_STOP", "UNDECLARED_TEXTS"]
