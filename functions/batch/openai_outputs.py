"""OpenAI Batch API output files, written by the batch worker when a batch's job ends.

The pipeline's result rows (one per text, ``id = [custom_id, k, n, encoding]``, in input order)
are grouped back into requests: a request whose rows all ran becomes a line of the output file
(``response.status_code`` 200 and the synchronous endpoint's body), any other a line of the error
file (422 and the first failed text's code and reason). The batch record gets the two file ids
and the exact ``request_counts``.
"""
from __future__ import annotations

import base64
import json
import time
from typing import Any, Callable, Iterator

import numpy as np

from .s3_streams import S3Writer, Source, read_range
from .openai_batch import ENDPOINTS, OUTPUTS, batch_id_of, new_id
from .records import split_records


def _rows(s3: Any, bucket: str, key: str) -> Iterator[dict[str, Any]]:
    for record in split_records(read_range(s3, Source(bucket, key)), quote_aware=False, max_bytes=1 << 26):
        if record.data:
            yield json.loads(record.data)


def _grouped(rows: Iterator[dict[str, Any]]) -> Iterator[tuple[str, str, list[dict[str, Any]], bool]]:
    """(custom_id, encoding, rows, complete) per request, from the rows of consecutive lines."""
    current: list[dict[str, Any]] = []
    for row in rows:
        ident = row.get("id")
        if not (isinstance(ident, list) and len(ident) == 4):
            continue  # not a line this module wrote
        if current and (current[-1]["id"][0] != ident[0] or ident[1] == 0):
            yield current[0]["id"][0], current[0]["id"][3], current, False
            current = []
        current.append(row)
        if ident[1] == ident[2] - 1:
            yield ident[0], ident[3], current, True
            current = []
    if current:
        yield current[0]["id"][0], current[0]["id"][3], current, False


def _response(custom_id: str, status: int, body: dict[str, Any]) -> bytes:
    line = {"id": new_id("batch_req_"), "custom_id": custom_id,
            "response": {"status_code": status, "request_id": new_id("req_"), "body": body}, "error": None}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def _body(endpoint: str, model: str, encoding: str, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The synchronous endpoint's answer for a request's rows; None when the rows are not its kind."""
    tokens = sum(int(r.get("tokens", 0)) for r in rows)
    if any(("embedding" in r) != (ENDPOINTS[endpoint] == "embed") for r in rows):
        return None  # the model's task changed under the batch: an error line, never a crashed export
    if ENDPOINTS[endpoint] == "embed":
        data = [{"object": "embedding", "index": k,
                 "embedding": base64.b64encode(np.asarray(r["embedding"], dtype="<f4").tobytes()).decode("ascii")
                 if encoding == "base64" else r["embedding"]} for k, r in enumerate(rows)]
        return {"object": "list", "data": data, "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    return {"model": model, "predictions": [{k: r[k] for k in ("label", "score", "scores")} for r in rows],
            "usage": {"texts": len(rows), "tokens": tokens}}


def _error_body(rows: list[dict[str, Any]], complete: bool) -> dict[str, Any]:
    failed = next((r for r in rows if "error" in r), None)
    if not complete:
        code, message = "not-run", "the batch ended before this request ran to the end"
    elif failed is None:
        code, message = "wrong-task", "the model's answers do not fit the batch's endpoint"
    else:
        code, message = failed["error"]["code"], failed["error"]["reason"]
        k = failed["id"][1]
        message = f"input[{k}]: {message}" if failed["id"][2] > 1 else message
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}


def exporter(s3: Any, ledger: Any) -> Callable[[Any, str, dict], None]:
    """The worker's hook: for a job that serves a batch, write its output and error files."""

    def export(run: Any, status: str, outputs: dict[str, str]) -> None:
        batch_id = batch_id_of(run.job_id)
        item = ledger.get_record(f"batch#{batch_id}", "batch")
        if item is None:
            return  # a plain /v1/batch job
        bucket, owner, endpoint = run.source.bucket, item["owner"], item["endpoint"]
        ids = {"output": new_id("file-"), "error": new_id("file-")}
        completed = failed = 0
        with S3Writer(s3, bucket, OUTPUTS + ids["output"] + ".jsonl") as out, \
                S3Writer(s3, bucket, OUTPUTS + ids["error"] + ".jsonl") as err:
            rows = _rows(s3, bucket, outputs["results"]) if outputs.get("results") else iter(())
            for custom_id, encoding, group, complete in _grouped(rows):
                body = _body(endpoint, item["model"], encoding, group) \
                    if complete and all("error" not in r for r in group) else None
                if body is not None:
                    out.write(_response(custom_id, 200, body))
                    completed += 1
                else:
                    err.write(_response(custom_id, 422 if complete else 500, _error_body(group, complete)))
                    failed += 1
        total = int(item["requests"])
        counts = {"total": total, "completed": completed, "failed": total - completed}
        now = int(time.time())
        files = {}
        for kind, writer, n in (("output", out, completed), ("error", err, failed)):
            if not n:
                continue
            view = {"id": ids[kind], "object": "file", "bytes": writer.bytes_written, "created_at": now,
                    "filename": f"{batch_id}_{kind}.jsonl", "purpose": "batch_output", "status": "processed"}
            ledger.put_record(f"file#{ids[kind]}", "file", owner=owner, key=OUTPUTS + ids[kind] + ".jsonl", view=view)
            files[f"{kind}_file_id"] = ids[kind]
        ledger.update_record(f"batch#{batch_id}", "batch", request_counts=counts, **files)

    return export


__all__ = ["exporter"]
