"""Per-request overhead the api handler adds to inference: log bytes (the access log line + the
EMF metrics blob, as CloudWatch Logs ingests them) and DynamoDB request units (token lookups,
usage metering as actually flushed), for the stage's settings and for the lean levers.

Runs the real handler in-process on moto (bench/stack.py) with Powertools logging at INFO and
metrics on, the way Lambda runs it; stdout is captured and measured per request. The cost model
prices the same quantities from the sweep (infra/cost); this is the bench's own measurement.
"""
from __future__ import annotations

import io
import os
from contextlib import redirect_stdout

from bench.stack import handler_stack

LEAN = {"SNLP_ACCESS_LOG_SAMPLE_RATE": "0.1", "SNLP_METRICS_PER_MODEL": "false"}


def settings(stage: str = "prod") -> dict[str, dict[str, str]]:
    """label -> environment: the stage's overhead levers, and the lean ones."""
    from infra.config import load_config

    cfg = load_config().stage(stage)
    as_configured = {"SNLP_ACCESS_LOG_SAMPLE_RATE": str(cfg.access_log_sample_rate),
                     "SNLP_METRICS_PER_MODEL": str(cfg.metrics_per_model).lower()}
    return {f"stage {stage}": as_configured, "lean (access log 10 %, no per-model metrics)": LEAN}


def measure(texts: list[str], env: dict[str, str], requests: int = 200) -> dict:
    from botocore.client import BaseClient

    from infra.cost.sweep_worker import Calls

    saved, original = dict(os.environ), BaseClient._make_api_call
    os.environ.update(POWERTOOLS_LOG_LEVEL="INFO", POWERTOOLS_METRICS_DISABLED="false", **env)
    calls, out = Calls(), io.StringIO()
    calls.install()
    try:
        with redirect_stdout(out), handler_stack(environ_overrides=env) as (invoke, _):
            invoke("POST", "/v1/classify", {"model": "sentiment", "texts": [texts[0]]})  # cold: loads the model
            bytes0, before = len(out.getvalue().encode()), calls.snapshot()
            for i in range(requests):
                status, _ = invoke("POST", "/v1/classify", {"model": "sentiment", "texts": [texts[i % len(texts)]]})
                assert status == 200, status
            log_bytes = len(out.getvalue().encode()) - bytes0
            after = calls.snapshot()
    finally:
        BaseClient._make_api_call = original
        os.environ.clear()
        os.environ.update(saved)
    _, _, reads, writes = (a - b for a, b in zip(after, before))
    return {"requests": requests, "log_bytes_per_request": round(log_bytes / requests, 1),
            "ddb_write_units_per_request": round(writes / requests, 3),
            "ddb_read_units_per_request": round(reads / requests, 3)}


def rows(texts: list[str], requests: int = 200, stage: str = "prod") -> list[dict]:
    return [{"setting": label, **measure(texts, env, requests)} for label, env in settings(stage).items()]


__all__ = ["rows", "measure", "settings", "LEAN"]
