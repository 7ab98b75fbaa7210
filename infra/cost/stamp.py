"""One build, one stamp: what a measurement measured, and whether the stage still deploys it.

A stamp names the model versions (from model_artifacts/dist/<name>/aliases.json + the build
key), the settings that change durations or per-request fees (micro-batch size, the thread
rule, the api function's stage environment without resource names) and the git commit. The
sweep writes it into the measurement file; ``make cost`` compares it with the current tree and
the stage: any difference is listed, printed and put at the top of the report, and
``--strict`` (what ``make cost SWEEP=1`` uses) refuses to write a report from it.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Mapping

from .lambda_cpu import TWO_THREADS_FROM_MB

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "model_artifacts" / "dist"
THREAD_RULE = f"inference threads: 1 below {TWO_THREADS_FROM_MB} MB (measured), then one per visible core"
# environment names that are resource names or per-host plumbing, not settings of the measurement
# ... and the overhead levers the model prices from the measured bytes and units (log_bytes.py, the
# usage flush rule): a stage that sets them otherwise is priced, not stale
_NOT_SETTINGS = ("BUCKET", "TABLE", "QUEUE", "STAGE", "PRELOAD", "THREADS", "POWERTOOLS_SERVICE_NAME",
                 "ACCESS_LOG", "METRICS_PER_MODEL", "USAGE_FLUSH")


def _not_setting(name: str) -> bool:
    return any(part in name for part in _NOT_SETTINGS)


def git_commit(repo: Path = REPO) -> str:
    """HEAD's short hash, '+dirty' when tracked files differ; 'unknown' outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def model_versions(dist: Path = DIST) -> dict[str, dict[str, str]]:
    """name -> {alias: version} for every model built under ``dist``."""
    from functions.store.layout import ALIASES_FILE, local_aliases  # the registry's reader, loaded only here

    return {p.parent.name: local_aliases(dist, p.parent.name) or {} for p in sorted(Path(dist).glob(f"*/{ALIASES_FILE}"))}


def stage_settings(stage: str) -> dict[str, str]:
    """The api function's settings as the stage deploys them (no resource names)."""
    from functions.settings import Settings
    from infra.config import function_environment, load_config, resource_names

    env = function_environment(load_config().stage(stage), "api", resource_names(stage), queue_url="")
    out = {k: v for k, v in env.items() if not _not_setting(k)}
    out["micro_batch_size"] = str(Settings.batch_size)
    out["threads"] = THREAD_RULE
    return dict(sorted(out.items()))


def current(stage: str, dist: Path = DIST) -> dict[str, Any]:
    build_key = Path(dist, ".build-key")
    return {"commit": git_commit(), "models": model_versions(dist),
            "build_key": build_key.read_text().strip() if build_key.is_file() else "",
            "settings": stage_settings(stage), "stage": stage}


def differences(measured: Mapping[str, Any] | None, now: Mapping[str, Any]) -> list[str]:
    """What differs between the measured build and the one the stage deploys now ('' = same)."""
    if not measured:
        return ["the measurement file has no build stamp (made before stamps existed): model versions, "
                "settings and commit are unknown"]
    out = []
    if not now.get("models"):
        out.append("no models are built in model_artifacts/dist now: the measured versions cannot be checked "
                   "(run `make models`)")
    for name, aliases in sorted(now.get("models", {}).items()):
        had = measured.get("models", {}).get(name)
        if had is None:
            out.append(f"model {name} was not measured")
        elif had.get("prod") != aliases.get("prod") or had.get("int8") != aliases.get("int8"):
            out.append(f"model {name}: measured prod {had.get('prod')} / int8 {had.get('int8')}, "
                       f"built now prod {aliases.get('prod')} / int8 {aliases.get('int8')}")
    if measured.get("build_key") != now.get("build_key") and now.get("build_key"):
        out.append("the model build key differs (the default build changed since the measurement)")
    was, is_ = ({k: v for k, v in side.get("settings", {}).items() if not _not_setting(k)} for side in (measured, now))
    for key in sorted(set(was) | set(is_)):
        if was.get(key) != is_.get(key):
            out.append(f"setting {key}: measured {was.get(key)!r}, stage now {is_.get(key)!r}")
    return out


def describe(stamp: Mapping[str, Any] | None) -> str:
    if not stamp:
        return "no build stamp"
    models = "; ".join(f"{n}: prod {a.get('prod')}" + (f", int8 {a['int8']}" if a.get("int8") else "")
                       for n, a in sorted(stamp.get("models", {}).items()))
    return f"commit {stamp.get('commit')}, stage {stamp.get('stage')}, models {models or 'none'}"


__all__ = ["current", "differences", "describe", "git_commit", "model_versions", "stage_settings", "THREAD_RULE"]
