"""The stage config (config/stages.yml via infra.config) as the cost model reads and writes it.

Reading goes through ``infra.config.load_config`` so the cost model sees exactly what
serverless.yml deploys. Writing edits only the lines it changes, inside the stage's block,
so comments and the YAML merge keys stay as they are; the result is validated before it is
written, and the change is returned as a unified diff.
"""
from __future__ import annotations

import difflib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import StageConfigError
from .lambda_cpu import thread_count

VARIANT_ALIASES = ("int8", "fp16", "fp32", "pruned")
MAX_THREADS = 2  # the sweep measured at most two threads (this host's cores)


@dataclass(frozen=True)
class StageParams:
    stage: str
    region: str
    architecture: str
    api_type: str
    api_memory_mb: int
    api_threads: int
    provisioned_concurrency: int
    preload_models: tuple[str, ...]
    # the levers the model prices (config/stages.yml; defaults for hand-made params in tests)
    reserved_concurrency: int | None = None
    snapstart: bool = False
    ephemeral_mb: int = 512
    tracing: bool = False
    xray_sampling_rate: float = 0.05
    xray_reservoir_per_s: int = 1
    log_retention_days: int = 30
    access_log_sample_rate: float = 1.0
    access_log_fields: str = "full"
    metrics_per_model: bool = True
    metrics_flush_requests: int = 1
    usage_flush_requests: int = 1
    lambda_log_format: str = "text"
    batch_memory_mb: int = 3008
    batch_threads: int = 2


def read_stage(stage: str, path: Path | None = None) -> StageParams:
    from infra.config import CONFIG_FILE, ConfigError, load_config

    try:
        cfg = load_config(path or CONFIG_FILE)
        s = cfg.stage(stage)
    except ConfigError as exc:
        raise StageConfigError(str(exc)) from exc
    return StageParams(stage=stage, region=cfg.region, architecture=s.architecture, api_type=s.api_type,
                       api_memory_mb=s.api_memory_mb, api_threads=s.api_threads,
                       provisioned_concurrency=s.api_provisioned_concurrency, preload_models=s.preload_models,
                       reserved_concurrency=s.api_reserved_concurrency, snapstart=s.api_snapstart,
                       ephemeral_mb=s.api_ephemeral_mb, tracing=s.tracing, xray_sampling_rate=s.xray_sampling_rate,
                       xray_reservoir_per_s=s.xray_reservoir_per_s, log_retention_days=s.log_retention_days,
                       access_log_sample_rate=s.access_log_sample_rate, access_log_fields=s.access_log_fields,
                       metrics_per_model=s.metrics_per_model, usage_flush_requests=s.usage_flush_requests,
                       metrics_flush_requests=s.metrics_flush_requests,
                       lambda_log_format=s.lambda_log_format,
                       batch_memory_mb=s.batch_memory_mb, batch_threads=s.batch_threads)


def config_path() -> Path:
    from infra.config import CONFIG_FILE

    return Path(CONFIG_FILE)


def served_variant(ref: str, aliases: dict[str, str] | None) -> tuple[str, str]:
    """(model name, variant) served for a model reference: 'sentiment' -> prod alias -> 'int8'."""
    name, _, alias = ref.partition(":")
    name = name.split("@", 1)[0]
    alias = alias or "prod"
    if alias in VARIANT_ALIASES:
        return name, alias
    if aliases and alias in aliases:
        version = aliases[alias]
        for variant in VARIANT_ALIASES:
            if aliases.get(variant) == version:
                return name, variant
    return name, "int8"  # the contract: prod -> the int8 version


def set_stage_values(text: str, stage: str, values: dict[str, int]) -> str:
    """``text`` with ``values`` set in ``stages.<stage>``: existing keys replaced, others appended."""
    lines = text.splitlines(keepends=True)
    start = _stage_start(lines, stage)
    indent = None
    end = len(lines)
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        width = len(line) - len(line.lstrip())
        if indent is None:
            indent = width
        if width < (indent or 0):
            end = i
            break
    if indent is None:
        raise StageConfigError(f"stages.{stage} has no parameters to edit")
    pending = dict(values)
    for i in range(start + 1, end):
        m = re.match(rf"^(\s{{{indent}}})([a-z_0-9]+):(\s*)([^#\n]*?)(\s*#.*)?(\n?)$", lines[i])
        if m and m.group(2) in pending:
            lines[i] = f"{m.group(1)}{m.group(2)}:{m.group(3) or ' '}{pending.pop(m.group(2))}{m.group(5) or ''}{m.group(6)}"
    last = end
    while last > start + 1 and not lines[last - 1].strip():
        last -= 1
    if last == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    lines[last:last] = [f"{' ' * indent}{k}: {v}\n" for k, v in pending.items()]
    return "".join(lines)


def _stage_start(lines: list[str], stage: str) -> int:
    in_stages = False
    for i, line in enumerate(lines):
        if re.match(r"^stages:\s*(#.*)?$", line):
            in_stages = True
        elif in_stages and re.match(rf"^\s+{re.escape(stage)}:\s*(#.*)?$", line):
            return i
        elif in_stages and line.strip() and not line.startswith((" ", "#")):
            in_stages = False
    raise StageConfigError(f"stage '{stage}' not found under 'stages:' in the config")


def drift(stage: StageParams, memory_mb: int, measured_threads: int | None = None) -> list[str]:
    """How the stage differs from the recommendation and from what was measured ([] = in line)."""
    out = []
    if stage.api_memory_mb != memory_mb:
        out.append(f"api_memory_mb is {stage.api_memory_mb} MB; the recommendation is {memory_mb} MB")
    rule = thread_count(stage.api_memory_mb, MAX_THREADS)
    if stage.api_threads != rule:
        out.append(f"api_threads is {stage.api_threads} at {stage.api_memory_mb} MB; the sweep measures with "
                   f"{rule} (the measured thread rule), so its durations are not the stage's")
    if measured_threads is not None and measured_threads != stage.api_threads:
        out.append(f"the measurement at {stage.api_memory_mb} MB ran {measured_threads} thread(s), "
                   f"the stage runs {stage.api_threads}")
    return out


def write_memory(stage: str, memory_mb: int, path: Path | None = None, *, dry_run: bool = False) -> str:
    """Set the api function's memory (and a thread count it allows); returns the diff ('' if unchanged)."""
    path = Path(path or config_path())
    old = path.read_text()
    current = read_stage(stage, path)
    # the sweep measures with the thread rule's count at each size: keep the config consistent
    wanted = {"api_memory_mb": memory_mb, "api_threads": thread_count(memory_mb, MAX_THREADS)}
    changes = {k: v for k, v in wanted.items() if getattr(current, k) != v}
    if not changes:
        return ""
    new = set_stage_values(old, stage, changes)
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as tmp:
        tmp.write(new)
    try:
        params = read_stage(stage, Path(tmp.name))  # validate before touching the real file
    finally:
        Path(tmp.name).unlink()
    if params.api_memory_mb != memory_mb:
        raise StageConfigError(f"writing api_memory_mb did not take effect for stage {stage}")
    diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"a/{path.name}", tofile=f"b/{path.name}"))
    if not dry_run:
        path.write_text(new)
    return diff


__all__ = ["StageParams", "read_stage", "served_variant", "set_stage_values", "write_memory", "config_path", "drift"]
