"""``snlp batch submit|status|download``: run a CSV/JSONL file through the batch pipeline."""
from __future__ import annotations

import argparse
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, TextIO

from infra.cli_common import Api, CliError, add_connection_args, print_json, resolve

FORMATS = {".jsonl": "jsonl", ".csv": "csv"}
ENDED = ("done", "failed", "quota-exceeded")  # the job statuses that do not change any more (GET /v1/batch/{id})


def register(sub: argparse._SubParsersAction) -> None:
    batch = sub.add_parser("batch", help="submit a CSV/JSONL file for batch inference, follow it, download",
                           description="Batch inference: one result line per input line.")
    bsub = batch.add_subparsers(dest="batch_command", metavar="<batch command>", required=True)

    p = bsub.add_parser("submit", help="upload a file, show progress, download the results",
                        description="Upload FILE (.jsonl with {\"text\"} per line, or .csv with a text "
                        "column), wait with a progress bar, then download results (and errors).")
    p.add_argument("file", type=Path)
    p.add_argument("--model", default=None, help="model reference (default: the service's default)")
    p.add_argument("--output-dir", "-o", type=Path, default=Path("."), help="where to save results (default .)")
    p.add_argument("--no-wait", action="store_true", help="print the job id and return after the upload")
    p.add_argument("--poll-interval", type=float, default=1.0, help="seconds between status checks")
    p.add_argument("--timeout", type=float, default=3600.0, help="give up waiting after this many seconds")
    add_connection_args(p)
    p.set_defaults(func=cmd_submit)

    p = bsub.add_parser("status", help="show a job's status and counts", description="Show a job's status.")
    p.add_argument("job_id")
    add_connection_args(p)
    p.set_defaults(func=cmd_status)

    p = bsub.add_parser("download", help="download a finished job's results", description="Download results.")
    p.add_argument("job_id")
    p.add_argument("--output-dir", "-o", type=Path, default=Path("."))
    add_connection_args(p)
    p.set_defaults(func=cmd_download)


def submit(api: Api, path: Path, model: str | None) -> dict[str, Any]:
    """POST /v1/batch, then PUT the file to the presigned URL. Returns the job answer."""
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CliError(f"{path.name}: only .jsonl and .csv files can be submitted")
    # the declared lines are reserved from the token's daily quota now (a 429 if they do not fit)
    body: dict[str, Any] = {"format": fmt, "filename": path.name, "texts": max(1, count_lines(path)),
                            "bytes": path.stat().st_size}  # over the upload limit: a 413 now, not a failed job
    if model:
        body["model"] = model
    job = api.call("POST", "/v1/batch", body)
    if not isinstance(job, dict) or not job.get("upload_url"):
        raise CliError("the API did not return an upload URL for the batch job")
    # urllib would label the body as a form; S3 stores what we say. Signed headers win.
    headers = {"Content-Type": "text/csv" if fmt == "csv" else "application/x-ndjson",
               **dict(job.get("upload_headers") or job.get("headers") or {})}
    with open(path, "rb") as fh:
        req = urllib.request.Request(job["upload_url"], data=fh, method=job.get("upload_method", "PUT"),
                                     headers={**headers, "Content-Length": str(path.stat().st_size)})
        try:
            with urllib.request.urlopen(req, timeout=600) as resp:  # noqa: S310 - presigned URL
                resp.read()
        except urllib.error.HTTPError as exc:
            raise CliError(f"the upload was refused (HTTP {exc.code}); nothing was processed") from None
        except (urllib.error.URLError, OSError) as exc:
            raise CliError(f"the upload failed ({getattr(exc, 'reason', exc)}); nothing was processed") from None
    return job


def job_id_of(job: dict[str, Any]) -> str:
    return str(job.get("job_id") or job.get("id"))


def wait(api: Api, job_id: str, total: int | None, *, interval: float, timeout: float,
         out: TextIO | None = None, sleep=time.sleep, clock=time.monotonic) -> dict[str, Any]:
    """Poll GET /v1/batch/{job} until done or failed, drawing a progress bar on ``out``."""
    out = out or sys.stderr
    deadline = clock() + timeout
    while True:
        status = api.call("GET", f"/v1/batch/{job_id}")
        counts = status.get("counts") or {}
        done = int(counts.get("ok", 0)) + int(counts.get("failed", 0))
        seen = total or counts.get("total") or counts.get("lines_read")  # lines_read grows while running
        out.write("\r" + progress_line(status.get("status", "?"), done, seen))
        out.flush()
        if status.get("status") in ENDED:
            out.write("\n")
            return status
        if clock() > deadline:
            out.write("\n")
            raise CliError(f"job {job_id} is still {status.get('status')} after {timeout:.0f} s; "
                           f"check later with `snlp batch status {job_id}`")
        sleep(interval)


def progress_line(state: str, done: int, total: int | None, width: int = 30) -> str:
    if total:
        frac = min(1.0, done / total)
        bar = "#" * int(frac * width)
        return f"[{bar:<{width}}] {done}/{total} lines {frac:6.1%} {state:<8}"
    return f"[{'?' * 3:<{width}}] {done} lines {state:<8}"


def count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        n = sum(1 for line in fh if line.strip())
    return max(0, n - 1) if path.suffix.lower() == ".csv" else n  # CSV: header; an estimate


def download(status: dict[str, Any], job_id: str, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    failed = int((status.get("counts") or {}).get("failed", 0))
    for key, suffix in (("results_url", ".jsonl"), ("errors_url", ".errors.jsonl")):
        url = status.get(key)
        if not url or (key == "errors_url" and not failed):
            continue
        target = out_dir / f"{job_id}{suffix}"
        try:
            with urllib.request.urlopen(url, timeout=600) as resp, open(target, "wb") as fh:  # noqa: S310
                shutil.copyfileobj(resp, fh)
        except (urllib.error.URLError, OSError) as exc:
            raise CliError(f"downloading {key.split('_')[0]} failed ({getattr(exc, 'reason', exc)})") from None
        saved.append(target)
    return saved


def cmd_submit(args: argparse.Namespace) -> int:
    api = Api(resolve(args))
    job = submit(api, args.file, args.model)
    job_id = job_id_of(job)
    print(f"job {job_id}: uploaded {args.file.name}", file=sys.stderr)
    if args.no_wait:
        print(job_id)
        return 0
    status = wait(api, job_id, count_lines(args.file), interval=args.poll_interval, timeout=args.timeout)
    return _finish(status, job_id, args.output_dir)


def cmd_status(args: argparse.Namespace) -> int:
    print_json(Api(resolve(args)).call("GET", f"/v1/batch/{args.job_id}"))
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    status = Api(resolve(args)).call("GET", f"/v1/batch/{args.job_id}")
    if status.get("status") not in ("done", "quota-exceeded"):
        raise CliError(f"job {args.job_id} is {status.get('status')}, not done yet")
    return _finish(status, args.job_id, args.output_dir)


def _finish(status: dict[str, Any], job_id: str, out_dir: Path) -> int:
    counts = status.get("counts") or {}
    if status.get("status") == "failed":
        for path in download(status, job_id, out_dir) if status.get("results_url") else ():
            print(path)  # the rows of the chunks that finished before it failed
        raise CliError(f"job {job_id} failed: {status.get('reason') or status.get('error') or 'see its summary'}", 6)
    for path in download(status, job_id, out_dir):
        print(path)
    print(f"job {job_id}: {counts.get('ok', 0)} ok, {counts.get('failed', 0)} failed", file=sys.stderr)
    if status.get("status") == "quota-exceeded":  # the lines before the stop are saved; the rest did not run
        raise CliError(f"job {job_id} stopped at the token's daily quota: {status.get('reason')}", 5)
    return 0


__all__ = ["register", "submit", "wait", "download", "progress_line", "count_lines"]
