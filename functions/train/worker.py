"""The train worker: one queue message = one step of one job (``train`` or ``publish``).

Train: read the rows, load the base embedding model through the artifact store, embed in
micro-batches through the inference core, fit and evaluate (functions.train.pipeline), write
``result.json``, bill the texts embedded and end ``done``. Progress goes to the job record at
most once per ``progress_every_s``. A redelivered message for a job that already ended does
nothing; the job's quota reservation is settled exactly once (billed for what was embedded,
refunded when training failed).

Publish: compose the base graph with the head, write the manifest (owner, data sha256,
metrics), publish an immutable version through model_artifacts.publish and point the alias at
it. A name that another token's model (or an operator's model) already uses is refused.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from functions.auth.usage import Ticket, settle
from functions.nlp.errors import NlpError

from . import jobs as J
from .data import Rows
from .head import head_from_json, head_to_json
from .pipeline import train, zero_shot
from .publishing import build_artifact, check_name, headline, publish


@dataclass
class TrainWorker:
    s3: Any
    ledger: J.TrainLedger
    store: Any  # functions.store.artifacts.ArtifactStore
    data_bucket: str
    artifacts_bucket: str
    workdir: Path
    usage_ddb: Any = None  # the tokens table client; None: jobs are not metered
    usage_table: str | None = None
    progress_every_s: float = 1.0
    clock: Callable[[], float] = time.monotonic
    log: Any = None

    def handle(self, message: dict[str, Any]) -> None:
        job_id = J.check_job_id(message.get("job_id"))
        action = message.get("action")
        if action == "train":
            self.train(job_id)
        elif action == "publish":
            self.publish(job_id)
        else:
            raise ValueError(f"unknown action {action!r}")

    # --- training ---------------------------------------------------------------------------
    def train(self, job_id: str) -> None:
        item = self.ledger.read(job_id)
        if item is None or not self.ledger.move(job_id, (J.QUEUED, J.EMBEDDING, J.FITTING), J.EMBEDDING):
            return  # unknown, or already ended: a redelivered message
        try:
            model = self.store.get(item["base_model"])
            rows = self._rows(job_id)
            report = self._reporter(job_id)
            if item.get("kind") == "zero-shot":
                spec = json.loads(self._get(J.spec_key(job_id)))
                outcome = zero_shot(model, spec["descriptions"], rows, report=report)
            else:
                assert rows is not None
                from .features import feature_model  # onnx: only the train function's layer has it

                base = model.manifest
                features, layers = feature_model(self.store.disk.version_dir(base.name, base.version), base,
                                                 self.workdir / "features", threads=self.store.threads)
                outcome = train(features, rows, layers=layers, report=report)
        except NlpError as exc:
            self._fail(job_id, exc.detail)
            return
        except Exception as exc:  # noqa: BLE001 - the job ends failed with a reason; the log has the rest
            if self.log is not None:
                self.log.exception("training failed", extra={"job_id": job_id})
            self._fail(job_id, f"training failed ({type(exc).__name__})")
            return
        head = outcome.head
        result = {"evaluation": outcome.evaluation, "details": outcome.details, "head": head_to_json(head)}
        self.s3.put_object(Bucket=self.data_bucket, Key=J.result_key(job_id), Body=json.dumps(result).encode(),
                           ContentType="application/json")
        self._settle(job_id, outcome.texts_embedded, outcome.tokens)
        self.ledger.move(job_id, (J.EMBEDDING, J.FITTING), J.DONE, metrics=headline(outcome.evaluation, outcome.details),
                         labels=list(head.labels), progress={"stage": "done", "rows_embedded": outcome.texts_embedded,
                                                             "eta_s": 0})

    def _rows(self, job_id: str) -> Rows | None:
        try:
            return Rows.from_jsonl(self._get(J.rows_key(job_id)))
        except self.s3.exceptions.NoSuchKey:
            return None

    def _get(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.data_bucket, Key=key)["Body"].read()

    def _reporter(self, job_id: str) -> Callable[[dict[str, Any]], None]:
        last = [float("-inf")]

        def report(progress: dict[str, Any]) -> None:
            now = self.clock()
            final = progress.get("rows_embedded") == progress.get("rows") or progress.get("fold") == progress.get("folds")
            if now - last[0] < self.progress_every_s and not final:
                return
            last[0] = now
            status = J.FITTING if progress.get("stage") == "fitting" else J.EMBEDDING
            # conditional: a duplicate delivery still running never drags an ended job back
            self.ledger.move(job_id, (J.EMBEDDING, J.FITTING), status, progress=progress)

        return report

    def give_up(self, message: dict[str, Any], reason: str) -> None:
        """This message will never be processed (it reached the DLQ): a training job ends failed with
        ``reason`` and its reservation goes back to the quota (it produced no model: nothing is
        billed, as the batch path bills only rows it delivered); a publish goes back to done with the
        reason. Idempotent: a job that already ended is left as it is."""
        try:
            job_id = J.check_job_id(message.get("job_id"))
        except NlpError:
            return  # not a job's message: nothing to end
        action = message.get("action")
        if action == "train":
            item = self.ledger.read(job_id)
            if item is not None and item.get("status") in (J.QUEUED, J.EMBEDDING, J.FITTING):
                self._fail(job_id, reason)
        elif action == "publish":
            self.ledger.move(job_id, (J.PUBLISHING,), J.DONE, error=f"publish failed: {reason}")

    def _fail(self, job_id: str, reason: str) -> None:
        self._settle(job_id, 0, 0)
        self.ledger.move(job_id, (J.QUEUED, J.EMBEDDING, J.FITTING), J.FAILED, error=reason)

    def _settle(self, job_id: str, texts: int, tokens: int) -> None:
        """Bill what was embedded against the reservation made when the job was created."""
        if self.usage_table is None:
            return
        reservation = self.ledger.take_reservation(job_id)
        if not reservation:
            return
        ticket = Ticket(str(reservation["token_id"]), str(reservation["day"]), int(reservation["texts"]))
        settle(self.usage_ddb, self.usage_table, ticket, texts=min(texts, ticket.texts), tokens=tokens,
               requests=1 if texts else 0)

    # --- publishing -------------------------------------------------------------------------
    def publish(self, job_id: str) -> None:
        item = self.ledger.read(job_id)
        if item is None or item.get("status") != J.PUBLISHING:
            return
        name, owner, alias = item["name"], item["owner"], item.get("alias") or "prod"
        try:
            check_name(self.store.s3, name, owner)
            result = json.loads(self._get(J.result_key(job_id)))
            head = head_from_json(result["head"])
            base = self.store.manifest(item["base_model"])
            self.store.get(base.ref)  # downloaded and verified into the cache
            base_dir = self.store.disk.version_dir(base.name, base.version)
            version = f"{time.strftime('%Y%m%d', time.gmtime())}-{job_id[:12]}"
            out = self.workdir / job_id
            shutil.rmtree(out, ignore_errors=True)
            build_artifact(base_dir, base, head, out, name=name, version=version, owner=owner, job_id=job_id,
                           data_sha256=item.get("training_data_sha256"), shared=item.get("shared") or (),
                           metrics=headline(result.get("evaluation"), result.get("details") or {}))
            ref, number = publish(self.s3, self.artifacts_bucket, out, alias)
            shutil.rmtree(out, ignore_errors=True)
        except Exception as exc:  # noqa: BLE001 - the job goes back to done with the reason
            detail = exc.detail if isinstance(exc, NlpError) else str(exc)[:300]
            if self.log is not None and not isinstance(exc, NlpError):
                self.log.exception("publish failed", extra={"job_id": job_id})
            self.ledger.move(job_id, (J.PUBLISHING,), J.DONE, error=f"publish failed: {detail}")
            return
        self.ledger.move(job_id, (J.PUBLISHING,), J.PUBLISHED, model=ref, version_number=number, error=None)


__all__ = ["TrainWorker"]
