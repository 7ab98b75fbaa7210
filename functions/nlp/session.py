"""The one place that creates onnxruntime sessions."""
from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


def create_session(model_path: str | Path, threads: int = 1) -> ort.InferenceSession:
    """A CPU session with full graph optimisation and an explicit thread count.

    Lambda gives one vCPU per 1,769 MB of memory, so ``threads`` comes from settings rather
    than from os.cpu_count(), which reports the host's cores.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Spinning threads burn billed CPU between requests on Lambda for no gain.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(model_path), sess_options=options,
                                providers=["CPUExecutionProvider"])


__all__ = ["create_session"]
