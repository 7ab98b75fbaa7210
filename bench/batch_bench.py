"""Batch throughput through the real S3 -> SQS -> batch handler path (local stack: moto server
+ infra.local_worker processes), against raw bulk throughput of the same int8 model."""
from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path

from bench.raw import raw_onnx_runner, variant_dirs

POLL_S = 0.5


def _peak_rss_mb(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total = max(total, int(line.split()[1]) / 1024)
        except OSError:
            pass
    return total


def _worker_pids(parent: int) -> list[int]:
    pids = [parent]
    for child in Path("/proc").iterdir():
        if child.name.isdigit():
            try:
                if int((child / "stat").read_text().split()[3]) == parent:
                    pids.append(int(child.name))
            except (OSError, ValueError, IndexError):
                pass
    return pids


def raw_bulk(texts: list[str], threads: int = 2, batch: int = 32) -> float:
    """texts/s of tokenise + session.run in batches of 32 in file order (naive padding)."""
    run = raw_onnx_runner(variant_dirs("sentiment")["int8"], threads)
    run(texts[:32])
    t0 = time.perf_counter()
    for i in range(0, len(texts), batch):
        run(texts[i:i + batch])
    return len(texts) / (time.perf_counter() - t0)


def run_job(texts: list[str], workers: int, chunk_bytes: int, threads: int, job: str) -> dict:
    """Upload one JSONL file, wait for its summary; returns wall time, throughput, peak worker RSS."""
    from infra.local.preflight import free_port
    from infra.local.procs import Child
    from infra.local.stack import LocalStack, StackOptions, _names_and_config

    with tempfile.TemporaryDirectory() as state:
        stack = LocalStack(StackOptions(state_dir=Path(state), api_port=free_port(), moto_port=free_port(),
                                        start_worker=False, echo=lambda _m: None))
        stack.up()
        try:
            names, cfg = _names_and_config("local")
            env = stack._function_env(cfg, names, "batch")
            env.update({"SNLP_THREADS": str(threads), "SNLP_BATCH_CHUNK_BYTES": str(chunk_bytes),
                        "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"})
            import sys

            from infra.local.stack import REPO
            worker = Child("batch worker", [sys.executable, "-m", "infra.local_worker", "--queue-url",
                                            stack.created.queue_url, "--workers", str(workers)],
                           Path(state) / "worker.log")
            worker.start(env, REPO)
            stack.children.append(worker)
            s3 = stack.client("s3")
            body = "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)).encode()
            peak = [0.0]
            stop = threading.Event()

            def sample() -> None:
                while not stop.wait(0.5):
                    peak[0] = max(peak[0], _peak_rss_mb(_worker_pids(worker.proc.pid)))
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            t0 = time.perf_counter()
            s3.put_object(Bucket=names["data_bucket"], Key=f"incoming/{job}.jsonl", Body=body,
                          Metadata={"model": "sentiment:int8"})
            summary_key = f"results/{job}.summary.json"
            deadline = time.monotonic() + 3600
            summary = None
            while time.monotonic() < deadline:
                try:
                    summary = json.loads(s3.get_object(Bucket=names["data_bucket"], Key=summary_key)["Body"].read())
                    break
                except s3.exceptions.NoSuchKey:
                    time.sleep(POLL_S)
            wall = time.perf_counter() - t0
            stop.set()
            sampler.join()
            if summary is None:
                raise RuntimeError("batch job did not finish within an hour")
            counts = summary.get("counts", {})
            return {"lines": len(texts), "workers": workers, "threads_per_worker": threads,
                    "chunk_mb": round(chunk_bytes / 2**20, 2), "wall_s": round(wall, 1),
                    "texts_per_s": round(len(texts) / wall, 1), "ok": counts.get("ok"),
                    "failed": counts.get("failed"), "chunks": len(summary.get("chunks") or []),
                    "peak_worker_rss_mb": round(peak[0], 1), "status": summary.get("status")}
        finally:
            stack.down()


# --- scale: the same pipeline at 20k and 200k lines against the raw bucketed model ------------
SCALE_LINES = (20_000, 200_000)
SCALE_CHUNK_BYTES = 8 * 2**20  # settings.batch_chunk_bytes, the deployed default


def raw_bucketed(texts: list[str], threads: int = 1, repeats: int = 3) -> float:
    """texts/s of the same int8 model core the worker runs (length-bucketed micro-batches of
    settings.batch_size inside runs of engine.MICRO_BATCH lines, file order): no S3, SQS or JSON.
    The best of ``repeats`` passes: on a shared machine the least disturbed one is the floor's speed."""
    from functions.batch.engine import MICRO_BATCH
    from functions.nlp import InferenceModel
    from functions.settings import Settings

    model = InferenceModel.from_dir(variant_dirs("sentiment")["int8"], threads=threads,
                                    batch_size=Settings().batch_size)
    model.run(texts[:64])
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(0, len(texts), MICRO_BATCH):
            model.run(texts[i:i + MICRO_BATCH])
        best = max(best, len(texts) / (time.perf_counter() - t0))
    return best


def scale_rows(lines: tuple[int, ...] = SCALE_LINES, threads: int = 1) -> list[dict]:
    """One worker, ``threads`` threads, the deployed chunk size: texts/s against the raw bucketed
    model at the same threads (goal >= 0.9), peak worker RSS (goal <= 300 MB, flat in lines)."""
    import os

    from bench.corpus import load_texts

    # "the same threads": tokenizers' own thread pool off in the raw run and in the workers alike
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    rows = []
    for n in lines:
        texts = load_texts(n, seed=3)
        raw = raw_bucketed(texts[:2000], threads)  # measured next to each run: the machine is shared
        row = run_job(texts, workers=1, chunk_bytes=SCALE_CHUNK_BYTES, threads=threads, job=f"bench-scale-{n}")
        row["raw_bucketed_texts_per_s"] = round(raw, 1)
        row["vs_raw_bucketed"] = round(row["texts_per_s"] / raw, 3)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """python -m bench.batch_bench [--lines 20000,200000] [--threads 1]: the scale rows alone."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.batch_bench", description=main.__doc__)
    parser.add_argument("--lines", default=",".join(map(str, SCALE_LINES)), help="comma list of file sizes")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    from bench.report import _table
    from bench.stack import quiet_env

    quiet_env()
    rows = scale_rows(tuple(int(n) for n in args.lines.split(",")), args.threads)
    print(_table(rows))
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
