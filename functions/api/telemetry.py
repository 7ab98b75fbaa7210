"""Metric names (the shared contract) and how app / store events become metric points.

The app records points in memory; the Lambda handler writes them once per invocation as
CloudWatch EMF lines (``publish``): one JSON document per dimension set (service-level points,
per-model copies, per-error-type counts), the same documents Powertools' ``Metrics`` writes,
built here in one pass instead of one validated ``add_metric`` call per point. Tests read the
points directly. Nothing here imports Powertools.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
import zlib
from typing import Any, Callable, Iterable, NamedTuple

from . import jsonio

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


class Point(NamedTuple):
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


TOKEN_PREFIX_CHARS = 8  # hex digits of the token id a lean line keeps: enough to find it in the tokens table


def lean_access_log(fields: str, status: int) -> bool:
    """A success on a stage with access_log_fields lean; errors always get the full line."""
    return fields == "lean" and status < 400


def access_log_record(fields: str, status: int, *, method: str, path: str, request_id: str | None,
                      token_id: str | None, model: str | None, texts: int, tokens: int, ms: float) -> dict[str, Any]:
    """The fields of one access log line (never the token, never the texts).

    ``full`` and every error: the names the Powertools line has always carried. ``lean`` (stage
    lever access_log_fields): what an operator needs to bill and debug a success, in short keys —
    request id, the token id's first hex digits, route, status, model, texts, tokens, ms."""
    if not lean_access_log(fields, status):
        return {"method": method, "path": path, "status": status, "request_id": request_id,
                "token_id": token_id, "model": model, "texts": texts, "tokens": tokens, "ms": ms}
    tok = token_id.removeprefix("tok_")[:TOKEN_PREFIX_CHARS] if token_id else None
    return {"rid": request_id, "tok": tok, "route": f"{method} {path}", "status": status, "model": model,
            "texts": texts, "tokens": tokens, "ms": ms}


def write_access_log(logger: Any, fields: str, status: int, extra: dict[str, Any] | None = None, *,
                     write: Callable[[str], Any] | None = None, **facts: Any) -> dict[str, Any]:
    """Build the line (``access_log_record``) and write it: a full line through ``logger`` (the
    Powertools envelope: level, location, timestamp, function name/ARN/memory, correlation id);
    a lean line as one compact JSON line on stdout, like the EMF lines (CloudWatch stamps the
    time and the log stream names the function), when ``logger`` is on at INFO."""
    record = {**access_log_record(fields, status, **facts), **(extra or {})}
    if not lean_access_log(fields, status):
        logger.info("request", extra=record)
    elif logger.isEnabledFor(logging.INFO):
        (write or sys.stdout.write)(jsonio.dumps(record).decode() + "\n")
    return record


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
        """Once per request: its points are made and added in one go."""
        sets = ((), (("model", model),)) if self.per_model else ((),)
        points = [Point(name, unit, float(value), dims) for dims in sets
                  for name, unit, value in ((INFERENCE_MS, MS, ms), (TEXTS, COUNT, texts), (TOKENS, COUNT, tokens))]
        with self._lock:
            self._points.extend(points)

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


def emf_documents(points: Iterable[Point], timestamp_ms: int, *, namespace: str = NAMESPACE,
                  service: str = SERVICE) -> list[dict[str, Any]]:
    """One CloudWatch EMF document per dimension set, as Powertools' ``Metrics`` writes them:
    every document also carries dimension ``service``; each metric's values as a list, in order."""
    documents = []
    for dims, group in group_by_dims(points).items():
        values: dict[str, list[float]] = {}
        units: dict[str, str] = {}
        for p in group:
            values.setdefault(p.name, []).append(p.value)
            units[p.name] = p.unit
        keys = [k for k, _ in dims if k != "service"] + ["service"]
        documents.append({"_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [{
            "Namespace": namespace, "Dimensions": [keys],
            "Metrics": [{"Name": name, "Unit": units[name]} for name in values]}]},
            **dict(dims), "service": service, **values})
    return documents


def cold_start_point(function_name: str) -> Point:
    """The ``ColdStart`` count of an instance's first invocation (dimension function_name)."""
    return Point(COLD_START, COUNT, 1.0, (("function_name", function_name),))


def publish(telemetry: Telemetry, *, extra: Iterable[Point] = (), enabled: bool = True,
            write: Callable[[str], Any] | None = None, clock: Callable[[], float] = time.time) -> None:
    """Drain ``telemetry`` (plus ``extra``) and write one EMF line per dimension set to stdout,
    where Lambda's log agent reads it; drained and dropped when metrics are off."""
    points = [*extra, *telemetry.drain()]
    if not enabled or not points:
        return
    out = write or sys.stdout.write
    for document in emf_documents(points, int(clock() * 1000)):
        out(jsonio.dumps(document).decode() + "\n")


__all__ = ["Telemetry", "Point", "keep_access_log", "access_log_record", "write_access_log", "TOKEN_PREFIX_CHARS", "publish", "emf_documents", "cold_start_point", "group_by_dims", "NAMESPACE", "SERVICE", "COLD_START",
           "MODEL_LOAD_MS", "INFERENCE_MS", "TEXTS", "TOKENS", "ERRORS", "ARTIFACT_INTEGRITY_FAILURES"]
