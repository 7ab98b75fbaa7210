"""Where outputs go and what the summary of a job says."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from .s3_streams import Source
from .planner import Layout

RESULTS = "results/"
PARTS = "results/_parts/"


def result_keys(job_id: str) -> dict[str, str]:
    return {"results": f"{RESULTS}{job_id}.jsonl", "errors": f"{RESULTS}{job_id}.errors.jsonl",
            "summary": f"{RESULTS}{job_id}.summary.json"}


def parts_prefix(job_id: str, run_id: str) -> str:
    return f"{PARTS}{job_id}/{run_id}/"


def part_keys(job_id: str, run_id: str, index: int) -> dict[str, str]:
    base = f"{parts_prefix(job_id, run_id)}{index:05d}"
    return {"results": f"{base}.jsonl", "errors": f"{base}.errors.jsonl"}


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


@dataclass
class Run:
    """A run's description as the jobs table keeps it (what every chunk worker needs)."""

    run_id: str
    job_id: str
    source: Source
    fmt: str | None
    model: dict[str, str] = field(default_factory=dict)  # ref, name, version
    size: int = 0
    started_at: float = 0.0
    layout: Layout | None = None
    chunks_total: int = 0
    plan_ms: float = 0.0

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "Run":
        src = item.get("source") or {}
        return cls(run_id=item["pk"].split("#", 1)[1], job_id=item["job_id"],
                   source=Source(src["bucket"], src["key"], src.get("etag") or "", src.get("version_id") or None),
                   fmt=item.get("fmt") or None, model=dict(item.get("model") or {}), size=int(item.get("size", 0)),
                   started_at=float(item.get("started_at", 0.0)),
                   layout=Layout.from_dict(item["layout"]) if item.get("layout") else None,
                   chunks_total=int(item.get("chunks_total", 0)), plan_ms=float(item.get("plan_ms", 0.0)))


def summary(run: Run, *, status: str, reason: str | None, counts: dict[str, int], finished_at: float,
            chunks: list[dict[str, Any]] | None = None, timings_ms: dict[str, float] | None = None) -> dict:
    """The summary document. Invariant (asserted by tests): ok + failed == lines_read."""
    keys = result_keys(run.job_id)
    doc: dict[str, Any] = {
        "job_id": run.job_id,
        "status": status,
        "reason": reason,
        "counts": {"lines_read": counts.get("lines_read", 0), "ok": counts.get("ok", 0),
                   "failed": counts.get("failed", 0)},
        "model": run.model or None,
        "source": {**run.source.as_dict(), "size": run.size, "format": run.fmt},
        "outputs": ({"results": keys["results"], "errors": keys["errors"]}
                    if status in ("done", "quota-exceeded") else {}),
        "started_at": iso(run.started_at) if run.started_at else None,
        "finished_at": iso(finished_at),
        "timings_ms": {"total": round((finished_at - run.started_at) * 1e3, 1) if run.started_at else None,
                       **{k: round(v, 1) for k, v in (timings_ms or {}).items()}},
        "chunks": [_chunk_view(c) for c in chunks or []],
        "run_id": run.run_id,
    }
    return doc


def _chunk_view(chunk: dict[str, Any]) -> dict[str, Any]:
    started, finished = chunk.get("started_at"), chunk.get("finished_at")
    return {
        "index": chunk.get("index"),
        "bytes": [chunk.get("start"), chunk.get("end")],
        "first_line": chunk.get("first_line"),
        "counts": {"lines_read": chunk.get("lines_read", 0), "ok": chunk.get("ok", 0),
                   "failed": chunk.get("failed", 0)},
        "attempts": chunk.get("attempts", 0),
        "started_at": iso(started) if started else None,
        "finished_at": iso(finished) if finished else None,
        "timings_ms": {"total": round((finished - started) * 1e3, 1) if started and finished else None,
                       **{k: round(float(v), 1) for k, v in (chunk.get("timings_ms") or {}).items()}},
    }


def total_counts(chunks: list[dict[str, Any]]) -> dict[str, int]:
    return {k: sum(int(c.get(k, 0)) for c in chunks) for k in ("lines_read", "ok", "failed")}


def dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")


__all__ = ["Run", "summary", "result_keys", "part_keys", "parts_prefix", "total_counts", "dumps", "iso",
           "RESULTS", "PARTS"]
