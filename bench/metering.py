"""What exact metering costs per request: the API meter (functions/auth/usage.py) alone, writing
usage before each answer (``usage_flush_requests: 1``, the default) or buffering 25 requests.

    python -m bench.metering [--requests 400]

Runs the meter against a moto_server on loopback (the local stack's DynamoDB) and counts every
DynamoDB call: calls and write units per request are exact; milliseconds are loopback moto
(an in-region DynamoDB write is typically a few ms: the order, not the figure, carries over).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

from functions.auth.tokens import TokenRecord
from infra.local.resources import create_table


def measure(url: str, flush_every: int, requests: int) -> dict:
    import boto3

    from functions.auth.usage import UsageMeter

    ddb = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                       aws_access_key_id="bench", aws_secret_access_key="bench")
    table = f"bench-meter-{flush_every}"
    create_table(ddb, table)
    calls: list[str] = []
    ddb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    meter = UsageMeter(ddb, table, flush_every=flush_every, flush_interval_s=3600.0)
    record = TokenRecord(token_id="tok_bench", owner="bench", models="*", quota_per_day=10**9)
    meter.record(meter.admit(record, 1), tokens=20)  # first sight: reads the row
    calls.clear()
    timings = []
    for _ in range(requests):
        t0 = time.perf_counter()
        meter.check(record, 1)
        meter.record(meter.admit(record, 1), tokens=20)
        meter.flush_due()  # what the handler does after each invocation
        timings.append((time.perf_counter() - t0) * 1e3)
    return {"usage_flush_requests": flush_every, "requests": requests,
            "dynamodb_calls_per_request": round(len(calls) / requests, 3),
            "write_units_per_request": round(calls.count("UpdateItem") / requests, 3),  # rows < 1 KB: 1 WRU each
            "meter_ms_p50": round(statistics.median(timings), 3),
            "meter_ms_p99": round(sorted(timings)[int(0.99 * (len(timings) - 1))], 3),
            "lost_if_discarded_max_requests": flush_every - 1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metering", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args(argv)
    from infra.local.moto import moto_server

    with moto_server() as url:
        rows = [measure(url, n, args.requests) for n in (1, 25)]
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
