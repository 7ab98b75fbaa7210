"""One sweep run in a fresh process, as a Lambda execution environment lives: cold start, then warm.

Started by sweep.py as a SCRIPT (not ``-m infra.cost...``) so nothing but the stdlib is imported
before the measured code: the parent stamps the spawn time, so ``init_ms`` covers interpreter
start + imports (Lambda's INIT phase). Runners:
- ``handler``: the real ``functions.api.handler.handler`` with API Gateway HTTP API v2 events;
- ``pytorch``: the PyTorch fp32 baseline (import torch + transformers, load, tokenize, forward,
  softmax), model only: no HTTP layer, auth or metering, which favours it slightly.
Writes its result as JSON to argv[2]; fd 1 and 2 go to a file so log bytes can be counted.
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

READ_OPS = {"GetItem": "get", "Query": "query", "BatchGetItem": "batch"}
LOADS: list[dict] = []  # the artifact store's model_loaded phases (handler runner)
WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem"}


class Calls:
    """Counts AWS calls made by the code under test (S3 GETs, bytes, DynamoDB request units)."""

    def __init__(self) -> None:
        self.s3_get = 0
        self.s3_bytes = 0
        self.ddb_read_units = 0.0
        self.ddb_write_units = 0.0
        self.ddb_write_ops = 0
        self.ddb_write_ms = 0.0  # wall time inside DynamoDB writes (usage metering): a priced stage's flush N

    def snapshot(self) -> tuple[int, int, float, float]:
        return self.s3_get, self.s3_bytes, self.ddb_read_units, self.ddb_write_units

    def writes(self) -> tuple[int, float]:
        """(DynamoDB write calls, ms spent in them) so far."""
        return self.ddb_write_ops, self.ddb_write_ms

    def install(self) -> None:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        calls = self

        def counted(client: Any, operation: str, params: dict) -> Any:
            t0 = time.perf_counter()
            result = original(client, operation, params)
            service = client.meta.service_model.service_name
            if service == "dynamodb" and (operation in WRITE_OPS or operation in ("TransactWriteItems", "BatchWriteItem")):
                calls.ddb_write_ms += (time.perf_counter() - t0) * 1e3
            if service == "s3" and operation == "GetObject":
                calls.s3_get += 1
                calls.s3_bytes += int(result.get("ContentLength", 0))
            elif service == "dynamodb":
                calls._count_ddb(operation, params)
            return result
        BaseClient._make_api_call = counted

    def _count_ddb(self, operation: str, params: dict) -> None:
        # items here are < 1 KB (write unit) and < 4 KB (read unit)
        if operation in WRITE_OPS or operation in ("TransactWriteItems", "BatchWriteItem"):
            self.ddb_write_ops += 1
        if operation in READ_OPS:
            self.ddb_read_units += 1.0 if params.get("ConsistentRead") else 0.5
        elif operation in WRITE_OPS:
            self.ddb_write_units += 1.0
        elif operation == "TransactWriteItems":
            self.ddb_write_units += 2.0 * len(params.get("TransactItems", []))
        elif operation == "TransactGetItems":
            self.ddb_read_units += 2.0 * len(params.get("TransactItems", []))
        elif operation == "BatchWriteItem":
            self.ddb_write_units += sum(len(v) for v in params.get("RequestItems", {}).values())


class Context:
    """The attributes of a Lambda context object that handlers and Powertools read."""

    def __init__(self, memory_mb: int) -> None:
        self.function_name = "serverless-nlp-sweep-api"
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = str(memory_mb)
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "sweep"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def http_event(path: str, body: dict, token: str) -> dict:
    """An API Gateway HTTP API (payload v2.0) event."""
    now = time.time()
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"authorization": f"Bearer {token}", "content-type": "application/json",
                    "host": "sweep.execute-api.us-east-1.amazonaws.com", "user-agent": "snlp-cost-sweep"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "sweep", "domainName": "sweep.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "sweep", "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": int(now * 1000),
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1",
                     "userAgent": "snlp-cost-sweep"},
        },
        "body": json.dumps(body), "isBase64Encoded": False,
    }


def handler_runner(spec: dict) -> tuple[Callable[[list[str]], int], Callable[[], None]]:
    """(request(texts) -> response bytes, init()) for the real API handler."""
    state: dict[str, Any] = {}

    def init() -> None:
        from functions.api import handler as module

        state["handler"] = module.handler
        store = module.RUNTIME.store
        forward = store._on_event  # the store reports each load's phases; keep them for the report

        def record(event: str, data: dict) -> None:
            if event == "model_loaded":
                LOADS.append({k: data.get(k) for k in ("download_ms", "verify_ms", "load_ms")})
            if forward is not None:
                forward(event, data)
        store._on_event = record

    def request(texts: list[str]) -> int:
        return answer(state["handler"], spec, texts)
    return request, init


def answer(handler: Callable[[dict, Any], dict], spec: dict, texts: list[str]) -> int:
    """One API request through ``handler``; the response body's bytes."""
    path = "/v1/classify" if spec["task"] == "classify" else "/v1/embed"
    event = http_event(path, {"model": spec["model_ref"], "texts": texts}, spec["token"])
    response = handler(event, Context(spec["memory_mb"]))
    if response.get("statusCode") != 200:
        raise RuntimeError(f"handler answered {response.get('statusCode')}: {str(response.get('body'))[:500]}")
    return len(response.get("body", "").encode())


def stage_request(spec: dict, overrides: dict[str, str]) -> Callable[[list[str]], int]:
    """Requests through a second api runtime built in this process with a priced stage's overhead
    levers (``overrides``: access log, metrics, usage flush): the model comes from the local cache."""
    from functions.api import handler as module

    runtime = module.build_runtime({**os.environ, **overrides}, logger=module.RUNTIME.logger)
    handler = module.make_handler(runtime)
    return lambda texts: answer(handler, spec, texts)


def pytorch_runner(spec: dict) -> tuple[Callable[[list[str]], int], Callable[[], None]]:
    """The "what if we served PyTorch on Lambda" baseline: download the checkpoint, load, run."""
    state: dict[str, Any] = {}

    def init() -> None:
        import torch
        import transformers

        torch.set_num_threads(spec["threads"])
        state["torch"], state["transformers"] = torch, transformers

    def load() -> None:
        import boto3

        torch, transformers = state["torch"], state["transformers"]
        target = Path(spec["cache_dir"], "pytorch")
        target.mkdir(parents=True, exist_ok=True)
        s3 = boto3.client("s3")
        for key in spec["torch_keys"]:
            s3.download_file(spec["bucket"], key, str(target / key.rsplit("/", 1)[-1]))
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(target / "tokenizer.json"))
        tok.no_padding()  # the packaged file pads to 128: pad to the longest in the batch instead
        pad = tok.token_to_id("[PAD]") or 0
        tok.enable_padding(pad_id=pad, pad_token="[PAD]")
        tok.enable_truncation(max_length=128)
        state["tokenizer"] = tok
        model = transformers.AutoModelForSequenceClassification.from_pretrained(
            str(target), num_labels=spec.get("num_labels", 3))
        state["model"] = model.eval()

    def request(texts: list[str]) -> int:
        if "model" not in state:
            load()
        torch = state["torch"]
        encoded = state["tokenizer"].encode_batch(texts)
        ids = torch.tensor([e.ids for e in encoded], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encoded], dtype=torch.long)
        with torch.inference_mode():
            logits = state["model"](input_ids=ids, attention_mask=mask,
                                    token_type_ids=torch.zeros_like(ids)).logits
            probs = torch.softmax(logits, dim=-1).tolist()
        return len(json.dumps({"predictions": probs}).encode())
    return request, init


def main(spec_path: str, out_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    log_fd = os.open(spec["log_path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    spawn = float(os.environ["SNLP_SWEEP_SPAWN"])
    request, init = (pytorch_runner if spec["runner"] == "pytorch" else handler_runner)(spec)
    calls = Calls()
    calls.install()  # botocore is imported by the handler anyway; its import counts in init
    init()
    init_ms = (time.time() - spawn) * 1e3
    init_log = _log_size()
    texts = spec["texts"]

    def timed(batch: list[str], send: Callable[[list[str]], int] = request) -> tuple:
        before, log_before, writes_before = calls.snapshot(), _log_size(), calls.writes()
        c0, t0 = time.process_time(), time.perf_counter()
        size = send(batch)
        ms, cpu_ms = (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3
        after, log_after, writes_after = calls.snapshot(), _log_size(), calls.writes()
        kinds = log_kinds(_read_log(spec["log_path"], log_before, log_after))
        return (ms, size, log_after - log_before, tuple(a - b for a, b in zip(after, before)), cpu_ms, kinds,
                tuple(a - b for a, b in zip(writes_after, writes_before)))

    init_cpu_ms = time.process_time() * 1e3
    first_ms, _, first_log, first_calls, first_cpu_ms, _, _ = timed(texts[:1])
    result: dict[str, Any] = {
        "cold": {"init_ms": init_ms, "first_request_ms": first_ms, "texts": 1,
                 "init_cpu_ms": init_cpu_ms, "first_request_cpu_ms": first_cpu_ms,
                 "log_bytes": init_log + first_log,
                 "s3_get": first_calls[0], "s3_bytes": first_calls[1],
                 "ddb_read_units": first_calls[2], "ddb_write_units": first_calls[3],
                 **({"load_phases": LOADS[0]} if LOADS else {})},
        "warm": {},
    }
    for n in spec["sizes"] if not spec.get("cold_only") else ():  # extra cold starts stop here
        batch = [texts[i % len(texts)] for i in range(n)]
        timed(batch)  # warm-up: first run of a new shape
        samples = [timed(batch) for _ in range(spec["reps"])]
        reps = len(samples)
        result["warm"][str(n)] = {
            "samples_ms": [round(s[0], 3) for s in samples],
            "median_ms": statistics.median(s[0] for s in samples),
            "cpu_median_ms": statistics.median(s[4] for s in samples),  # all threads: shows contention
            "response_bytes": sum(s[1] for s in samples) / reps,
            "request_bytes": len(json.dumps({"model": spec.get("model_ref", ""), "texts": batch}).encode()),
            "log_bytes": sum(s[2] for s in samples) / reps,
            # the same bytes by kind (log_bytes.py prices sampling, lean fields and per-model metrics from them)
            "log_access_bytes": sum(s[5]["access_bytes"] for s in samples) / reps,
            "log_access_lines": sum(s[5]["access_lines"] for s in samples) / reps,
            "log_emf_model_bytes": sum(s[5]["emf_model_bytes"] for s in samples) / reps,
            "log_emf_bytes": sum(s[5]["emf_bytes"] for s in samples) / reps,
            "ddb_read_units": sum(s[3][2] for s in samples) / reps,
            "ddb_write_units": sum(s[3][3] for s in samples) / reps,
            **write_split(samples),
        }
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # before any stage runtime
    # the warm duration under each priced stage's own overhead levers (sweep.py: spec["stages"])
    for stage, overrides in (spec.get("stages") or {}).items() if not spec.get("cold_only") else ():
        send = stage_request(spec, overrides)
        send(texts[:1])  # its first request loads the model from the local cache: not timed
        runs = {}
        for n in spec["sizes"]:
            batch = [texts[i % len(texts)] for i in range(n)]
            timed(batch, send)
            samples = [timed(batch, send) for _ in range(spec["reps"])]
            runs[str(n)] = {"samples_ms": [round(s[0], 3) for s in samples],
                            "median_ms": statistics.median(s[0] for s in samples), **write_split(samples)}
        result.setdefault("stages", {})[stage] = {"env": overrides, "warm": runs}
    result["ddb_write_ops"] = calls.ddb_write_ops
    result["ddb_write_units_total"] = calls.ddb_write_units
    result.setdefault("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    result["cpu_s"] = sum(os.times()[:2])
    Path(out_path).write_text(json.dumps(result))
    return 0


def write_split(samples: list[tuple]) -> dict[str, Any]:
    """The duration without the usage writes (median of each request's time outside DynamoDB
    writes) and one write's time (median over the requests that wrote): the cost model adds
    writes back at the rate a stage's usage_flush_requests makes them."""
    wrote = [s[6][1] / s[6][0] for s in samples if s[6][0]]
    return {"median_ms_without_writes": statistics.median(s[0] - s[6][1] for s in samples),
            "writes": sum(s[6][0] for s in samples),
            **({"write_ms_median": statistics.median(wrote)} if wrote else {})}


def log_kinds(text: bytes) -> dict[str, int]:
    """Bytes (newline included) of access log lines, of EMF lines, and the per-model share of
    those (a document of per-model dimension sets only, or what the per-model dimension sets and
    the ``model`` property add to a shared one); the rest (warnings) is log_bytes minus these."""
    out = {"access_bytes": 0, "access_lines": 0, "emf_bytes": 0, "emf_model_bytes": 0}
    for line in text.splitlines(keepends=True):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        if doc.get("message") == "request" or "route" in doc:  # full (Powertools) or lean access line
            out["access_bytes"] += len(line)
            out["access_lines"] += 1
        elif "_aws" in doc:
            out["emf_bytes"] += len(line)
            without = _without_model_bytes(doc)
            out["emf_model_bytes"] += len(line) if not without else _compact_bytes(doc) - without
    return out


def _without_model_bytes(doc: dict) -> int:
    """Bytes of ``doc`` as it would be without its per-model dimension sets (0: nothing left)."""
    directives = []
    for d in doc["_aws"]["CloudWatchMetrics"]:
        sets = [s for s in d["Dimensions"] if "model" not in s]
        if sets:
            directives.append({**d, "Dimensions": sets})
    if not directives:
        return 0
    kept = {m["Name"] for d in directives for m in d.get("Metrics", [])}
    dims = {k for d in directives for s in d["Dimensions"] for k in s}
    named = {m["Name"] for d in doc["_aws"]["CloudWatchMetrics"] for m in d.get("Metrics", [])}
    rest = {k: v for k, v in doc.items() if k != "_aws" and (k in kept or k in dims or (k not in named and k != "model"))}
    return _compact_bytes({"_aws": {**doc["_aws"], "CloudWatchMetrics": directives}, **rest})


def _compact_bytes(doc: dict) -> int:
    return len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()) + 1


def _read_log(path: str, start: int, end: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(end - start)


def _log_size() -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    return os.fstat(1).st_size


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
