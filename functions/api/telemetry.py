"""Metric names (the shared contract) and how app / store events become metric points.

The app records points in memory; the Lambda handler flushes them as CloudWatch EMF through
Powertools once per invocation (``flush_to_powertools``): service-level points go into the
invocation's ``Metrics`` blob, per-model and per-error-type copies into one extra blob per
dimension set. Tests read the points directly. Nothing here imports Powertools at import time.
"""
from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass
from typing import Any, Iterable

NAMESPACE = "ServerlessNLP"
SERVICE = "api"
# metric names (COMMON.md); every metric carries dimension service, per-model copies add "model"
COLD_START = "ColdStart"
MODEL_LOAD_MS = "ModelLoadMs"
INFERENCE_MS = "InferenceMs"
TEXTS = "Texts"
TOKENS = "Tokens"
ERRORS = "Errors"
ARTIFACT_INTEGRITY_FAILURES = "ArtifactIntegrityFailures"
MS = "Milliseconds"
COUNT = "Count"


@dataclass(frozen=True)
class Point:
    name: str
    unit: str
    value: float
    dims: tuple[tuple[str, str], ...] = ()


def keep_access_log(status: int, sample_rate: float, request_id: str) -> bool:
    """Errors always get their access log line; successes a stable ``sample_rate`` share of them
    (decided by the request id, so one request is logged in full or not at all)."""
    if status >= 400 or sample_rate >= 1.0:
        return True
    return zlib.crc32(request_id.encode()) / 2**32 < sample_rate


class Telemetry:
    """Collects metric points between flushes. Thread-safe enough for WSGI servers.

    ``per_model=False`` (stage lever metrics_per_model) drops the per-model copies: each
    (metric, model) pair is a custom metric billed per month.
    """

    def __init__(self, per_model: bool = True) -> None:
        self._points: list[Point] = []
        self._lock = threading.Lock()
        self.per_model = per_model

    def add(self, name: str, unit: str, value: float, **dims: str) -> None:
        point = Point(name, unit, float(value), tuple(sorted(dims.items())))
        with self._lock:
            self._points.append(point)

    def _dims(self, model: str) -> tuple[dict[str, str], ...]:
        return ({}, {"model": model}) if self.per_model else ({},)

    def inference(self, model: str, ms: float, texts: int, tokens: int) -> None:
        for dims in self._dims(model):
            self.add(INFERENCE_MS, MS, ms, **dims)
            self.add(TEXTS, COUNT, texts, **dims)
            self.add(TOKENS, COUNT, tokens, **dims)

    def error(self, error_type: str) -> None:
        self.add(ERRORS, COUNT, 1)
        self.add(ERRORS, COUNT, 1, error_type=error_type)

    def store_event(self, event: str, data: dict[str, Any]) -> None:
        """The artifact store's ``on_event`` hook."""
        model = str(data.get("model", "unknown"))
        if event == "model_loaded":
            ms = sum(float(data.get(k, 0.0)) for k in ("download_ms", "verify_ms", "load_ms"))
            for dims in self._dims(model):
                self.add(MODEL_LOAD_MS, MS, ms, **dims)
        elif event == "integrity_failure":
            for dims in self._dims(model):
                self.add(ARTIFACT_INTEGRITY_FAILURES, COUNT, 1, **dims)

    def drain(self) -> list[Point]:
        with self._lock:
            points, self._points = self._points, []
        return points

    def peek(self) -> list[Point]:
        with self._lock:
            return list(self._points)


def group_by_dims(points: Iterable[Point]) -> dict[tuple[tuple[str, str], ...], list[Point]]:
    groups: dict[tuple[tuple[str, str], ...], list[Point]] = {}
    for point in points:
        groups.setdefault(point.dims, []).append(point)
    return groups


_BLOBS: dict[tuple[tuple[str, str], ...], Any] = {}  # one reusable EMF blob per dimension set


def flush_to_powertools(telemetry: Telemetry, metrics: Any) -> None:
    """Service-level points into ``metrics`` (flushed by ``log_metrics``); the rest as own EMF blobs."""
    for dims, points in group_by_dims(telemetry.drain()).items():
        if not dims:
            for p in points:
                metrics.add_metric(name=p.name, unit=p.unit, value=p.value)
            continue
        blob = _BLOBS.get(dims)
        if blob is None:
            from aws_lambda_powertools.metrics import EphemeralMetrics

            blob = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
            if len(_BLOBS) < 256:  # models and error types are few; never grow without bound
                _BLOBS[dims] = blob
        for key, value in dims:  # each flush resets the dimension set
            if key not in blob.dimension_set:
                blob.add_dimension(name=key, value=value)
        for p in points:
            blob.add_metric(name=p.name, unit=p.unit, value=p.value)
        blob.flush_metrics()


__all__ = ["Telemetry", "Point", "keep_access_log", "flush_to_powertools", "group_by_dims", "NAMESPACE", "SERVICE", "COLD_START",
           "MODEL_LOAD_MS", "INFERENCE_MS", "TEXTS", "TOKENS", "ERRORS", "ARTIFACT_INTEGRITY_FAILURES"]
