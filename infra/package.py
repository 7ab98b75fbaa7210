"""`make package`: validate the stage, build its layers, byte-compile the function code, `osls package`,
check the 250 MB limit and that every shipped .py has its python3.12 pyc.

    python -m infra.package --stage prod [--models-from dist|s3://bucket|none] [--aws]

Order matters: bad configuration (unknown architecture, memory outside 128-10240 MB, a preload
model alias that does not exist) stops here before anything is built; a layer over the size
limit stops before osls runs. Without --aws the CloudFormation call that osls makes for a
`layers:` section goes to a throwaway moto server, so packaging works offline.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from infra.config import ConfigError, load_config
from infra.function_code import LAMBDA_TAG, compile_function_code, find_python312, zip_pyc_problems
from infra.local.moto import moto_server
from infra.stages import check_models_from

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / ".serverless"
MB = 1024 * 1024


class PackageError(RuntimeError):
    """Packaging stopped before anything could be deployed."""


def unzipped_mb(path: Path) -> float:
    with zipfile.ZipFile(path) as zf:
        return sum(info.file_size for info in zf.infolist()) / MB


def check_sizes(sizes_mb: dict[str, float], limit_mb: float, goal_mb: float | None = None) -> str:
    """Raise PackageError when function + layers exceed the limit; return a one-line report."""
    total = sum(sizes_mb.values())
    parts = ", ".join(f"{name} {mb:.1f} MB" for name, mb in sizes_mb.items())
    if total > limit_mb:
        raise PackageError(f"function + layers = {total:.1f} MB unzipped ({parts}): over the "
                           f"{limit_mb:.0f} MB Lambda limit")
    note = ""
    if goal_mb is not None and sizes_mb.get("runtime", 0) > goal_mb:
        note = f" (runtime layer above the {goal_mb:.0f} MB goal)"
    return f"unzipped: {parts}; total {total:.1f} / {limit_mb:.0f} MB{note}"


def ensure_node_modules() -> None:
    """npm ci when node_modules is missing or older than package-lock.json."""
    stamp = REPO / "node_modules" / ".package-lock.json"
    lock = REPO / "package-lock.json"
    if not stamp.is_file() or stamp.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=REPO, check=True)


def build_layers(arch: str) -> dict[str, float]:
    subprocess.run([sys.executable, str(REPO / "layers" / "build.py"), "--arch", arch], cwd=REPO, check=True)
    sizes = json.loads((REPO / "layers" / "build" / "sizes.json").read_text())
    # the train function mounts all three layers: their sum is the largest function's total
    return {layer: sizes[f"{layer}-{arch}"]["unzipped_mb"] for layer in ("runtime", "aws", "train")}


def compile_for_lambda() -> bool:
    """Byte-compile the shipped function code with python3.12 (checked-hash); False, with a note,
    when there is none: the zip then ships sources only, as the layers do (slower cold starts)."""
    py312 = find_python312()
    if py312 is None:
        print("  note: python3.12 not found (set SNLP_PY312): function code ships without __pycache__ "
              "(every cold start compiles it)")
        return False
    try:
        pycs = compile_function_code(py312)
    except RuntimeError as exc:
        raise PackageError(str(exc)) from exc
    print(f"function code: {len(pycs)} {LAMBDA_TAG} pycs (checked-hash, {py312})")
    return True


def check_function_pycs(zip_path: Path, compiled: bool) -> str:
    """Raise PackageError when the function zip lacks a pyc for a .py it ships (or carries a
    pyc of another interpreter, or one without its source); return a one-line report. Without
    python3.12 (`compiled` False) a missing pyc is the expected state: noted, not fatal."""
    problems = zip_pyc_problems(zip_path)
    missing = [p for p in problems if p.endswith(f": no {LAMBDA_TAG} pyc")]
    if not compiled:
        problems = [p for p in problems if p not in missing]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; ... {len(problems) - 5} more" if len(problems) > 5 else "")
        raise PackageError(f"{zip_path.name}: {len(problems)} pyc problem(s): {shown} "
                           "(serverless.yml package.patterns vs infra/function_code.py)")
    if missing:
        return f"{zip_path.name}: {len(missing)} .py without a {LAMBDA_TAG} pyc (no python3.12 to compile them)"
    return f"{zip_path.name}: every .py ships its {LAMBDA_TAG} pyc"


def offline_aws_env(url: str) -> dict[str, str]:
    """Environment for osls: CloudFormation (the layers' DescribeStacks) goes to moto, fake keys."""
    env = dict(os.environ)
    env.update({"AWS_ENDPOINT_URL_CLOUDFORMATION": url, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                "SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off"})
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    return env


def osls_package(stage: str, use_aws: bool) -> None:
    cmd = ["npx", "--no-install", "osls", "package", "--stage", stage]
    shutil.rmtree(OUT, ignore_errors=True)
    if use_aws or os.environ.get("AWS_ENDPOINT_URL_CLOUDFORMATION"):
        env = dict(os.environ, SLS_TELEMETRY_DISABLED="1")
        subprocess.run(cmd, cwd=REPO, check=True, env=env)
        return
    with moto_server() as url:
        subprocess.run(cmd, cwd=REPO, check=True, env=offline_aws_env(url))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default=os.environ.get("STAGE", "prod"))
    parser.add_argument("--models-from", default=os.environ.get("MODELS_FROM", "dist"),
                        help="where the preload model aliases must exist: dist, s3://<bucket> or none")
    parser.add_argument("--aws", action="store_true", help="use real AWS credentials for osls' calls")
    args = parser.parse_args(argv)
    try:
        cfg = load_config()
        stage = cfg.stage(args.stage)
        check_models_from(stage, args.models_from)
        print(f"stage {stage.stage}: {stage.architecture}, api_type {stage.api_type}, "
              f"preload {','.join(stage.preload_models) or 'none'}")
        layer_mb = build_layers(stage.architecture)
        function_mb = sum(p.stat().st_size for p in (REPO / "functions").rglob("*")
                          if p.is_file() and "__pycache__" not in p.parts) / MB
        print("before packaging: " + check_sizes({"function": function_mb, **layer_mb},
                                                 cfg.deploy_unzipped_max_mb, cfg.layer_goal_mb))
        ensure_node_modules()
        from infra.web_assets import vendor_page

        vendor_page()  # the page's edge-mode ES modules ship in the function zip (functions/web/vendor/)
        compiled = compile_for_lambda()
        osls_package(stage.stage, args.aws)
        print(check_function_pycs(OUT / f"{cfg.service}.zip", compiled))
        packaged = {"function": unzipped_mb(OUT / f"{cfg.service}.zip"),
                    "runtime": unzipped_mb(OUT / "runtime.zip"), "aws": unzipped_mb(OUT / "aws.zip"),
                    "train": unzipped_mb(OUT / "train.zip")}
        print("packaged " + check_sizes(packaged, cfg.deploy_unzipped_max_mb, cfg.layer_goal_mb))
    except (ConfigError, PackageError) as exc:
        print(f"make package: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"make package: command failed ({exc.returncode}): {' '.join(map(str, exc.cmd))}", file=sys.stderr)
        return 1
    print(f"packaged stage {stage.stage} into {OUT.relative_to(REPO)}/ (deploy: npx osls deploy --stage {stage.stage})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
