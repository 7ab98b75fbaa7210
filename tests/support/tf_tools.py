"""The TensorFlow tools venv for tests: created (from PyPI) when missing; a test is skipped only when
PyPI cannot be reached, with that reason in pytest's summary, and fails on any other install error."""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from model_artifacts.tf_tools import TOOLS_PINS, ToolsError, ensure_tools


def pypi_unreachable() -> str | None:
    """Why pip cannot reach the package index (one small wheel, no deps), or None when it can."""
    pin = next(p for p in TOOLS_PINS if p.startswith("tf2onnx"))
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-cache-dir",
                               "--disable-pip-version-check", "-d", tmp, pin], capture_output=True, text=True,
                              timeout=300)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["pip download failed"])[-1]


def tools_or_skip() -> Path:
    """The tools venv's python; pytest.skip (loudly, with pip's reason) only when PyPI is unreachable."""
    try:
        return ensure_tools()
    except ToolsError:
        reason = pypi_unreachable()
        if reason:
            pytest.skip(f"PyPI unreachable, so the TensorFlow tools venv cannot be installed: {reason}")
        raise
