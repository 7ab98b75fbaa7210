"""Metric names (the shared contract) and how app / store events become metric points.

The app records points in memory; the Lambda handler writes them as CloudWatch EMF lines
(``publish``), every invocation or, with the stage lever ``metrics_flush_requests`` N, once per
N invocations (or the first after ``METRICS_FLUSH_INTERVAL_S``): each metric's values as a list
of up to 100, one CloudWatch sample each. The documents are the ones Powertools' ``Metrics``
writes (``_aws.CloudWatchMetrics`` with Namespace, Dimensions, Metrics), written compactly, with
the same samples (``EMF_FORMAT`` 2): dimension sets whose points are identical share one
document (the per-model copy adds a dimension set and the ``model`` property, not a second
line), a single value is written as a number, whole numbers without ``.0`` and milliseconds to
0.01 ms. Tests read the points directly. Nothing here imports Powertools.
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
# what publish writes (the cost sweep records it: bytes measured under another format are re-derived)
# 1: one document per dimension set, values as lists of full floats (Powertools' own output)
# 2: identical dimension sets share a document, single values as numbers, 0.01 ms resolution
EMF_FORMAT = 2
EMF_DECIMALS = 2  # milliseconds to 0.01 ms; counts are whole numbers
EMF_MAX_VALUES = 100  # CloudWatch takes at most 100 values per metric in one EMF document
METRICS_FLUSH_INTERVAL_S = 5.0  # with metrics_flush_requests > 1: a buffer this old is written at the next invocation


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

    def __init__(self, per_model: bool = True, flush_every: int = 1,
                 flush_interval_s: float = METRICS_FLUSH_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._points: list[Point] = []
        self._lock = threading.Lock()
        self.per_model = per_model
        self.flush_every, self.flush_interval_s, self.clock = flush_every, flush_interval_s, clock
        self._invocations, self._last_flush = 0, clock()

    def invocation_done(self) -> bool:
        """Count an invocation; True when its points (and those buffered) are due to be written:
        every invocation with ``flush_every`` 1, else every ``flush_every``-th or the first one
        ``flush_interval_s`` after the last write. Up to ``flush_every - 1`` invocations' points
        are lost when Lambda discards an environment before its next write (stage lever
        metrics_flush_requests: the stated tradeoff)."""
        with self._lock:
            self._invocations += 1
            now = self.clock()
            if (self.flush_every > 1 and self._invocations < self.flush_every
                    and now - self._last_flush < self.flush_interval_s):
                return False
            self._invocations, self._last_flush = 0, now
            return True

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


def _number(value: float, decimals: int = EMF_DECIMALS) -> float | int:
    """A value as EMF_FORMAT 2 writes it: to ``decimals`` places, whole numbers as integers."""
    rounded = round(value, decimals)
    return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded


def _payload(group: list[Point]) -> tuple[dict[str, list[float | int]], dict[str, str]]:
    """A dimension set's metric values (in order) and units."""
    values: dict[str, list[float | int]] = {}
    units: dict[str, str] = {}
    for p in group:
        values.setdefault(p.name, []).append(_number(p.value))
        units[p.name] = p.unit
    return values, units


def emf_documents(points: Iterable[Point], timestamp_ms: int, *, namespace: str = NAMESPACE,
                  service: str = SERVICE) -> list[dict[str, Any]]:
    """CloudWatch EMF documents for ``points``, every dimension set carrying ``service``.

    The samples are the ones Powertools' ``Metrics`` writes with one document per dimension set.
    Here a dimension set joins a document whose properties it agrees with (the same values for
    the metrics both have, no other value for a dimension both name) as one more directive, or
    one more dimension set of a directive with the same metrics: EMF publishes every metric a
    directive names under each of its dimension sets. One value is written as a number; a
    metric with more than ``EMF_MAX_VALUES`` values is split over documents."""
    docs: list[tuple[dict[str, Any], list[tuple[list[list[str]], dict[str, str]]]]] = []
    for dims, group in group_by_dims(points).items():
        values, units = _payload(group)
        props = {k: v for k, v in dims if k != "service"}
        keys = [k for k, _ in dims if k != "service"] + ["service"]
        for doc_props, directives in docs:
            if all(doc_props.get(k, v) == v for k, v in {**props, **values}.items()):
                doc_props.update(props, **values)
                same = next((sets for sets, metrics in directives if metrics == units), None)
                if same is not None:
                    same.append(keys)
                else:
                    directives.append(([keys], units))
                break
        else:
            docs.append(({**props, **values}, [([keys], units)]))
    documents = []
    for doc_props, directives in docs:
        longest = max(len(v) for v in doc_props.values() if isinstance(v, list))
        for start in range(0, longest, EMF_MAX_VALUES):
            part = {k: v[start:start + EMF_MAX_VALUES] if isinstance(v, list) else v for k, v in doc_props.items()}
            part = {k: v for k, v in part.items() if v != []}
            meta = [{"Namespace": namespace, "Dimensions": sets,
                     "Metrics": [{"Name": name, "Unit": unit} for name, unit in metrics.items() if name in part]}
                    for sets, metrics in directives if any(name in part for name in metrics)]
            documents.append({"_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": meta},
                              **{k: v for k, v in part.items() if not isinstance(v, list)}, "service": service,
                              **{k: v[0] if len(v) == 1 else v for k, v in part.items() if isinstance(v, list)}})
    return documents


def cold_start_point(function_name: str) -> Point:
    """The ``ColdStart`` count of an instance's first invocation (dimension function_name)."""
    return Point(COLD_START, COUNT, 1.0, (("function_name", function_name),))


def publish(telemetry: Telemetry, *, extra: Iterable[Point] = (), enabled: bool = True,
            write: Callable[[str], Any] | None = None, clock: Callable[[], float] = time.time) -> None:
    """End of an invocation: add ``extra``; when the buffer is due (``Telemetry.invocation_done``)
    drain it and write its EMF lines (``emf_documents``) to stdout, where Lambda's log agent reads
    them; drained and dropped at once when metrics are off."""
    if not enabled:
        telemetry.drain()
        return
    with telemetry._lock:
        telemetry._points[:0] = list(extra)
    if not telemetry.invocation_done():
        return
    points = telemetry.drain()
    if not points:
        return
    out = write or sys.stdout.write
    for document in emf_documents(points, int(clock() * 1000)):
        out(jsonio.dumps(document).decode() + "\n")


__all__ = ["Telemetry", "Point", "EMF_FORMAT", "EMF_MAX_VALUES", "METRICS_FLUSH_INTERVAL_S", "keep_access_log", "access_log_record", "write_access_log", "TOKEN_PREFIX_CHARS", "publish", "emf_documents", "cold_start_point", "group_by_dims", "NAMESPACE", "SERVICE", "COLD_START",
           "MODEL_LOAD_MS", "INFERENCE_MS", "TEXTS", "TOKENS", "ERRORS", "ARTIFACT_INTEGRITY_FAILURES"]
