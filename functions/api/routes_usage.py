"""GET /v1/usage (a token holder's own day and month) and the OpenAI-style rate-limit headers.

Every answer to an authenticated request carries, for each limit that is on::

    x-ratelimit-limit-requests / -texts       the per-minute limit
    x-ratelimit-remaining-requests / -texts   what is left in the current window
    x-ratelimit-reset-requests / -texts       time until the sliding minute is empty, e.g. "83s"

(OpenAI's names, with ``texts`` where OpenAI counts tokens: texts are what is metered here.)
The figures are this instance's view, exact to within one request per instance per minute
(functions/auth/ratelimit.py).
"""
from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, request

from functions.auth.errors import TokenStoreUnavailableError
from functions.auth.usage import MONTH_RE, read_month, total, utc_day
from functions.nlp.errors import InputTypeError

from . import current
from .context import ApiServices, json_response
from .gate import rate_limit_headers


def register(app: Flask, ctx: ApiServices) -> None:
    @app.get("/v1/usage", endpoint="usage")
    def usage() -> Response:
        """The calling token's usage today and this month (or ``?month=YYYY-MM``), from the table."""
        principal = current.principal()
        meter = ctx.meter
        today = utc_day(meter.wall() if meter is not None else time.time())
        month = request.args.get("month", today[:7])
        if not isinstance(month, str) or not MONTH_RE.fullmatch(month):
            raise InputTypeError("month must look like YYYY-MM")
        days: dict[str, dict[str, int]] = {}
        if meter is not None and ctx.auth_enabled:
            meter.flush(principal.token_id)  # what this instance still holds is shown too
            days = _read(meter, principal.token_id, month)
        day = days.get(today, {"requests": 0, "texts": 0, "tokens": 0}) if month == today[:7] else None
        quota = principal.quota_per_day
        body: dict[str, Any] = {
            "object": "usage", "token_id": principal.token_id, "owner": principal.owner,
            "quota_per_day": quota,
            "today": None if day is None else {"date": today, **day,
                                                "remaining": None if quota is None else max(0, quota - day["texts"])},
            "month": {"month": month, **total(days), "days": [{"date": d, **c} for d, c in sorted(days.items())]},
            "rate_limits": {k: {"limit": v[0], "remaining": v[1], "reset_seconds": v[2]}
                            for k, v in (meter.rate_status(principal) if meter is not None else {}).items()},
        }
        return json_response(body)


def _read(meter: Any, token_id: str, month: str) -> dict[str, dict[str, int]]:
    try:
        return read_month(meter.client, meter.table, token_id, month)
    except Exception as exc:  # noqa: BLE001 - DynamoDB down: a 503 to retry, never a 500
        raise TokenStoreUnavailableError("the usage store is unavailable; try again shortly",
                                         retry_after=5) from exc


__all__ = ["register", "rate_limit_headers"]
