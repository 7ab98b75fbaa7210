"""One build, one stamp: what a measurement measured, and whether the stage still deploys it.

A stamp names the model versions (from model_artifacts/dist/<name>/aliases.json + the build
key), the settings that change durations or per-request fees (micro-batch size, the thread
rule, the api function's stage environment without resource names), the overhead levers each
priced stage (the report's and ``lean``) deploys and the sweep measured its warm duration under
(access log, metrics, usage flush: ``levers``), and the git commit. The
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
                 "ACCESS_LOG", "METRICS_PER_MODEL", "METRICS_FLUSH", "USAGE_FLUSH")
# the overhead levers a stage's warm duration is measured under (Settings names): compared per stage
LEVERS = ("access_log_sample_rate", "access_log_fields", "metrics_per_model", "metrics_flush_requests",
          "usage_flush_requests")


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


def levers_of(env: Mapping[str, str]) -> dict[str, str]:
    """The overhead levers an api environment sets, as Settings reads them (so '1' and '1.0' agree)."""
    from functions.settings import Settings

    settings = Settings.from_env(env)
    return {name: str(getattr(settings, name)) for name in LEVERS}


def lever_env(stage: str) -> dict[str, str]:
    """The environment variables of ``stage``'s overhead levers (what a sweep's stage run overrides)."""
    from functions.settings import ENV
    from infra.config import function_environment, load_config, resource_names

    env = function_environment(load_config().stage(stage), "api", resource_names(stage), queue_url="")
    return {ENV[name]: env[ENV[name]] for name in LEVERS}


def priced_stages(stage: str) -> list[str]:
    """The stages a report prices: ``stage`` and the lean stage next to it (where the config has one)."""
    from infra.config import load_config

    from .report_goals import LEAN_STAGE

    return [stage] + ([LEAN_STAGE] if LEAN_STAGE != stage and LEAN_STAGE in load_config().stages else [])


def current(stage: str, dist: Path = DIST) -> dict[str, Any]:
    build_key = Path(dist, ".build-key")
    return {"commit": git_commit(), "models": model_versions(dist),
            "build_key": build_key.read_text().strip() if build_key.is_file() else "",
            "settings": stage_settings(stage), "stage": stage,
            "levers": {s: levers_of(lever_env(s)) for s in priced_stages(stage)}}


def lever_differences(measured: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Per priced stage: the overhead levers it deploys against those its warm duration was measured under."""
    out = []
    had_all = measured.get("levers")
    for stage, levers in sorted((now.get("levers") or {}).items()):
        shown = ", ".join(f"{k} {v}" for k, v in levers.items())
        if had_all is None:
            out.append(f"stage {stage}: the file does not name the overhead levers its warm durations were measured "
                       f"under (made before they were stamped; the sweep wrote usage before every answer), the stage "
                       f"deploys {shown}")
            continue
        had = had_all.get(stage)
        if had is None:
            out.append(f"stage {stage} was not measured under its own overhead levers ({shown}): its warm duration "
                       f"is priced from stage {measured.get('stage')}'s run")
            continue
        out.extend(f"stage {stage}: {k} measured {had.get(k)!r}, deploys {v!r} (its warm duration was measured "
                   f"under the other)" for k, v in levers.items() if had.get(k) != v)
    return out


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
    return out + lever_differences(measured, now)


def describe(stamp: Mapping[str, Any] | None) -> str:
    if not stamp:
        return "no build stamp"
    models = "; ".join(f"{n}: prod {a.get('prod')}" + (f", int8 {a['int8']}" if a.get("int8") else "")
                       for n, a in sorted(stamp.get("models", {}).items()))
    return f"commit {stamp.get('commit')}, stage {stamp.get('stage')}, models {models or 'none'}"


__all__ = ["current", "differences", "describe", "git_commit", "model_versions", "stage_settings", "THREAD_RULE",
           "LEVERS", "levers_of", "lever_env", "priced_stages", "lever_differences"]
