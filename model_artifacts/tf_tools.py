"""The TensorFlow tools venv: TensorFlow + tf2onnx kept out of the project venv, created on demand.

TensorFlow SavedModels need TensorFlow to load and tf2onnx to convert; both are 1.6 GB together
and pull onnx 1.23 / protobuf 7 against the project's onnx pin, so they live in their own venv
under ``~/.cache/serverless-nlp/`` (``SNLP_CACHE_DIR``), keyed by the pinned versions, like the
cfn-lint/checkov venv of infra/ci_checks.sh. Measured 2026-12-01 on this 2-core machine from an
empty venv: 98 s to download and install, 1.6 GB on disk; importing TensorFlow takes ~11 s.

The scripts run there (tf_convert.py, tf_example.py) import only TensorFlow, Keras, tf2onnx,
numpy and the standard library: they are run by path, never imported by the project venv.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

from .tokenization import SourceError

# resolved together on Python 3.11 (2026-12-01); tensorflow-cpu pulls keras 3.15.1 and numpy 2.4
TOOLS_PINS = ("tensorflow-cpu==2.21.0", "tf2onnx==1.17.0", "onnx==1.23.2", "protobuf==7.36.2", "numpy==2.4.6",
              "keras==3.15.1")
# KerasHub for BERT sources (tf_bert.py), added to the tools venv on the first BERT build, all --no-deps:
# tensorflow-text 2.21.1 requires `tensorflow` (a second, full TensorFlow) where tensorflow-cpu already
# provides the same module; keras-hub's kagglehub/huggingface_hub downloaders are not needed to load or
# tokenize. Measured 2026-12-01: ~10 s from the local mirror, +240 MB (tensorflow-text 194 MB).
KERAS_HUB_PINS = ("keras-hub==0.32.0", "tensorflow-text==2.21.1", "regex==2026.11.19", "tokenizers==0.22.1",
                  "sentencepiece==0.2.3")
SCRIPTS = Path(__file__).resolve().parent
OK_MARK = ".ok"
KERAS_HUB_MARK = ".ok-keras-hub"
# one thread, quiet logs: the machine is shared and TensorFlow's banner says nothing useful here
TF_ENV = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1",
          "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "KERAS_BACKEND": "tensorflow",
          "TF_ENABLE_ONEDNN_OPTS": "0"}


class ToolsError(SourceError):
    """The tools venv could not be created, or a script in it failed."""


def cache_root() -> Path:
    return Path(os.environ.get("SNLP_CACHE_DIR", Path.home() / ".cache" / "serverless-nlp"))


def tools_dir(root: Path | None = None) -> Path:
    """``tools-venv-tensorflow-cpu2.21.0-tf2onnx1.17.0-...``: a new pin is a new venv."""
    key = "-".join(pin.replace("==", "") for pin in TOOLS_PINS)
    return (root or cache_root()) / f"tools-venv-{key}"


def tools_python(root: Path | None = None) -> Path | None:
    """The tools venv's python where it is complete, else None (nothing is installed)."""
    venv = tools_dir(root)
    return venv / "bin" / "python" if (venv / OK_MARK).is_file() else None


def ensure_tools(root: Path | None = None, progress: Callable[[str], None] = print) -> Path:
    """The tools venv's python, creating the venv first (pip from PyPI) when it is not complete."""
    found = tools_python(root)
    if found:
        return found
    venv = tools_dir(root)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second build or test waits for the first one's venv
        return tools_python(root) or _create(venv, progress)


def _create(venv: Path, progress: Callable[[str], None]) -> Path:
    shutil.rmtree(venv, ignore_errors=True)
    base = shutil.which("python3.11") or sys.executable
    progress(f"creating the TensorFlow tools venv {venv} ({', '.join(TOOLS_PINS[:2])}; ~1.6 GB, ~2 min)")
    start = time.perf_counter()
    steps = [[base, "-m", "venv", str(venv)],
             [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *TOOLS_PINS]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise ToolsError(f"could not create the TensorFlow tools venv ({' '.join(step[:4])} ...): "
                             f"{(done.stderr or done.stdout).strip()[-2000:]}")
    facts = {"pins": list(TOOLS_PINS), "seconds": round(time.perf_counter() - start, 1)}
    (venv / OK_MARK).write_text(json.dumps(facts) + "\n")
    progress(f"tools venv ready in {facts['seconds']} s")
    return venv / "bin" / "python"


def ensure_keras_hub(root: Path | None = None, progress: Callable[[str], None] = print) -> Path:
    """The tools venv's python with KerasHub installed (KERAS_HUB_PINS), installing it when missing."""
    python = ensure_tools(root, progress)
    venv = tools_dir(root)
    mark = venv / KERAS_HUB_MARK
    if mark.is_file() and json.loads(mark.read_text()).get("pins") == list(KERAS_HUB_PINS):
        return python
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if mark.is_file() and json.loads(mark.read_text()).get("pins") == list(KERAS_HUB_PINS):
            return python
        progress(f"adding KerasHub to the TensorFlow tools venv ({', '.join(KERAS_HUB_PINS[:2])}; ~240 MB)")
        start = time.perf_counter()
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                               *KERAS_HUB_PINS], capture_output=True, text=True)
        if done.returncode != 0:
            raise ToolsError("could not add KerasHub to the tools venv: "
                             f"{(done.stderr or done.stdout).strip()[-2000:]}")
        facts = {"pins": list(KERAS_HUB_PINS), "seconds": round(time.perf_counter() - start, 1)}
        mark.write_text(json.dumps(facts) + "\n")
        progress(f"KerasHub ready in {facts['seconds']} s")
    return python


def run_script(script: str, args: Sequence[str], python: Path | None = None, timeout: float = 1800) -> str:
    """Run ``model_artifacts/<script>`` in the tools venv; its last stderr lines become the error."""
    python = python or ensure_tools()
    env = {**os.environ, **TF_ENV}
    env.pop("PYTHONPATH", None)  # the project's packages (torch, onnx 1.19) must not leak in
    done = subprocess.run([str(python), str(SCRIPTS / script), *args], capture_output=True, text=True, env=env,
                          timeout=timeout)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        message = next((line.split("ConversionError: ", 1)[1] for line in reversed(lines)
                        if "ConversionError: " in line), None)
        if message:  # the script's own refusal: a SavedModel we cannot serve, with the op/layer named
            raise SourceError(message)
        raise ToolsError(f"{script} failed in the tools venv: " + "\n".join(lines[-15:]))
    return done.stdout


def tf_vectorize(config: dict, texts: Sequence[str], python: Path | None = None) -> list[list[int]]:
    """TensorFlow's own ``TextVectorization`` ids (padding dropped) for ``texts``, from the tools venv."""
    with tempfile.TemporaryDirectory(prefix="snlp-tf-") as tmp:
        request = Path(tmp) / "vectorize.json"
        request.write_text(json.dumps({"config": config, "texts": list(texts)}), encoding="utf-8")
        return json.loads(run_script("tf_convert.py", ["vectorize", str(request)], python))


def main() -> int:
    """``python -m model_artifacts.tf_tools``: create the tools venv now (CI warms it this way)."""
    print(ensure_tools())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["TOOLS_PINS", "KERAS_HUB_PINS", "ensure_keras_hub", "ToolsError",
           "tools_dir", "tools_python", "ensure_tools", "run_script", "cache_root",
           "tf_vectorize"]
