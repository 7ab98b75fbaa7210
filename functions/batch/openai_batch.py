"""The OpenAI Batch API, served by the batch pipeline: files, batches, output files.

- ``create_file`` keeps a request file (purpose ``batch``, at most ``batch_file_max_bytes``)
  under ``files/<id>``, with its record (owner, name, size) in the jobs table.
- ``create_batch`` checks every line (``{"custom_id", "method": "POST", "url": <endpoint>,
  "body"}``, unique custom ids, one model), rewrites the requests as the pipeline's JSONL (one
  line per text, ``id = [custom_id, k, n, encoding]``), creates the job through
  ``JobService.create_job`` (the same admission and metering as ``POST /v1/batch``) and puts
  the rewritten file under the job's key: the upload event runs it like any other job.
- When the job ends, the worker calls ``openai_outputs.exporter`` (``Worker.exporter``) before
  marking it ended: the result rows, grouped back into requests, become OpenAI's output file
  (requests that ran) and error file (requests with an error row), and ``request_counts``.
- ``get_batch`` reports the job's state in OpenAI's words (validating, in_progress, completed,
  failed, expired, cancelling, cancelled).
A token sees only its own files and batches; any other id is simply "not found".
"""
from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from functions.nlp.errors import InputTypeError
from functions.store.clients import error_code

from .errors import JobNotFoundError
from .jobs import JOB_ID_RE, _ledger_errors

ENDPOINTS = {"/v1/embeddings": "embed", "/v1/classify": "classify"}  # endpoint -> model task
COMPLETION_WINDOW = "24h"
PURPOSE = "batch"
FILES = "files/"  # request files uploaded with POST /v1/files
OUTPUTS = "results/openai/"  # output and error files (the batch worker writes under results/)
INLINE_MAX_BYTES = 5 * 1024 * 1024  # GET /v1/files/{id}/content answers larger files with a redirect
MAX_REQUESTS = 50_000  # OpenAI's limit per batch file
ID_RES = {"file": re.compile(r"file-[0-9a-f]{24}"), "batch": re.compile(r"batch_" + JOB_ID_RE.pattern)}
ENCODINGS = ("float", "base64")


def _store_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """S3 or DynamoDB unreachable or failing: the API's 503 (jobs-unavailable), never a 500."""
    import functools

    @functools.wraps(method)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with _ledger_errors():
            return method(*args, **kwargs)
    return wrapped


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def batch_id_of(job_id: str) -> str:
    """One batch per job: the batch id names its job, so the worker finds the batch of a job."""
    return f"batch_{job_id}"


@dataclass(frozen=True)
class Request:
    custom_id: str
    texts: list[str]
    encoding: str = "float"


def parse_requests(data: bytes, endpoint: str, default_model: str) -> tuple[str, list[Request]]:
    """(model, requests) of a batch input file; InputTypeError naming the first bad line."""
    texts_field = "input" if ENDPOINTS[endpoint] == "embed" else "texts"
    requests: list[Request] = []
    seen: set[str] = set()
    model: str | None = None
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except (ValueError, RecursionError):
            raise InputTypeError(f"line {number} of the input file is not valid JSON") from None
        body = line.get("body") if isinstance(line, dict) else None
        cid = line.get("custom_id") if isinstance(line, dict) else None
        if not isinstance(cid, str) or not cid or not isinstance(body, dict):
            raise InputTypeError(f"line {number}: each line needs custom_id (a string) and body (an object)")
        if cid in seen:
            raise InputTypeError(f"line {number}: custom_id {cid!r} is used twice; custom ids must be unique")
        if line.get("method", "POST") != "POST" or line.get("url") != endpoint:
            raise InputTypeError(f"line {number}: method must be POST and url {endpoint} (the batch's endpoint)")
        this_model = body.get("model", default_model)
        if not isinstance(this_model, str) or (model is not None and this_model != model):
            raise InputTypeError(f"line {number}: every request of a batch must use the same model ({model})")
        value = body.get(texts_field)
        texts = [value] if isinstance(value, str) else value
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise InputTypeError(f"line {number}: body.{texts_field} must be a string or a non-empty list of strings")
        encoding = body.get("encoding_format") or "float"
        if encoding not in ENCODINGS:
            raise InputTypeError(f"line {number}: encoding_format must be 'float' or 'base64'")
        model = this_model
        seen.add(cid)
        requests.append(Request(cid, texts, encoding))
    if not requests:
        raise InputTypeError("the input file holds no requests")
    if len(requests) > MAX_REQUESTS:
        raise InputTypeError(f"the input file holds {len(requests)} requests; a batch takes at most {MAX_REQUESTS}")
    return model or default_model, requests


def pipeline_lines(requests: list[Request]) -> bytes:
    """The batch pipeline's JSONL: one line per text, its id naming the request and position."""
    out = bytearray()
    for r in requests:
        for k, text in enumerate(r.texts):
            row = {"id": [r.custom_id, k, len(r.texts), r.encoding], "text": text}
            out += json.dumps(row, separators=(",", ":")).encode("ascii") + b"\n"  # a lone surrogate stays an escape
    return bytes(out)


# --- the service behind the routes -----------------------------------------------------------
class OpenAIBatches:
    """Files and batches of one deployment. ``jobs``: the JobService that POST /v1/batch uses."""

    def __init__(self, jobs: Any, *, max_file_bytes: int, default_models: dict[str, str],
                 task_of: Callable[[str], str] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.jobs, self.s3, self.ledger, self.bucket = jobs, jobs.s3, jobs.ledger, jobs.bucket
        self.max_file_bytes, self.default_models, self.clock = max_file_bytes, default_models, clock
        self.task_of = task_of  # model reference -> its task, from the manifest (no model loaded)

    # files
    @_store_errors
    def create_file(self, owner_id: str, filename: str, purpose: str, data: bytes) -> dict[str, Any]:
        if purpose != PURPOSE:
            raise InputTypeError(f"purpose must be {PURPOSE!r}: this service keeps batch input files only")
        file_id = new_id("file-")
        record = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(self.clock()),
                  "filename": filename or "input.jsonl", "purpose": purpose, "status": "processed"}
        self.s3.put_object(Bucket=self.bucket, Key=FILES + file_id, Body=data, ContentType="application/jsonl")
        self.ledger.put_record(f"file#{file_id}", "file", owner=owner_id, key=FILES + file_id, view=record)
        return record

    def _read(self, key: str) -> bytes:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:  # noqa: BLE001 - a missing object is "not found"; the rest a 503
            if error_code(exc) in ("NoSuchKey", "404"):
                raise JobNotFoundError("the file's content has expired") from None
            raise

    def _owned(self, kind: str, ident: Any, owner_id: str) -> dict[str, Any]:
        """The caller's file or batch record; anyone else's, or none, is "not found"."""
        if not isinstance(ident, str) or not ID_RES[kind].fullmatch(ident):
            raise JobNotFoundError(f"no such {kind}: {str(ident)[:80]}")
        item = self.ledger.get_record(f"{kind}#{ident}", kind)
        if item is None or item.get("owner") != owner_id:
            raise JobNotFoundError(f"no such {kind}: {ident}")
        return item

    def _file(self, file_id: Any, owner_id: str) -> dict[str, Any]:
        return self._owned("file", file_id, owner_id)

    @_store_errors
    def get_file(self, file_id: str, owner_id: str) -> dict[str, Any]:
        return dict(self._file(file_id, owner_id)["view"])

    @_store_errors
    def file_content(self, file_id: str, owner_id: str) -> tuple[bytes | None, str | None]:
        """(bytes, None) for a file small enough to answer inline, else (None, a presigned URL)."""
        item = self._file(file_id, owner_id)
        if int(item["view"]["bytes"]) <= INLINE_MAX_BYTES:
            return self._read(item["key"]), None
        return None, self.jobs.presigner.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": item["key"]}, ExpiresIn=self.jobs.ttl)

    # batches
    @_store_errors
    def create_batch(self, owner: Any, owner_id: str, body: dict[str, Any],
                     allow_model: Callable[[str], None]) -> dict[str, Any]:
        endpoint, window = body.get("endpoint"), body.get("completion_window")
        if endpoint not in ENDPOINTS:
            raise InputTypeError(f"endpoint must be one of {', '.join(ENDPOINTS)}")
        if window != COMPLETION_WINDOW:
            raise InputTypeError(f"completion_window must be {COMPLETION_WINDOW!r}")
        metadata = body.get("metadata")
        if metadata is not None and (not isinstance(metadata, dict) or len(metadata) > 16
                                     or not all(isinstance(v, str) for v in metadata.values())):
            raise InputTypeError("metadata must be an object of at most 16 string values")
        source = self._file(body.get("input_file_id"), owner_id)
        data = self._read(source["key"])
        model, requests = parse_requests(data, endpoint, self.default_models[ENDPOINTS[endpoint]])
        allow_model(model)
        task = self.task_of(model) if self.task_of is not None else ENDPOINTS[endpoint]
        if task != ENDPOINTS[endpoint]:
            raise InputTypeError(f"model {model} does {task}; {endpoint} needs a model that does {ENDPOINTS[endpoint]}")
        lines = pipeline_lines(requests)
        job = self.jobs.create_job(owner, "jsonl", model, texts=lines.count(b"\n"))
        batch_id, now = batch_id_of(job["job_id"]), int(self.clock())
        listed = f"{now:012d}#{batch_id}"
        self.ledger.put_record(f"batch#{batch_id}", "batch", owner=owner_id, job_id=job["job_id"], list_sk=listed,
                               endpoint=endpoint, input_file_id=source["view"]["id"], model=model,
                               requests=len(requests), texts=lines.count(b"\n"), created_at=now,
                               metadata=metadata or {})
        self.ledger.put_record(f"batches#{owner_id}", listed, batch_id=batch_id)
        headers = {k[len("x-amz-meta-"):]: v for k, v in job["upload_headers"].items() if k.startswith("x-amz-meta-")}
        self.s3.put_object(Bucket=self.bucket, Key=job["key"], Body=lines, Metadata=headers,
                           ContentType="application/x-ndjson")
        return self.get_batch(batch_id, owner_id)

    def _batch(self, batch_id: Any, owner_id: str) -> dict[str, Any]:
        return self._owned("batch", batch_id, owner_id)

    @_store_errors
    def get_batch(self, batch_id: str, owner_id: str) -> dict[str, Any]:
        return self._view(self._batch(batch_id, owner_id), owner_id)

    @_store_errors
    def cancel_batch(self, batch_id: str, owner_id: str) -> dict[str, Any]:
        """Stop a batch that has not ended (its run stops taking chunks); an ended one is left as it is."""
        item = self._batch(batch_id, owner_id)
        now = self.clock()
        if not item.get("cancelled_at") and self.ledger.expire_job(
                item["job_id"], reason="cancelled: the client cancelled the batch", finished_at=now,
                counts={"lines_read": 0, "ok": 0, "failed": 0}, closed=True):
            self.ledger.update_record(f"batch#{batch_id}", "batch", cancelled_at=int(now))
            # what admission reserved and no run used goes back to the quota (once: an atomic take)
            self.jobs._expire(item["job_id"], self.ledger.get_job(item["job_id"]) or {})
        return self.get_batch(batch_id, owner_id)

    @_store_errors
    def list_batches(self, owner_id: str, limit: int = 20, after: str | None = None) -> dict[str, Any]:
        below = self._batch(after, owner_id)["list_sk"] if after else None
        rows = self.ledger.query_records(f"batches#{owner_id}", limit=limit + 1, below=below)
        data = [self.get_batch(r["batch_id"], owner_id) for r in rows[:limit]]
        return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None, "has_more": len(rows) > limit}

    def _view(self, item: dict[str, Any], owner_id: str) -> dict[str, Any]:
        job = self.jobs.get_job(item["job_id"], owner_id)
        state, reason = job["status"], job.get("reason") or ""
        created = int(item["created_at"])
        finished = int(job["finished_at"]) if job.get("finished_at") else None
        out: dict[str, Any] = {
            "id": f"batch_{item['job_id']}", "object": "batch", "endpoint": item["endpoint"], "errors": None,
            "input_file_id": item["input_file_id"], "completion_window": COMPLETION_WINDOW, "status": "validating",
            "output_file_id": item.get("output_file_id"), "error_file_id": item.get("error_file_id"),
            "created_at": created, "in_progress_at": None, "expires_at": created + 24 * 3600, "finalizing_at": None,
            "completed_at": None, "failed_at": None, "expired_at": None, "cancelling_at": None, "cancelled_at": None,
            "request_counts": item.get("request_counts") or _running_counts(item, job["counts"]),
            "metadata": item.get("metadata") or None, "model": item.get("model"),
        }
        if item.get("cancelled_at"):
            out.update(status="cancelled", cancelling_at=item["cancelled_at"], cancelled_at=item["cancelled_at"])
        elif state == "running":
            out.update(status="in_progress", in_progress_at=created)
        elif state == "done":
            out.update(status="completed", in_progress_at=created, finalizing_at=finished, completed_at=finished)
        elif state == "failed" and reason.startswith("deadline"):
            out.update(status="expired", expired_at=finished)
        elif state != "queued":  # failed, quota-exceeded
            code = "quota_exceeded" if state == "quota-exceeded" else "batch_failed"
            out.update(status="failed", failed_at=finished,
                       errors={"object": "list", "data": [{"code": code, "message": reason, "param": None,
                                                           "line": None}]})
        return out


def _running_counts(item: dict[str, Any], counts: dict[str, Any]) -> dict[str, int]:
    """While the job runs: lines are requests when every request holds one text, else unknown (0)."""
    total = int(item.get("requests", 0))
    if total != int(item.get("texts", 0)):
        return {"total": total, "completed": 0, "failed": 0}
    return {"total": total, "completed": int(counts.get("ok", 0)), "failed": int(counts.get("failed", 0))}


__all__ = ["OpenAIBatches", "Request", "parse_requests", "pipeline_lines", "batch_id_of", "new_id", "ENDPOINTS",
           "COMPLETION_WINDOW", "PURPOSE", "FILES", "OUTPUTS", "INLINE_MAX_BYTES", "MAX_REQUESTS"]
