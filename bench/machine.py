"""What machine and which package versions produced a benchmark."""
from __future__ import annotations

import importlib.metadata as md
import os
import platform


def cpu_info() -> dict[str, object]:
    model, flags = "unknown", []
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name") and model == "unknown":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = line.split(":", 1)[1].split()
    except OSError:
        pass
    simd = [f for f in flags if f.startswith(("avx", "sse4", "fma", "amx", "vnni")) or "vnni" in f]
    return {"model": model, "simd_flags": sorted(set(simd)), "cores": os.cpu_count(),
            "machine": platform.machine(), "python": platform.python_version()}


def package_versions() -> dict[str, str]:
    names = ["onnxruntime", "tokenizers", "numpy", "torch", "transformers", "onnx",
             "aws-lambda-powertools", "flask", "serverless-wsgi", "boto3", "moto"]
    out = {}
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "-"
    return out
