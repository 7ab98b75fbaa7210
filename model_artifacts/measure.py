"""Speed of PyTorch eager and each ONNX variant, measured side by side in one run."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .evaluate import latency_ms, throughput
from .export import torch_batch
from .serving import onnx_session, run_onnx
from .tokenization import pad
from .train import predict_torch

THREADS = (1, 2)
REPEATS = {1: 20, 32: 5}  # short: the latency part must fit the 30-minute build budget


def _one_batch(rows: Sequence[np.ndarray], size: int, pid: int) -> dict[str, np.ndarray]:
    return pad(list(rows[:size]), pid)


def speed_table(wrapper: torch.nn.Module, input_names: Sequence[str], onnx_files: dict[str, Path],
                rows: Sequence[np.ndarray], pid: int, throughput_rows: Sequence[np.ndarray]) -> dict[str, dict]:
    """{variant: {"latency": {"1x1t": {p50,p95}, ...}, "texts_per_s": float}} incl. "pytorch"."""
    results: dict[str, dict] = {}
    median = sorted(rows, key=len)[len(rows) // 2]  # one typical text, not the shortest
    singles = [median]
    for variant in ["pytorch", *onnx_files]:
        entry: dict = {"latency": {}}
        for threads in THREADS:
            if variant == "pytorch":
                torch.set_num_threads(threads)
                fns = {size: _torch_fn(wrapper, input_names, _one_batch(singles if size == 1 else rows, size, pid))
                       for size in REPEATS}
            else:
                session = onnx_session(onnx_files[variant], threads)
                fns = {size: _onnx_fn(session, _one_batch(singles if size == 1 else rows, size, pid))
                       for size in REPEATS}
            for size, fn in fns.items():
                entry["latency"][f"{size}x{threads}t"] = latency_ms(fn, REPEATS[size])
        if variant == "pytorch":
            torch.set_num_threads(2)
            entry["texts_per_s"] = throughput(lambda: predict_torch(wrapper, throughput_rows, pid, 32),
                                              len(throughput_rows))
        else:
            session = onnx_session(onnx_files[variant], 2)
            entry["texts_per_s"] = throughput(lambda: run_onnx(session, throughput_rows, pid, 32),
                                              len(throughput_rows))
        results[variant] = entry
    return results


def _torch_fn(wrapper, names, batch):
    inputs = torch_batch(batch, names)

    def run():
        with torch.inference_mode():
            return wrapper(*inputs)
    return run


def _onnx_fn(session, batch):
    wanted = {i.name for i in session.get_inputs()}
    feed = {k: v for k, v in batch.items() if k in wanted}
    name = session.get_outputs()[0].name
    return lambda: session.run([name], feed)


def recipe_speed(files: dict[str, Path], rows: Sequence[np.ndarray], pid: int, singles: int = 60,
                 bulk: int = 240, rounds: int = 5) -> dict[str, dict]:
    """{name: {"p50_ms", "texts_per_s"}} at 1 thread, every file interleaved round by round.

    Timed in CPU seconds of the calling thread (a 1-thread session runs on it), so a busy host
    shifts every file alike instead of deciding the ranking: the 1-text p50 uses a median-length
    text, the bulk rate ``bulk`` texts in length-bucketed micro-batches of 8 (how the API batches).
    """
    import time

    sessions = {name: onnx_session(path, threads=1) for name, path in files.items()}
    one = _one_batch([sorted(rows, key=len)[len(rows) // 2]], 1, pid)
    bulk_rows = list(rows[:bulk])
    lat: dict[str, list[float]] = {name: [] for name in sessions}
    rate: dict[str, list[float]] = {name: [] for name in sessions}
    for name, session in sessions.items():  # warm-up
        _onnx_fn(session, one)()
    for _ in range(rounds):
        for name, session in sessions.items():
            fn = _onnx_fn(session, one)
            for _ in range(max(1, singles // rounds)):
                start = time.thread_time()
                fn()
                lat[name].append(time.thread_time() - start)
            start = time.thread_time()
            run_onnx(session, bulk_rows, pid, 8)
            rate[name].append(len(bulk_rows) / max(time.thread_time() - start, 1e-9))
    return {name: {"p50_ms": round(float(np.median(lat[name])) * 1e3, 3),
                   "texts_per_s": round(float(np.median(rate[name])), 1), "clock": "thread CPU time"}
            for name in sessions}


__all__ = ["speed_table", "recipe_speed", "THREADS", "REPEATS"]
