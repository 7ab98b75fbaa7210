#!/usr/bin/env python3
"""Build the Lambda layers for python3.12 with pip's platform flags, strip them, report sizes.

    python layers/build.py [--layer runtime|aws|all] [--arch x86_64|arm64|all] [--plain]

Layers:
  runtime  numpy, onnxruntime, tokenizers  (requirements-runtime.txt)
  aws      powertools, flask, serverless-wsgi, ... (requirements-aws.txt; boto3 is in the runtime)
  train    onnx, for the train function only (requirements-train.txt)
Output: layers/build/<layer>-<arch>/python/... (the directory osls zips; Lambda mounts it at
/opt/python) and layers/build/sizes.json. Built trees are cached under
~/.cache/serverless-nlp/layers/ keyed by the requirements, this script and the arch, so a second
run only copies. Exit 2 when a layer alone exceeds the 250 MB deploy limit.
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"
CACHE = Path(os.environ.get("SNLP_CACHE_DIR", Path.home() / ".cache" / "serverless-nlp")) / "layers"
LAYERS = ("runtime", "aws", "train")
ARCHS = ("x86_64", "arm64")
PIP_ARCH = {"x86_64": "x86_64", "arm64": "aarch64"}
LIMIT_MB = 250.0
MB = 1024 * 1024

# Removed from every layer: nothing imports them at run time.
DROP_DIRS_ANYWHERE = ("__pycache__", "tests")
DROP_FILES = ("*.pyc", "*.pyi", "py.typed", "*.a", "*.h", "*.c", "*.pxd", "*.pyx")
# Package subtrees not needed to run a model (checked by the import check in infra/ci_checks.sh).
DROP_PATHS = (
    "onnx/backend",                   # the ONNX backend test suite and its data (~64 MB)
    "onnx/reference",                 # the pure-Python reference evaluator
    "onnxruntime/transformers",       # model-optimisation scripts (need torch/onnx)
    "onnxruntime/quantization",       # offline quantization (needs onnx)
    "onnxruntime/tools",              # conversion/diagnostic tools
    "onnxruntime/backend",            # ONNX backend-test API (needs onnx)
    "onnxruntime/datasets",
    "onnxruntime/capi/libonnxruntime.so.*",  # the C API library: the pybind module links the runtime statically
    "numpy/f2py",
    "numpy/_core/include",
    "numpy/_core/lib",
    "numpy/_core/_multiarray_tests.*.so",
    "numpy/_core/_simd.*.so",         # SIMD test hooks, only imported by numpy's tests
    "numpy/_pyinstaller",
    "numpy/typing/tests",
    "numpy/doc",
    "tokenizers/tools",               # the HTML visualiser
    "bin",
    "share",
)


def cache_key(layer: str, arch: str, plain: bool, py312: str | None = None) -> str:
    digest = hashlib.sha256()
    for path in (HERE / f"requirements-{layer}.txt", Path(__file__)):
        digest.update(path.read_bytes())
    digest.update(f"{arch}:{plain}:{sys.version_info[:2]}:{bool(py312)}".encode())
    return digest.hexdigest()[:16]


def find_python312() -> str | None:
    """python3.12 to byte-compile with (pyc files are version-specific, not arch-specific)."""
    explicit = os.environ.get("SNLP_PY312")
    candidates = [explicit] if explicit else [
        *map(str, sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))), shutil.which("python3.12")]
    for cand in candidates:
        # a pyenv shim exists even when its version is not selected: run it to be sure
        if cand and subprocess.run([cand, "-c", "pass"], capture_output=True).returncode == 0:
            return cand
    return None


def byte_compile(site: Path, py312: str) -> None:
    """Ship __pycache__: /opt is read-only on Lambda, so without them every cold start compiles
    (measured here: numpy+onnxruntime+tokenizers import 525-650 ms -> 160-350 ms, +4 MB).
    unchecked-hash: osls zips with fixed timestamps, so mtime-based pycs would never match."""
    subprocess.run([py312, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
                    str(site)], check=True, stdout=subprocess.DEVNULL)


def pip_install(requirements: Path, target: Path, arch: str) -> None:
    pa = PIP_ARCH[arch]
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--no-compile", "--no-deps", "--target", str(target),
           "--platform", f"manylinux_2_28_{pa}", "--platform", f"manylinux2014_{pa}",
           "--implementation", "cp", "--python-version", "3.12", "--abi", "cp312",
           "--only-binary=:all:", "-r", str(requirements)]
    subprocess.run(cmd, check=True)


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def strip_tree(site: Path, arch: str) -> list[str]:
    """Delete what is not needed at run time; strip host-arch shared objects. Returns notes."""
    notes = []
    for pattern in DROP_PATHS:
        for path in site.glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for path in sorted(site.rglob("*"), reverse=True):
        if path.is_dir() and path.name in DROP_DIRS_ANYWHERE:
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and any(fnmatch.fnmatch(path.name, pat) for pat in DROP_FILES):
            path.unlink()
    strip = _strip_tool(arch)
    if strip is None:
        notes.append(f"no strip tool for {arch}: shared objects left as shipped")
        return notes
    for so in site.rglob("*.so*"):
        # auditwheel-grafted libraries (<pkg>.libs/) were rewritten by patchelf: strip breaks
        # their program headers ("ELF load command address/offset not page-aligned")
        if so.parent.name.endswith(".libs"):
            continue
        if so.is_file() and not so.is_symlink():
            res = subprocess.run([strip, "--strip-unneeded", str(so)], capture_output=True, text=True)
            if res.returncode != 0:
                notes.append(f"strip skipped {so.name}: {res.stderr.strip()[:120]}")
    return notes


def _strip_tool(arch: str) -> str | None:
    host = os.uname().machine
    if PIP_ARCH[arch] == host:
        return shutil.which("strip")
    return shutil.which(f"{PIP_ARCH[arch]}-linux-gnu-strip")


def build(layer: str, arch: str, plain: bool = False, py312: str | None = None) -> dict:
    """Build (or take from the cache) one layer; return its size report."""
    py312 = None if plain else py312
    key = cache_key(layer, arch, plain, py312)
    cached = CACHE / f"{layer}-{arch}{'-plain' if plain else ''}-{key}"
    report_file = cached / "report.json"
    if not report_file.is_file():
        tmp = cached.with_name(cached.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        site = tmp / "python"
        pip_install(HERE / f"requirements-{layer}.txt", site, arch)
        before = tree_size(site)
        notes = [] if plain else strip_tree(site, arch)
        if py312:
            byte_compile(site, py312)
        elif not plain:
            notes.append("python3.12 not found: no __pycache__ shipped (slower cold starts)")
        report = {"layer": layer, "arch": arch, "plain": plain, "key": key,
                  "installed_mb": round(before / MB, 1), "unzipped_mb": round(tree_size(site) / MB, 1),
                  "notes": notes}
        (tmp / "report.json").write_text(json.dumps(report, indent=2))
        shutil.rmtree(cached, ignore_errors=True)
        tmp.rename(cached)
        for stale in CACHE.glob(f"{layer}-{arch}{'-plain' if plain else ''}-*"):  # older inputs
            if stale != cached and len(stale.name) == len(cached.name):
                shutil.rmtree(stale, ignore_errors=True)
    report = json.loads(report_file.read_text())
    out = BUILD / f"{layer}-{arch}{'-plain' if plain else ''}"
    stamp = out / ".key"
    if not (stamp.is_file() and stamp.read_text() == key):
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(cached / "python", out / "python", symlinks=True)
        stamp.write_text(key)
    report["path"] = str(out.relative_to(HERE.parent))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", choices=(*LAYERS, "all"), default="all")
    parser.add_argument("--arch", choices=(*ARCHS, "all"), default="all")
    parser.add_argument("--plain", action="store_true", help="skip stripping (to measure what it saves)")
    args = parser.parse_args(argv)
    layers = LAYERS if args.layer == "all" else (args.layer,)
    archs = ARCHS if args.arch == "all" else (args.arch,)
    BUILD.mkdir(parents=True, exist_ok=True)
    sizes_file = BUILD / "sizes.json"
    sizes = json.loads(sizes_file.read_text()) if sizes_file.is_file() else {}
    status = 0
    py312 = None if args.plain else find_python312()
    for layer in layers:
        for arch in archs:
            rep = build(layer, arch, args.plain, py312)
            sizes[Path(rep["path"]).name] = rep
            print(f"layer {layer:<8} {arch:<7} installed {rep['installed_mb']:>6.1f} MB -> "
                  f"unzipped {rep['unzipped_mb']:>6.1f} MB  ({rep['path']})")
            for note in rep["notes"]:
                print(f"  note: {note}")
            if rep["unzipped_mb"] > LIMIT_MB:
                print(f"error: layer {layer}/{arch} alone is {rep['unzipped_mb']} MB, over the "
                      f"{LIMIT_MB:.0f} MB limit for function + layers", file=sys.stderr)
                status = 2
    sizes_file.write_text(json.dumps(sizes, indent=2, sort_keys=True))
    return status


if __name__ == "__main__":
    sys.exit(main())
