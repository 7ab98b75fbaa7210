"""The measured sections of `make bench`. Each returns plain rows (dicts) for the report."""
from __future__ import annotations

import functools
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from bench.coldstart_stage import deployed_stage
from bench.raw import DIST, raw_onnx_runner, torch_runner, variant_dirs
from bench.stack import aliases, handler_stack
from bench.stats import summary, time_calls

REPO = Path(__file__).resolve().parent.parent
MODELS = ("sentiment", "minilm-embed")


def _route(name: str) -> tuple[str, str]:
    return ("/v1/classify", "texts") if name == "sentiment" else ("/v1/embed", "texts")


def latency(texts: list[str], repeats: int) -> list[dict]:
    """PyTorch eager, raw ONNX sessions and the full Lambda handler, side by side:
    1 and 32 texts, 1 and 2 threads, every variant."""
    rows: list[dict] = []
    for threads in (1, 2):
        with handler_stack(threads=threads) as (invoke, _token):
            for name in MODELS:
                path, key = _route(name)
                engines = {}
                torch_fn = torch_runner(name, threads)
                if torch_fn is not None:
                    engines[("pytorch-fp32", "raw")] = torch_fn
                for variant, directory in variant_dirs(name).items():
                    engines[(f"onnx-{variant}", "raw")] = raw_onnx_runner(directory, threads)

                    def via_handler(sample, ref=f"{name}:{variant}", path=path, key=key):
                        status, body = invoke("POST", path, {"model": ref, key: sample})
                        if status != 200:
                            raise RuntimeError(f"handler answered {status}: {body}")
                        return body
                    engines[(f"onnx-{variant}", "handler")] = via_handler
                for size in (1, 32):
                    sample = texts[:size]
                    n = repeats if size == 1 else max(5, repeats // 4)
                    for (engine, path_kind), fn in engines.items():
                        stats = summary(time_calls(lambda: fn(sample), repeats=n))
                        rows.append({"model": name, "engine": engine, "path": path_kind, "threads": threads,
                                     "texts": size, "p50_ms": round(stats["p50"], 3),
                                     "p95_ms": round(stats["p95"], 3)})
                    if torch_fn is not None:
                        import torch  # noqa: F401  (keep torch's own threads as set for this row)
    return rows


def handler_overhead(rows: list[dict]) -> list[dict]:
    """Handler p50 minus raw p50 for the same model/variant/threads/size, from the latency rows (each
    handler call there also builds its event and parses the answer; overhead.lean_rows judges the goal)."""
    raw = {(r["model"], r["engine"], r["threads"], r["texts"]): r["p50_ms"] for r in rows if r["path"] == "raw"}
    out = []
    for r in rows:
        if r["path"] != "handler":
            continue
        base = raw.get((r["model"], r["engine"], r["threads"], r["texts"]))
        if base is not None:
            out.append({"model": r["model"], "engine": r["engine"], "threads": r["threads"], "texts": r["texts"],
                        "raw_p50_ms": base, "handler_p50_ms": r["p50_ms"],
                        "overhead_ms": round(r["p50_ms"] - base, 3)})
    return out


def bucketing(texts: list[str], repeats: int, bulk: int = 2000) -> list[dict]:
    """Length bucketing (sort, micro-batches padded per bucket) against padding to the longest."""
    from functions.nlp import InferenceModel

    rows = []
    for name in MODELS:
        directory = variant_dirs(name)["int8"]
        for threads in (1, 2):
            model = InferenceModel.from_dir(directory, threads=threads, batch_size=8)
            naive = raw_onnx_runner(directory, threads)  # one batch padded to the longest text
            sample32 = texts[:32]
            bucketed = summary(time_calls(lambda: model.run(sample32), repeats=repeats))["p50"]
            padded = summary(time_calls(lambda: naive(sample32), repeats=repeats))["p50"]
            rows.append({"model": name, "threads": threads, "case": "32 mixed texts",
                         "bucketed_texts_per_s": round(32 / bucketed * 1e3, 1),
                         "padded_texts_per_s": round(32 / padded * 1e3, 1),
                         "speedup": round(padded / bucketed, 2)})
            big = (texts * (bulk // len(texts) + 1))[:bulk]
            model32 = InferenceModel.from_dir(directory, threads=threads, batch_size=32)
            t0 = time.perf_counter()
            model32.run(big, bucketing=True)
            t_on = time.perf_counter() - t0
            t0 = time.perf_counter()
            for i in range(0, len(big), 32):
                naive(big[i:i + 32])
            t_off = time.perf_counter() - t0
            rows.append({"model": name, "threads": threads, "case": f"{bulk} texts, batches of 32",
                         "bucketed_texts_per_s": round(bulk / t_on, 1), "padded_texts_per_s": round(bulk / t_off, 1),
                         "speedup": round(t_off / t_on, 2)})
    return rows


DEPLOYED_STAGES = ("lean", "prod")  # cold starts measured in the stage's own environment (bench.coldstart_stage)
COLD_START_GOAL_MS = 300.0  # new process to first answer, int8 sentiment, p50 (issue 15)
RSS_GOAL_MB = 250.0  # peak RSS of the api process, both int8 models loaded, one request at a time


def _child_env(url: str, cache: str) -> dict[str, str]:
    from bench.stack import BUCKET

    return {**os.environ, "AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
            "SNLP_ARTIFACTS_BUCKET": BUCKET, "SNLP_AUTH_ENABLED": "false", "SNLP_MODEL_CACHE_DIR": cache,
            "SNLP_PRELOAD_MODELS": "", "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING",
            "SNLP_THREADS": "1"}


@functools.cache
def compile_function_code() -> list[str]:
    """The function code byte-compiled for this interpreter as `make package` compiles it for
    python3.12 (infra/function_code.py: the files serverless.yml ships, checked-hash pycs), so the
    children import what Lambda imports rather than compiling every module. PYTHONDONTWRITEBYTECODE,
    if set, only stops the children writing pycs (as on Lambda's read-only /var/task): they read them.
    Once per bench process: the sources do not change during a run."""
    from infra.function_code import compile_function_code as compile_shipped

    return compile_shipped(sys.executable)


def _stage_child_env(url: str, cache: str, stage_env: dict[str, str]) -> dict[str, str]:
    """A deployed stage's api environment (bench.coldstart_stage) against the moto server at ``url``."""
    from infra.local.moto import aws_env

    return {**os.environ, **aws_env(url), **stage_env, "SNLP_MODEL_CACHE_DIR": cache}


def _children(url: str, args: list[str], runs: int, stage_env: dict[str, str] | None = None) -> list[dict]:
    """``runs`` new processes of bench.coldstart_child, each with an empty model cache, importing
    the function code from its pycs (compile_function_code); ``stage_env``: a deployed stage's
    environment instead of the bench's own (auth off, no preload)."""
    compile_function_code()
    samples = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cache:
            env = _child_env(url, cache) if stage_env is None else _stage_child_env(url, cache, stage_env)
            out = subprocess.run([sys.executable, "-m", "bench.coldstart_child", *args], env=env,
                                 cwd=REPO, capture_output=True, text=True, timeout=600)
            if out.returncode != 0:
                raise RuntimeError(f"cold-start child failed: {out.stderr[-2000:]}")
            samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return samples


@contextmanager
def _published_s3() -> Iterator[str]:
    """A local moto S3 server (its URL) holding the built default models."""
    from infra.local.moto import fake_client, moto_server

    from bench.stack import BUCKET, publish_dist

    with moto_server() as url:
        publish_dist(fake_client("s3", url), BUCKET)
        yield url


def cold_start(runs: int) -> list[dict]:
    """New process, empty /tmp cache, artifact fetched from a local moto S3, up to the first answer;
    the function code byte-compiled as in the package (see _children)."""
    rows = []
    with _published_s3() as url:
        for case, refs in (("sentiment:int8", ["sentiment:int8"]),
                           ("sentiment:fp32", ["sentiment:fp32"]),
                           ("both int8 models", ["sentiment:int8", "minilm-embed:int8"])):
            samples = _children(url, refs, runs)
            keys = samples[0].keys()
            row = {"case": case, "runs": runs, **{k: round(float(np.median([s[k] for s in samples])), 1) for k in keys}}
            if case == "sentiment:int8":
                row["goal"] = f"<= {COLD_START_GOAL_MS:.0f} ms"
                row["met"] = "yes" if row["total_to_first_answer_ms"] <= COLD_START_GOAL_MS else "NO"
            rows.append(row)
    for stage in DEPLOYED_STAGES:  # what a customer's first request to a new instance of the stage waits for
        with deployed_stage(stage) as (url, env):
            samples = _children(url, ["sentiment:int8"], runs, stage_env=env)
        rows.append({"case": f"sentiment:int8 as stage {stage} deploys it (auth and metering on, preloads "
                             f"{env['SNLP_PRELOAD_MODELS']} in import_init)", "runs": runs,
                     **{k: round(float(np.median([s[k] for s in samples])), 1) for k in samples[0]}})
    return rows


def memory(texts: list[str], runs: int = 3, requests: int = 200) -> list[dict]:
    """Peak RSS (VmHWM) of a new api process that loads both int8 models and then serves
    ``requests`` requests one at a time (1/8/32/64 corpus texts, classify and embed in turn),
    as one Lambda instance does."""
    with _published_s3() as url, tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp, "texts.json")
        corpus.write_text(json.dumps(texts))
        samples = _children(url, ["--requests", str(requests), "--texts", str(corpus),
                                  "sentiment:int8", "minilm-embed:int8"], runs)
    peak = float(np.median([s["peak_rss_after_requests_mb"] for s in samples]))
    return [{"case": "both int8 models", "runs": runs, "requests": requests,
             "rss_after_first_answers_mb": round(float(np.median([s["peak_rss_mb"] for s in samples])), 1),
             "peak_rss_mb": round(peak, 1), "goal": f"<= {RSS_GOAL_MB:.0f} MB", "met": "yes" if peak <= RSS_GOAL_MB else "NO"}]


def sizes() -> list[dict]:
    rows = []
    for name in MODELS:
        for variant, directory in variant_dirs(name).items():
            model = directory / "model.onnx"
            data = model.read_bytes()
            rows.append({"artifact": f"{name}:{variant}", "version": directory.name,
                         "onnx_mb": round(len(data) / 2**20, 1),
                         "gzip_mb": round(len(gzip.compress(data, 6)) / 2**20, 1)})
    for report in sorted((REPO / "layers" / "build").glob("*/size.json")) if (REPO / "layers" / "build").is_dir() else []:
        info = json.loads(report.read_text())
        rows.append({"artifact": f"layer {report.parent.name}", "version": "-",
                     "onnx_mb": info.get("unzipped_mb", "-"), "gzip_mb": info.get("zipped_mb", "-")})
    return rows
