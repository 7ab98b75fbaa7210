"""Saved sweep results (infra/cost/measurements/<date>.json) and lookups the model needs.

One run = one child process for (model, variant, memory): its cold start, then warm medians
for each request size. Reports are regenerated from these files without re-measuring.
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .errors import NoMeasurementsError
from .lambda_cpu import round_up_memory

MEASUREMENTS_DIR = Path(__file__).resolve().parent / "measurements"
SCHEMA = 1
PYTORCH_VARIANT = "pytorch-fp32"


def sweep_command(model: str | None = None, variant: str | None = None) -> str:
    parts = ["python -m infra.cost sweep"]
    if model:
        parts.append(f"--models {model}")
    if variant:
        parts.append(f"--variants {variant}")
    return " ".join(parts)


@dataclass(frozen=True)
class Profile:
    """What one deployment (model, variant, memory) costs in time and bytes, measured."""

    model: str
    variant: str
    memory_mb: int
    warm_ms: float  # median handler duration at the requested texts per request
    init_ms: float  # cold start: process start to handler ready
    first_ms: float  # cold start: first request (artifact download + load + inference)
    artifact_bytes: int
    cold_s3_gets: int
    log_bytes: float  # function log bytes per warm request
    cold_log_bytes: float
    response_bytes: float
    request_bytes: float
    ddb_reads_on_miss: float  # read units when the token cache misses
    ddb_write_units_per_flush: float  # usage metering: units per buffered usage write
    peak_rss_mb: float
    ddb_writes_per_request: float = 0.0  # write units a warm request caused, back to back (as flushed)
    # the split of log_bytes by line kind, when the sweep recorded it (None: older files; log_bytes.py derives it)
    log_access_bytes: float | None = None  # per access log line, at the sweep's fields (full)
    log_emf_model_bytes: float | None = None  # per-model EMF copies per request
    # the overhead levers the sweep ran with (older files: prod's, as the sweep ran them then)
    measured_sample_rate: float = 1.0
    measured_fields: str = "full"
    measured_per_model: bool = True
    measured_flush_requests: int = 1
    measured_emf_format: int = 1  # functions.api.telemetry.EMF_FORMAT the sweep ran (older files: 1)
    # the warm duration as a stage's usage flush makes it (model.estimate adds the writes back at the
    # stage's rate): the median time outside DynamoDB usage writes, under the priced stage's own
    # overhead levers where the sweep ran them, and one write's median time (None: older files)
    warm_ms_no_write: float | None = None
    usage_write_ms: float | None = None
    warm_source: str = "the sweep's median warm duration (usage written as the sweep's stage flushes)"


class Measurements:
    def __init__(self, doc: Mapping[str, Any], path: str = "") -> None:
        if doc.get("schema") != SCHEMA:
            raise NoMeasurementsError(f"{path}: unknown measurement schema {doc.get('schema')!r}; "
                                      f"re-run `{sweep_command()}`")
        self.doc = doc
        self.path = path
        self.runs: list[dict[str, Any]] = list(doc.get("runs", []))

    # --- loading ---------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> "Measurements":
        path = Path(path)
        if not path.is_file():
            raise NoMeasurementsError(f"no measurement file {path}; produce one with `{sweep_command()}`")
        return cls(json.loads(path.read_text()), str(path))

    @classmethod
    def latest(cls, directory: str | Path = MEASUREMENTS_DIR) -> "Measurements":
        files = sorted(Path(directory).glob("*.json"))
        if not files:
            raise NoMeasurementsError(f"no measurements in {directory}; produce them with `{sweep_command()}`")
        return cls.load(files[-1])

    # --- what is there -----------------------------------------------------------------
    def models(self) -> list[str]:
        return sorted({r["model"] for r in self.runs})

    def variants(self, model: str) -> list[str]:
        return sorted({r["variant"] for r in self.runs if r["model"] == model})

    def memories(self, model: str, variant: str) -> list[int]:
        return sorted({int(r["memory_mb"]) for r in self._runs(model, variant)})

    def _runs(self, model: str, variant: str) -> list[dict[str, Any]]:
        runs = [r for r in self.runs if r["model"] == model and r["variant"] == variant]
        if not runs:
            have = ", ".join(self.variants(model)) or "none"
            raise NoMeasurementsError(
                f"no measurements for {model} variant '{variant}' in {self.path or 'the file'} "
                f"(measured variants: {have}); produce them with `{sweep_command(model, variant)}`")
        return runs

    def run(self, model: str, variant: str, memory_mb: int) -> dict[str, Any]:
        for r in self._runs(model, variant):
            if int(r["memory_mb"]) == int(memory_mb):
                return r
        have = ", ".join(map(str, self.memories(model, variant)))
        raise NoMeasurementsError(
            f"{model}/{variant} was not measured at {memory_mb} MB (measured: {have} MB); "
            f"pick one of those or run `{sweep_command(model, variant)} --memory {memory_mb}`")

    # --- lookups -----------------------------------------------------------------------
    def peak_rss_mb(self, model: str, variant: str) -> float:
        return max(float(r.get("peak_rss_mb", 0.0)) for r in self._runs(model, variant))

    def required_memory(self, model: str, variant: str, headroom: float = 0.10) -> int:
        """Peak RSS plus headroom, rounded up to the next measured memory size."""
        return round_up_memory(self.peak_rss_mb(model, variant),
                               self.memories(model, variant), headroom)

    def profile(self, model: str, variant: str, memory_mb: int, texts: float = 1, stage: str | None = None) -> Profile:
        """What (model, variant, memory) costs per request at ``texts`` texts; ``stage``: the warm
        duration measured under that stage's overhead levers where the sweep ran them."""
        r = self.run(model, variant, memory_mb)
        warm = {int(k): v for k, v in r["warm"].items()}
        cold = r["cold"]
        return Profile(
            model=model, variant=variant, memory_mb=int(memory_mb),
            warm_ms=interpolate({n: w["median_ms"] for n, w in warm.items()}, texts),
            init_ms=float(cold["init_ms"]), first_ms=float(cold["first_request_ms"]),
            artifact_bytes=int(r.get("artifact_bytes", 0)),
            cold_s3_gets=int(cold.get("s3_get", 0)),
            log_bytes=interpolate({n: w.get("log_bytes", 0) for n, w in warm.items()}, texts),
            cold_log_bytes=float(cold.get("log_bytes", 0)),
            response_bytes=interpolate({n: w.get("response_bytes", 0) for n, w in warm.items()}, texts),
            request_bytes=interpolate({n: w.get("request_bytes", 0) for n, w in warm.items()}, texts),
            ddb_reads_on_miss=float(cold.get("ddb_read_units", 0)),
            ddb_write_units_per_flush=(float(r["ddb_write_units_total"]) / r["ddb_write_ops"]
                                       if r.get("ddb_write_ops") else 1.0),
            peak_rss_mb=float(r.get("peak_rss_mb", 0.0)),
            ddb_writes_per_request=interpolate({n: w.get("ddb_write_units", 0) for n, w in warm.items()}, texts),
            log_access_bytes=_per_line(warm, texts),
            log_emf_model_bytes=(interpolate({n: w["log_emf_model_bytes"] for n, w in warm.items()}, texts)
                                 if all("log_emf_model_bytes" in w for w in warm.values()) else None),
            **self.overhead_levers(),
            **_warm_split(r, warm, texts, stage, self.doc.get("build") or {}),
        )

    def overhead_levers(self) -> dict[str, Any]:
        """The access log, metrics and usage-flush settings the sweep ran the handler with."""
        levers = self.doc.get("overhead_levers") or {}
        return {"measured_sample_rate": float(levers.get("access_log_sample_rate", 1.0)),
                "measured_fields": str(levers.get("access_log_fields", "full")),
                "measured_per_model": bool(levers.get("metrics_per_model", True)),
                "measured_flush_requests": int(levers.get("usage_flush_requests", 1)),
                "measured_emf_format": int(levers.get("emf_format", 1))}


def _warm_split(run: Mapping[str, Any], warm: Mapping[int, Mapping[str, Any]], texts: float,
                stage: str | None, build: Mapping[str, Any]) -> dict[str, Any]:
    """warm_ms_no_write / usage_write_ms / warm_source for Profile (empty for older files)."""
    own = (run.get("stages") or {}).get(stage) if stage else None
    source = {int(k): v for k, v in own["warm"].items()} if own else warm
    if not all("median_ms_without_writes" in w for w in source.values()):
        return {}
    writes = {n: w["write_ms_median"] for n, w in warm.items() if "write_ms_median" in w} or \
        {n: w["write_ms_median"] for n, w in source.items() if "write_ms_median" in w}
    levers = build.get("levers") or {}
    other = stage is not None and levers.get(stage) != levers.get(build.get("stage"))
    where = (f"measured under stage {stage}'s overhead levers" if own
             else "measured under the sweep's stage's overhead levers"
             + (f" (stage {stage}'s own were not run: see the stamp check)" if other else ""))
    return {"warm_ms_no_write": interpolate({n: w["median_ms_without_writes"] for n, w in source.items()}, texts),
            "usage_write_ms": interpolate(writes, texts) if writes else None,
            "warm_source": f"median warm duration without usage writes, {where}; usage writes added at the stage's "
                           "flush rate, each the median measured write"}


def _per_line(warm: Mapping[int, Mapping[str, Any]], texts: float) -> float | None:
    """Bytes per access log line, where the sweep counted lines and their bytes."""
    if not all(w.get("log_access_lines") for w in warm.values()):
        return None
    return interpolate({n: w["log_access_bytes"] / w["log_access_lines"] for n, w in warm.items()}, texts)


def interpolate(points: Mapping[int, float], x: float) -> float:
    """Piecewise-linear in texts per request; beyond the largest size, extend the last slope."""
    xs = sorted(points)
    if not xs:
        raise NoMeasurementsError("a run has no warm measurements")
    if len(xs) == 1 or x <= xs[0]:
        return float(points[xs[0]])
    for lo, hi in zip(xs, xs[1:]):
        if x <= hi:
            return float(points[lo] + (points[hi] - points[lo]) * (x - lo) / (hi - lo))
    lo, hi = xs[-2], xs[-1]
    return float(points[hi] + (points[hi] - points[lo]) * (x - hi) / (hi - lo))


def median(samples: list[float]) -> float:
    return float(statistics.median(samples))


__all__ = ["Measurements", "Profile", "interpolate", "median", "sweep_command", "MEASUREMENTS_DIR",
           "PYTORCH_VARIANT", "SCHEMA"]
