"""The model build runs its ONNX files the way Lambda serves them: through functions.nlp.

Parity, the int8 recipe pick, evaluation, golden texts and the speed table tokenise and pad with
the runtime's rules (tokenization.py: TextEncoder, ``pad_batch``, its pad-id rule), build sessions
with ``create_session`` and run ``run_rows`` (InferenceModel's micro-batch loop): one inference path.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from functions.nlp.model import run_rows
from functions.nlp.session import create_session


def onnx_session(path: str | Path, threads: int = 2):
    """The runtime's session (``create_session``); the build measures with 2 threads unless told."""
    return create_session(path, threads=threads)


def run_onnx(session, rows: Sequence[np.ndarray], pid: int, batch_size: int = 64) -> np.ndarray:
    """Outputs for token rows in input order, in the runtime's length-bucketed micro-batches."""
    return run_rows(session, rows, pid, batch_size)


__all__ = ["onnx_session", "run_onnx"]
