"""One cold start, as Lambda does it: a new interpreter, an empty cache dir, the artifact
fetched from S3 (a local moto server), then the first answer through the real handler.
Prints one JSON line of phase timings (ms) and peak RSS (MB)."""
from __future__ import annotations

import json
import sys
import time

def main(refs: list[str]) -> None:
    t_start = time.perf_counter()
    from functions.api import handler as api_handler  # imports + settings + clients + app (no preload)
    from infra.local.events import http_v2_event

    t_imported = time.perf_counter()
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
        event = http_v2_event("POST", path, body={"model": ref, "texts": ["what a lovely day"]},
                              headers={"content-type": "application/json"})
        t = time.perf_counter()
        response = api_handler.handler(event, _Ctx())
        if response["statusCode"] != 200:
            raise SystemExit(f"first request failed: {response}")
        if i == 0:
            first_ms = (time.perf_counter() - t) * 1e3
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
        "peak_rss_mb": _peak_rss_mb(),
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
    main(sys.argv[1:])
