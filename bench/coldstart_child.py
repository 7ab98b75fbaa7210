"""One cold start, as Lambda does it: a new interpreter, an empty cache dir, the artifact
fetched from S3 (a local moto server), then the first answer through the real handler.
Prints one JSON line of phase timings (ms) and peak RSS (MB).

    python -m bench.coldstart_child REF...                          cold start, first answers
    python -m bench.coldstart_child --requests N --texts FILE REF...  then N requests, one at a time

With ``--requests`` the process goes on serving as a warm Lambda instance does: requests of 1, 8,
32 and 64 texts (from FILE, a JSON list) to each model in turn; peak RSS is then the instance's."""
from __future__ import annotations

import argparse
import json
import os
import time

SIZES = (1, 8, 32, 64)  # texts per request in the --requests rounds (64: the API's max_texts)


def main(refs: list[str], requests: int = 0, texts: list[str] | None = None) -> None:
    t_start = time.perf_counter()
    from functions.api import handler as api_handler  # imports + settings + clients + app (no preload)

    t_imported = time.perf_counter()
    from infra.local.events import http_v2_event  # the harness's own import: not part of the cold start

    from bench.coldstart_stage import BENCH_TOKEN_ENV
    token = os.environ.get(BENCH_TOKEN_ENV)  # a deployed stage's cold start: auth and metering on
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
    events: list[dict] = []
    store = api_handler.RUNTIME.store
    hook = store._on_event  # listen in on the store's load events (download/verify/session timings)

    def listen(name: str, data: dict) -> None:
        events.append({"event": name, **data})
        if hook is not None:
            hook(name, data)
    store._on_event = listen
    first_ms = 0.0
    for i, ref in enumerate(refs):
        path = "/v1/classify" if ref.startswith("sentiment") else "/v1/embed"
        event = http_v2_event("POST", path, body={"model": ref, "texts": ["what a lovely day"]}, headers=headers)
        t = time.perf_counter()
        response = api_handler.handler(event, _Ctx())
        if response["statusCode"] != 200:
            raise SystemExit(f"first request failed: {response}")
        if i == 0:
            first_ms = (time.perf_counter() - t) * 1e3
    rss_first = _peak_rss_mb()
    pool = texts or ["what a lovely day"]
    for i in range(requests):  # one at a time, as a Lambda instance serves them
        ref, size = refs[i % len(refs)], SIZES[(i // len(refs)) % len(SIZES)]
        path = "/v1/classify" if ref.startswith("sentiment") else "/v1/embed"
        batch = [pool[(i * 64 + j) % len(pool)] for j in range(size)]
        event = http_v2_event("POST", path, body={"model": ref, "texts": batch}, headers=headers)
        response = api_handler.handler(event, _Ctx())
        if response["statusCode"] != 200:
            raise SystemExit(f"request {i} failed: {response}")
    loaded = [e for e in events if e["event"] == "model_loaded"]
    first = loaded[0] if loaded else {}
    model_ms = sum(float(first.get(k, 0)) for k in ("download_ms", "verify_ms", "load_ms"))
    print(json.dumps({
        "import_init_ms": (t_imported - t_start) * 1e3,
        "download_ms": float(first.get("download_ms", 0)),
        "verify_ms": float(first.get("verify_ms", 0)),
        "session_ms": float(first.get("load_ms", 0)),
        "first_inference_ms": first_ms - model_ms,
        "total_to_first_answer_ms": (t_imported - t_start) * 1e3 + first_ms,
        "peak_rss_mb": rss_first,
        **({"requests": requests, "peak_rss_after_requests_mb": _peak_rss_mb()} if requests else {}),
    }))


def _peak_rss_mb() -> float:
    """VmHWM of this process. (ru_maxrss would carry over the parent's peak across exec.)"""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class _Ctx:
    function_name = "bench-api"
    memory_limit_in_mb = 1769
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-api"
    aws_request_id = "cold"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart_child")
    parser.add_argument("refs", nargs="+")
    parser.add_argument("--requests", type=int, default=0)
    parser.add_argument("--texts", default=None, help="JSON list of texts for the --requests rounds")
    args = parser.parse_args()
    main(args.refs, args.requests, json.loads(open(args.texts).read()) if args.texts else None)
