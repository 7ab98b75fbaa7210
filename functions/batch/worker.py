"""The batch worker: one SQS message body in, results in S3, state in the jobs table.

Small objects run in the worker that got the upload event. Objects above
``settings.batch_chunk_bytes`` are cut into chunks on record boundaries and fanned out as chunk
messages on the same queue; each chunk writes its own part files whole (a retry overwrites
them) and the worker that finishes the last chunk merges the parts in order.
Jobs created through the API are metered (functions.batch.metering): nothing reaches the model
before the owner's quota granted it, and a job takes one object of at most
``settings.batch_max_upload_bytes``: a bigger one, or a second upload, fails the job before
any model is loaded. Objects put under incoming/ without a job (an account principal's own)
are processed as before, unmetered: only IAM principals can write there without a job's URL.
Metrics and logs go through plain callables so this module stays free of Powertools.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from functions.auth.errors import TokenStoreUnavailableError
from functions.nlp.errors import ArtifactIntegrityError, ModelNotFoundError, WrongTaskError
from functions.nlp.model import Limits

from . import metering, telemetry
from .engine import LineRunner, Stats
from .errors import MalformedMessageError
from .events import ChunkTask, Ignored, ObjectCreated, chunk_message, parse_body
from .ledger import BUSY, CLAIMED, FINAL, SUPERSEDED, Ledger
from .s3_streams import S3Writer, SourceChangedError, SourceError, concat, delete_prefix, head, put_json, read_range
from .planner import Chunk, chunk_items, plan, whole_object_items
from .records import FormatError
from .summary import Run, dumps, part_keys, parts_prefix, result_keys, summary, total_counts

Metric = Callable[[str, float], None]
Fault = Callable[[str, dict], None]
Exporter = Callable[[Any, str, dict], None]  # (run, status, outputs): before the job is marked ended


class SupersededError(Exception):
    """A newer upload of the same key owns the job now: this run's outputs must not land."""


class CommitBusyError(Exception):
    """An older run of the job is still writing its outputs: try again later (the message is retried)."""


class Worker:
    """Handles work items. Every dependency is passed in; ``clock`` returns epoch seconds."""

    def __init__(self, *, s3: Any, ledger: Ledger, store: Any, settings: Any, sqs: Any = None,
                 metric: Metric | None = None, log: Any = None, clock: Callable[[], float] = time.time,
                 fault: Fault | None = None, exporter: Exporter | None = None) -> None:
        self.s3, self.ledger, self.store, self.settings, self.sqs = s3, ledger, store, settings, sqs
        self.metric = metric or (lambda name, value: None)
        self.log = log or logging.getLogger(__name__)
        self.clock = clock
        self.fault = fault or (lambda stage, info: None)
        self.exporter = exporter or (lambda run, status, outputs: None)
        self.limits = Limits(max_texts=1, max_chars=settings.max_chars, truncate=settings.truncate)

    def handle(self, body: str, owner: str) -> None:
        """Process one message body; ``owner`` (the SQS message id) names the lease holder."""
        for work in parse_body(body):
            if isinstance(work, Ignored):
                self.log.info("ignored", extra={"reason": work.reason})
            elif isinstance(work, ObjectCreated):
                self.on_object(work, owner)
            elif isinstance(work, ChunkTask):
                self.on_chunk(work, owner)

    # --- an uploaded object -----------------------------------------------------------------
    def on_object(self, ev: ObjectCreated, owner: str) -> None:
        run_id, now = ev.run_id, self.clock()
        claim = self.ledger.claim_run(run_id, owner, job_id=ev.job_id, source=ev.source.as_dict(),
                                      fmt=ev.fmt or "", sequence=ev.sequence, started_at=now)
        if claim != CLAIMED:
            self.log.info("duplicate upload event", extra={"job": ev.job_id, "run": run_id, "state": claim})
            return
        run = Run(run_id, ev.job_id, ev.source, ev.fmt, size=ev.size, started_at=now)
        try:
            self._start(run, ev, owner)
        except SupersededError:
            self.ledger.finish_run(run_id, "superseded")
        except BaseException:
            self.ledger.release_run(run_id, owner)
            raise

    def _start(self, run: Run, ev: ObjectCreated, owner: str) -> None:
        try:
            meta = head(self.s3, run.source)
        except SourceChangedError as exc:
            raise SupersededError(str(exc)) from exc
        except SourceError as exc:
            self._claim_job(run, ev, None, {})
            return self._fail(run, f"unreadable object: {exc.detail}")
        metadata = {k.lower(): v for k, v in (meta.get("Metadata") or {}).items()}
        ref = metadata.get("model") or self.settings.default_classify_model
        run.size = int(meta.get("ContentLength", run.size))
        run.model = {"ref": ref}
        job = self.ledger.get_job(run.job_id) or {}
        if job.get("meter") and job.get("run_id") not in (None, run.run_id):
            self._give_back(job)
            return self._reject(run, "second-upload: a job's upload URL takes one object and this job already "
                                     "had one; nothing of the second was processed: create a new job for it")
        self._claim_job(run, ev, metadata.get("owner"), {"model": run.model})
        self._give_back(job)  # from here on the job is billed for what it runs
        if job.get("meter") and not self.settings.tokens_table:  # fail closed: never run a customer's job unbilled
            return self._fail(run, "not-metered: this batch worker has no usage table (SNLP_TOKENS_TABLE)")
        limit = self.settings.batch_max_upload_bytes
        if run.size > limit:
            return self._fail(run, f"upload-too-large: the object has {run.size} bytes; an upload may have at "
                                   f"most {limit} bytes: split the file into several jobs")
        if run.fmt is None:
            return self._fail(run, f"unsupported format: {run.source.key} (use .jsonl or .csv)")
        try:
            model = self.store.get(ref)
        except ModelNotFoundError as exc:
            return self._fail(run, f"unknown model {ref!r}: {exc.detail}")
        except ArtifactIntegrityError:
            return self._fail(run, f"model {ref!r} is not available: its artifact failed verification")
        if model.manifest.task not in ("classify", "embed"):
            return self._fail(run, f"model {ref!r} does {model.manifest.task}, not classify or embed")
        run.model = {"ref": ref, "name": model.manifest.name, "version": model.manifest.version,
                     "task": model.manifest.task}
        meter = job.get("meter")
        self.ledger.update_run(run.run_id, model=run.model, size=run.size, **({"meter": meter} if meter else {}))
        if run.size <= self.settings.batch_chunk_bytes:
            self._run_whole(run, model, owner, meter)
        else:
            self._fan_out(run, owner)

    def _claim_job(self, run: Run, ev: ObjectCreated, token_owner: str | None, attrs: dict) -> None:
        if not self.ledger.start_job(run.job_id, run.run_id, ev.sequence, owner=token_owner,
                                     source=run.source.as_dict(), fmt=run.fmt or "", **attrs):
            raise SupersededError(f"a later upload of {run.source.key} owns job {run.job_id}")

    def _give_back(self, job: dict[str, Any]) -> None:
        """The job's admission reservation goes back to the quota, once (whoever takes it first)."""
        if not job.get("meter") or not self.settings.tokens_table:
            return
        reservation = self.ledger.take_reservation(str(job["job_id"]))
        try:
            metering.give_back(self.ledger.ddb, self.settings.tokens_table, job["meter"], reservation, now=self.clock())
        except TokenStoreUnavailableError:  # an unreturned reservation over-counts; it never gives work away
            self.log.warning("could not give a job's reservation back", extra={"job": job.get("job_id")})

    def _chunk_meter(self, meter: dict[str, Any] | None) -> metering.ChunkMeter | None:
        if not meter or not self.settings.tokens_table:
            return None
        return metering.ChunkMeter(self.ledger.ddb, self.settings.tokens_table, meter, self.clock)

    def _run_items(self, model: Any, items: Any, out: Any, err: Any, progress: Callable[[Stats], None],
                   meter: dict[str, Any] | None) -> Stats:
        """Run items under the owner's quota (when the job is metered), then bill what ran."""
        budget = self._chunk_meter(meter)
        stats = self._runner(model).process(items, out, err, progress, budget=budget, stop_reason=metering.QUOTA_STOP)
        if budget is not None:
            try:
                budget.settle(stats.ok, stats.tokens)
            except TokenStoreUnavailableError:  # the grants are counted already; only the refund is lost
                self.log.warning("could not settle a chunk's usage", extra={"granted": budget.granted})
        return stats

    def _run_whole(self, run: Run, model: Any, owner: str, meter: dict[str, Any] | None = None) -> None:
        """The whole object in this worker, written as part 0, then committed to the result keys."""
        keys = part_keys(run.job_id, run.run_id, 0)
        self.ledger.put_chunk(run.run_id, 0, start=0, end=run.size, first_line=1)
        done = self.ledger.get_chunk(run.run_id, 0) or {}
        if done.get("status") == "done":  # written by an earlier try that could not commit yet
            return self._finish(run, [done], dict(done.get("timings_ms") or {}))
        self.ledger.claim_chunk(run.run_id, 0, owner)
        self.ledger.update_run(run.run_id, chunks_total=1)
        t0 = self.clock()
        try:
            with S3Writer(self.s3, run.source.bucket, keys["results"]) as out, \
                    S3Writer(self.s3, run.source.bucket, keys["errors"]) as err:
                _, items = whole_object_items(self.s3, run.source, run.fmt or "", self.limits,
                                              max_line_bytes=self.settings.batch_max_line_bytes)
                stats = self._run_items(model, items, out, err, self._progress(run, 0), meter)
        except (FormatError, SourceError) as exc:
            if isinstance(exc, SourceChangedError):
                raise SupersededError(str(exc)) from exc
            return self._fail(run, f"{exc.code}: {exc.detail}")
        self.fault("object-written", {"run": run.run_id})
        chunk = self._complete_chunk(run, 0, stats, t0)
        self._finish(run, [chunk], {"processing": (self.clock() - t0) * 1e3, **stats.timings_ms})

    def _fan_out(self, run: Run, owner: str) -> None:
        t0 = self.clock()
        try:
            layout, chunks = plan(read_range(self.s3, run.source), run.fmt or "",
                                  chunk_bytes=self.settings.batch_chunk_bytes,
                                  max_line_bytes=self.settings.batch_max_line_bytes)
        except SourceChangedError as exc:
            raise SupersededError(str(exc)) from exc
        except (FormatError, SourceError) as exc:
            return self._fail(run, f"{exc.code}: {exc.detail}")
        for chunk in chunks:
            self.ledger.put_chunk(run.run_id, chunk.index, start=chunk.start, end=chunk.end,
                                  first_line=chunk.first_line, lines=chunk.lines)
        run.layout, run.chunks_total, run.plan_ms = layout, len(chunks), (self.clock() - t0) * 1e3
        self.ledger.update_run(run.run_id, layout=layout.as_dict(), chunks_total=len(chunks), plan_ms=run.plan_ms)
        self.log.info("fan out", extra={"job": run.job_id, "run": run.run_id, "chunks": len(chunks)})
        queue = getattr(self.settings, "batch_queue_url", "")
        if self.sqs is not None and queue:
            bodies = [chunk_message(run.run_id, c.index) for c in chunks]
            for i in range(0, len(bodies), 10):
                entries = [{"Id": str(i + k), "MessageBody": b} for k, b in enumerate(bodies[i:i + 10])]
                failed = self.sqs.send_message_batch(QueueUrl=queue, Entries=entries).get("Failed")
                if failed:
                    raise RuntimeError(f"could not queue {len(failed)} chunk messages")
        else:  # no queue configured: work through the chunks here, one after the other
            for chunk in chunks:
                self.on_chunk(ChunkTask(run.run_id, chunk.index), f"{owner}/{chunk.index}")
        self.ledger.mark_fanned(run.run_id)

    # --- a chunk ----------------------------------------------------------------------------
    def on_chunk(self, task: ChunkTask, owner: str) -> None:
        item = self.ledger.get_run(task.run_id)
        if item is None or item.get("status") in FINAL:
            self.log.info("chunk of a finished or unknown run", extra={"run": task.run_id, "index": task.index})
            return
        run = Run.from_item(item)
        claim = self.ledger.claim_chunk(run.run_id, task.index, owner)
        if claim == BUSY:
            self.log.info("chunk busy elsewhere", extra={"run": run.run_id, "index": task.index})
            return
        if claim == CLAIMED:
            try:
                stats, t0 = self._process_chunk(run, task.index, item.get("meter"))
            except SourceChangedError:  # replaced mid-run (no versioning): the new upload has its own run
                self.ledger.finish_run(run.run_id, "superseded")
                return
            except SourceError as exc:  # deleted mid-run: retrying cannot help
                return self._fail(run, f"unreadable object: {exc.detail}")
            except BaseException:
                self.ledger.release_chunk(run.run_id, task.index, owner)
                raise
            self._complete_chunk(run, task.index, stats, t0)
        if self.ledger.mark_chunk_counted(run.run_id, task.index) >= run.chunks_total:
            self._merge(run, owner)

    def _process_chunk(self, run: Run, index: int, meter: dict[str, Any] | None = None) -> tuple[Stats, float]:
        t0 = self.clock()
        record = self.ledger.get_chunk(run.run_id, index) or {}
        chunk = Chunk(index, int(record["start"]), int(record["end"]), int(record["first_line"]),
                      int(record.get("lines", 0)))
        model = self.store.get(f"{run.model['name']}@{run.model['version']}")
        keys = part_keys(run.job_id, run.run_id, index)
        assert run.layout is not None
        with S3Writer(self.s3, run.source.bucket, keys["results"]) as out, \
                S3Writer(self.s3, run.source.bucket, keys["errors"]) as err:
            items = chunk_items(self.s3, run.source, run.fmt or "", self.limits, run.layout, chunk,
                                max_line_bytes=self.settings.batch_max_line_bytes)
            stats = self._run_items(model, items, out, err, self._progress(run, index), meter)
        self.fault("chunk-written", {"run": run.run_id, "index": index})
        return stats, t0

    def _complete_chunk(self, run: Run, index: int, stats: Stats, t0: float) -> dict[str, Any]:
        now = self.clock()
        fields = dict(stats.counts(), tokens=stats.tokens, finished_at=now,
                      timings_ms={k: round(v, 1) for k, v in stats.timings_ms.items()},
                      **({"stopped": stats.stopped} if stats.stopped else {}))
        if self.ledger.complete_chunk(run.run_id, index, **fields):
            self.metric(telemetry.LINES_OK, stats.ok)
            self.metric(telemetry.LINES_FAILED, stats.failed)
        return {**(self.ledger.get_chunk(run.run_id, index) or {}), **fields}

    def _merge(self, run: Run, owner: str) -> None:
        if not self.ledger.claim_merge(run.run_id, owner):
            return
        try:
            self.fault("merge", {"run": run.run_id})
            t0 = self.clock()
            chunks = self.ledger.list_chunks(run.run_id)
            if len(chunks) != run.chunks_total or any(c.get("status") != "done" for c in chunks):
                raise RuntimeError(f"run {run.run_id}: merge before every chunk is done")
            self._finish(run, chunks, {"plan": run.plan_ms}, t0=t0)
            self.ledger.update_run(run.run_id, merge_status="done", merge_lease_until=0)
        except SupersededError:
            self.ledger.finish_run(run.run_id, "superseded")
        except BaseException:
            self.ledger.release_merge(run.run_id, owner)
            raise

    # --- endings ----------------------------------------------------------------------------
    def _commit(self, run: Run) -> None:
        """Take the job's commit lease: outputs land only from the run the job still points at."""
        claim = self.ledger.claim_commit(run.job_id, run.run_id)
        if claim == SUPERSEDED:
            raise SupersededError(f"job {run.job_id} no longer runs {run.run_id}")
        if claim == BUSY:
            raise CommitBusyError(f"an older run of job {run.job_id} is still writing its outputs")

    def _publish(self, run: Run, chunks: list[dict[str, Any]]) -> dict[str, str]:
        """Join the parts of ``chunks`` (in order) into the result keys; the keys written."""
        keys, bucket = result_keys(run.job_id), run.source.bucket
        for kind in ("results", "errors"):
            concat(self.s3, bucket, [part_keys(run.job_id, run.run_id, int(c["index"]))[kind] for c in chunks],
                   keys[kind])
        return {"results": keys["results"], "errors": keys["errors"]}

    def _finish(self, run: Run, chunks: list[dict[str, Any]], timings_ms: dict[str, float], *,
                t0: float | None = None) -> None:
        """Commit the parts as the job's results (only while the job still runs this run), then end it."""
        self._commit(run)
        try:
            self._end_done(run, chunks, timings_ms, t0)
        finally:
            self.ledger.release_commit(run.job_id, run.run_id)
        self._clean(run)

    def _end_done(self, run: Run, chunks: list[dict[str, Any]], timings_ms: dict[str, float],
                  t0: float | None) -> None:
        t_merge = self.clock()
        outputs = self._publish(run, chunks)
        timings_ms = {**timings_ms, "merge": (self.clock() - (t_merge if t0 is None else t0)) * 1e3}
        now = self.clock()
        counts = total_counts(chunks)
        status, reason = "done", None
        if any(c.get("stopped") == metering.QUOTA_STOP for c in chunks):
            status = metering.QUOTA_STOP
            reason = (f"quota-exceeded: the token's daily quota ran out after {counts['lines_read']} lines; "
                      "the results hold the lines that ran (and were billed); the quota resets at 00:00 UTC")
        self.exporter(run, status, outputs)
        doc = summary(run, status=status, reason=reason, counts=counts, finished_at=now, chunks=chunks,
                      timings_ms=timings_ms)
        keys = result_keys(run.job_id)
        put_json(self.s3, run.source.bucket, keys["summary"], dumps(doc))
        self.ledger.finish_run(run.run_id, "done", counts=counts, finished_at=now)
        self.ledger.finish_job(run.job_id, run.run_id, status=status, counts=counts, model=run.model,
                               outputs=keys, finished_at=now, reason=reason)
        self.log.info("job " + status, extra={"job": run.job_id, "run": run.run_id, **counts})

    def _fail(self, run: Run, reason: str) -> None:
        """End the run and its job as failed, with the reason and the counts of the chunks that
        finished; their rows are joined into the result keys, so what ran stays downloadable."""
        try:
            self._commit(run)
        except SupersededError:
            self.ledger.finish_run(run.run_id, "superseded")
            return
        try:
            self._end_failed(run, reason)
        finally:
            self.ledger.release_commit(run.job_id, run.run_id)
        self._clean(run)

    def _end_failed(self, run: Run, reason: str) -> None:
        now = self.clock()
        chunks = [c for c in self.ledger.list_chunks(run.run_id) if c.get("status") == "done"]
        outputs: dict[str, str] = self._publish(run, chunks) if chunks else {}
        counts = total_counts(chunks)
        try:
            self.exporter(run, "failed", outputs)
        except Exception:  # noqa: BLE001 - a failed job ends failed even when its extra outputs cannot be written
            self.log.exception("could not export a failed job's outputs", extra={"job": run.job_id})
        doc = summary(run, status="failed", reason=reason, counts=counts, finished_at=now, chunks=chunks)
        doc["outputs"] = outputs
        keys = result_keys(run.job_id)
        put_json(self.s3, run.source.bucket, keys["summary"], dumps(doc))
        self.ledger.finish_run(run.run_id, "failed", reason=reason, finished_at=now, merge_status="failed")
        self.ledger.finish_job(run.job_id, run.run_id, status="failed", reason=reason, finished_at=now,
                               counts=doc["counts"], outputs={**outputs, "summary": keys["summary"]})
        self.metric(telemetry.JOBS_FAILED, 1)
        self.log.warning("job failed", extra={"job": run.job_id, "run": run.run_id, "reason": reason})

    def _clean(self, run: Run) -> None:
        """Delete the run's part files; a failure is logged and counted, never the job's failure."""
        try:
            delete_prefix(self.s3, run.source.bucket, parts_prefix(run.job_id, run.run_id))
        except Exception as exc:  # noqa: BLE001 - the outputs are committed; a lifecycle rule is the backstop
            self.metric(telemetry.CLEANUP_ERRORS, 1)
            self.log.warning("could not delete parts", extra={"run": run.run_id, "error": str(exc)})

    def give_up(self, body: str, reason: str) -> None:
        """This message will not be tried again (its last receive failed, or it reached the DLQ):
        end its run and job as failed with ``reason`` and the counts so far. Idempotent."""
        try:
            works = parse_body(body)
        except MalformedMessageError:
            return
        for work in works:
            if isinstance(work, Ignored):
                continue
            item = self.ledger.get_run(work.run_id)
            if item is None:  # never claimed (the jobs table was down on every try)
                if isinstance(work, ObjectCreated):
                    self.ledger.expire_job(work.job_id, reason=reason, finished_at=self.clock(),
                                           counts={"lines_read": 0, "ok": 0, "failed": 0})
                continue
            if item.get("status") in ("done", "superseded"):
                continue
            run = Run.from_item(item)
            self.ledger.fail_run(run.run_id, reason=reason, finished_at=self.clock())  # its chunks stop
            job = self.ledger.get_job(run.job_id) or {}
            if job.get("run_id") == run.run_id and job.get("status") in ("queued", "running"):
                self._fail(run, reason)

    def _reject(self, run: Run, reason: str) -> None:
        """A second upload to a job: fail the job for good; nothing of this object is read."""
        now = self.clock()
        doc = summary(run, status="failed", reason=reason, counts={}, finished_at=now)
        put_json(self.s3, run.source.bucket, result_keys(run.job_id)["summary"], dumps(doc))
        self.ledger.reject_upload(run.job_id, run.run_id, reason, counts=doc["counts"])
        self.ledger.finish_run(run.run_id, "failed", reason=reason, finished_at=now)
        self.metric(telemetry.JOBS_FAILED, 1)
        self.log.warning("upload rejected", extra={"job": run.job_id, "run": run.run_id, "reason": reason})

    # --- helpers ----------------------------------------------------------------------------
    def _runner(self, model: Any) -> LineRunner:
        if model.task not in ("classify", "embed"):
            raise WrongTaskError(f"model {model.manifest.name} does {model.task}")
        return LineRunner(model, truncate=self.settings.truncate)

    def _progress(self, run: Run, index: int) -> Callable[[Stats], None]:
        def report(stats: Stats) -> None:
            try:
                self.ledger.progress_chunk(run.run_id, index, **stats.counts())
            except Exception:  # noqa: BLE001 - progress is a courtesy, never a failure
                self.log.warning("progress update failed", extra={"run": run.run_id})
        return report


__all__ = ["Worker", "SupersededError", "CommitBusyError"]
