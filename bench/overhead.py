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
import random
import statistics
import uuid
from contextlib import contextmanager, redirect_stdout
from typing import Any, Iterator

from bench.stack import handler_stack
from infra.cost.stamp import LEVERS

# one lever at a time, then all of them (the lean stage's values in config/stages.yml)
ONE_LEVER = {
    "access log 10 %": {"SNLP_ACCESS_LOG_SAMPLE_RATE": "0.1"},
    "access log lean fields": {"SNLP_ACCESS_LOG_FIELDS": "lean"},
    "no per-model metrics": {"SNLP_METRICS_PER_MODEL": "false"},
    "EMF every 10 requests": {"SNLP_METRICS_FLUSH_REQUESTS": "10"},
    "usage flushed every 10 requests": {"SNLP_USAGE_FLUSH_REQUESTS": "10"},
}
LEAN = {k: v for env in ONE_LEVER.values() for k, v in env.items()}
LEVER_KEYS = LEVERS  # the overhead levers the cost model prices per stage (infra/cost/stamp.py)


def stage_levers(stage: str) -> dict[str, str]:
    """The overhead levers' environment as ``stage`` deploys it (infra.config.function_environment)."""
    from functions.settings import ENV
    from infra.config import function_environment, load_config, resource_names

    env = function_environment(load_config().stage(stage), "api", resource_names(stage), queue_url="")
    return {ENV[k]: env[ENV[k]] for k in LEVER_KEYS}


def settings(stage: str = "prod", lean_stage: str = "lean") -> dict[str, dict[str, str]]:
    """label -> environment: the stage's overhead levers, each lean lever alone on top of them, all
    lean levers together, and the lean stage's own (where config/stages.yml has one)."""
    from infra.config import ConfigError

    base = stage_levers(stage)
    out = {f"stage {stage}": base}
    out.update({f"{stage} + {label}": {**base, **env} for label, env in ONE_LEVER.items()})
    out[f"{stage} + all lean levers"] = {**base, **LEAN}
    try:
        out[f"stage {lean_stage}"] = stage_levers(lean_stage)
    except ConfigError:
        pass
    return out


@contextmanager
def process_state(env: dict[str, str]) -> Iterator[None]:
    """``env`` added to os.environ for the block; os.environ and botocore's ``_make_api_call`` (which
    the sections wrap to count or time AWS calls) put back as they were afterwards."""
    from botocore.client import BaseClient

    saved, original = dict(os.environ), BaseClient._make_api_call
    os.environ.update(env)
    try:
        yield
    finally:
        BaseClient._make_api_call = original
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def logging_into(logger: Any, sink: Any) -> Iterator[None]:
    """Powertools configures the "api" logger once per process, so an earlier section's level and
    stream would stick: log at INFO into ``sink`` for the block, as a Lambda instance would."""
    level, stream = logger.log_level, logger.registered_handler.setStream(sink)
    logger.setLevel("INFO")
    try:
        yield
    finally:
        logger.setLevel(level)
        logger.registered_handler.setStream(stream)


def measure(texts: list[str], env: dict[str, str], requests: int = 200) -> dict:
    """Bytes written and DynamoDB units per successful request, split by line kind (the sweep's
    classifier: access lines, per-model EMF, the rest). Each event carries its own UUID request
    id, as API Gateway sends (sampling is decided by it); the bench's Lambda context names a short
    function and request id, so a full line is ~60 B shorter here than on Lambda."""
    from infra.cost.sweep_worker import Calls, log_kinds
    from infra.local.events import http_v2_event

    calls, out = Calls(), io.StringIO()
    env = {"POWERTOOLS_LOG_LEVEL": "INFO", "POWERTOOLS_METRICS_DISABLED": "false", **env}  # metrics on, as on Lambda
    with process_state(env):
        calls.install()
        with redirect_stdout(out), handler_stack(environ_overrides=env) as (invoke, token):
            headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
            ids = random.Random(0)

            def classify(text: str) -> int:  # a UUID request id per event, as API Gateway sends: sampling is by it
                event = http_v2_event("POST", "/v1/classify", body={"model": "sentiment", "texts": [text]},
                                      headers=headers)
                event["requestContext"]["requestId"] = str(uuid.UUID(int=ids.getrandbits(128), version=4))
                return invoke.handler(event, invoke.context)["statusCode"]

            with logging_into(invoke.runtime.logger, out):
                classify(texts[0])  # cold: loads the model
                bytes0, before = len(out.getvalue().encode()), calls.snapshot()
                for i in range(requests):
                    status = classify(texts[i % len(texts)])
                    assert status == 200, status
                written = out.getvalue().encode()[bytes0:]
                after = calls.snapshot()
    _, _, reads, writes = (a - b for a, b in zip(after, before))
    kinds = log_kinds(written)
    return {"requests": requests, "log_bytes_per_request": round(len(written) / requests, 1),
            "access_lines_per_request": round(kinds["access_lines"] / requests, 3),
            "access_line_bytes": round(kinds["access_bytes"] / kinds["access_lines"]) if kinds["access_lines"] else None,
            "emf_model_bytes_per_request": round(kinds["emf_model_bytes"] / requests, 1),
            "ddb_write_units_per_request": round(writes / requests, 3),
            "ddb_read_units_per_request": round(reads / requests, 3)}


def rows(texts: list[str], requests: int = 200, stage: str = "prod") -> list[dict]:
    return [{"setting": label, **{k.removeprefix("SNLP_").lower(): v for k, v in env.items()},
             **measure(texts, env, requests)} for label, env in settings(stage).items()]




# --- lean request path: handler time over the raw session, 1 text (issue 15) ----------------------
LEAN_GOAL_MS = 0.5
# API Gateway HTTP API sends these on every request: the bench's events carry them too
GATEWAY_HEADERS = {"host": "bench.execute-api.us-east-1.amazonaws.com", "x-forwarded-port": "443",
                   "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.9", "user-agent": "bench",
                   "accept": "*/*"}
LEAN_CASES = (  # label, model, path, body of one text (the text goes in where None is)
    ("classify", "sentiment", "/v1/classify", {"model": "sentiment:int8", "texts": None}),
    ("embed float", "minilm-embed", "/v1/embed", {"model": "minilm-embed:int8", "texts": None}),
    ("embeddings float", "minilm-embed", "/v1/embeddings", {"model": "minilm-embed:int8", "input": None}),
    ("embeddings base64", "minilm-embed", "/v1/embeddings",
     {"model": "minilm-embed:int8", "input": None, "encoding_format": "base64"}),
)


def lean_rows(texts: list[str], requests: int = 400, stage: str = "prod") -> list[dict]:
    """Per case: the full handler (Powertools logger, access log and EMF metrics written, token
    check, quota and rate limits, usage counted) on prebuilt API Gateway events against tokenise +
    session.run of the same int8 artifact, interleaved call by call on the same texts.
    ``overhead_ms`` is the median of (handler - AWS calls - raw) per pair; ``overhead_cpu_p50_ms`` the
    same in process CPU time (AWS calls included: there are none per request here), which a shared
    host's scheduling inflates far less than wall time.

    Usage is buffered here (one DynamoDB write per many requests): at the stage's
    usage_flush_requests=1 every request also makes one DynamoDB UpdateItem before it answers, a
    network round trip on Lambda (counted in the ``overhead`` section as write units per request)
    that moto turns into ~7 ms of in-process Python whose cache churn then slows the rest of the
    handler; it is no handler work to cut. Any AWS call left is timed apart (``aws_*``)."""
    import time

    from botocore.client import BaseClient

    from bench.raw import raw_onnx_runner, variant_dirs
    from infra.local.events import http_v2_event

    env = {**stage_levers(stage), "POWERTOOLS_LOG_LEVEL": "INFO", "POWERTOOLS_METRICS_DISABLED": "false",
           "SNLP_USAGE_FLUSH_REQUESTS": "1000000", "SNLP_USAGE_FLUSH_INTERVAL_S": "86400"}
    original = BaseClient._make_api_call
    aws = {"calls": 0, "s": 0.0}

    def timed_call(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            aws["calls"] += 1
            aws["s"] += time.perf_counter() - t0

    sample = [t for t in texts if t.strip()][:50]
    rows = []
    with process_state(env):
        BaseClient._make_api_call = timed_call
        with redirect_stdout(io.StringIO()) as sink, handler_stack(environ_overrides=env) as (invoke, token), \
                logging_into(invoke.runtime.logger, sink):
            handler, context = invoke.handler, invoke.context
            headers = {**GATEWAY_HEADERS, "authorization": f"Bearer {token}", "content-type": "application/json"}
            for label, name, path, template in LEAN_CASES:
                raw = raw_onnx_runner(variant_dirs(name)["int8"], threads=1)
                key = next(k for k, v in template.items() if v is None)
                events = [http_v2_event("POST", path, body={**template, key: [t] if key == "texts" else t},
                                        headers=headers) for t in sample]
                for event in events[:5]:  # loads the model, warms both paths
                    assert handler(event, context)["statusCode"] == 200
                    raw([sample[0]])
                handler_ms, raw_ms, aws_ms, over, over_cpu, calls, written = [], [], [], [], [], 0, 0
                for i in range(requests):
                    text, event = sample[i % len(sample)], events[i % len(events)]
                    c0, t0 = time.process_time(), time.perf_counter()
                    raw([text])
                    c1, t1 = time.process_time(), time.perf_counter()
                    before_calls, before_s = aws["calls"], aws["s"]
                    status = handler(event, context)["statusCode"]
                    c2, t2 = time.process_time(), time.perf_counter()
                    assert status == 200, status
                    over_cpu.append(((c2 - c1) - (c1 - c0)) * 1e3)  # CPU time: what a busy host inflates least
                    a = (aws["s"] - before_s) * 1e3
                    calls += aws["calls"] - before_calls
                    raw_ms.append((t1 - t0) * 1e3)
                    handler_ms.append((t2 - t1) * 1e3)
                    aws_ms.append(a)
                    over.append((t2 - t1) * 1e3 - a - (t1 - t0) * 1e3)
                    written += len(sink.getvalue().encode())
                    sink.seek(0)
                    sink.truncate()  # log lines and EMF are written (as on Lambda), then dropped
                overhead = statistics.median(over)
                rows.append({"case": label, "model": f"{name}:int8", "texts": 1, "requests": requests,
                             "raw_p50_ms": round(statistics.median(raw_ms), 3),
                             "handler_p50_ms": round(statistics.median(handler_ms), 3),
                             "log_bytes_per_request": round(written / requests),
                             "aws_calls_per_request": round(calls / requests, 2),
                             "aws_p50_ms": round(statistics.median(aws_ms), 3),
                             "overhead_p50_ms": round(overhead, 3),
                             "overhead_cpu_p50_ms": round(statistics.median(over_cpu), 3),
                             "goal": f"<= {LEAN_GOAL_MS} ms", "met": "yes" if overhead <= LEAN_GOAL_MS else "NO"})
    return rows


__all__ = ["rows", "measure", "settings", "stage_levers", "lean_rows", "LEAN", "ONE_LEVER", "LEAN_GOAL_MS", "LEAN_CASES"]
