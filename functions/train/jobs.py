"""Training jobs: their record in the jobs table, their objects in the data bucket, their queue.

Record ``train#<job>`` / ``train`` (the batch ledger's table and codec): owner, name, base model,
kind (train | zero-shot), status, progress ({stage, rows_embedded, rows, fold, folds, eta_s}),
the quota reservation, the data's sha256, the headline metrics, the published model, an error.
Statuses: queued -> embedding -> fitting -> done | failed; done -> publishing -> published | done
(a failed publish returns the job to done with the reason). A token sees only its own jobs.

Objects: ``train/<job>/rows.jsonl`` (the rows or the labelled sample), ``train/<job>/spec.json``
(descriptions for zero-shot), ``train/<job>/result.json`` (the full evaluation and the head).
"""
from __future__ import annotations

import json
import uuid
from typing import Any, Callable

from functions.batch.jobs import check_job_id
from functions.batch.ledger import Ledger, _is_conditional_failure
from functions.batch.errors import JobNotFoundError

from . import queue
from .data import TrainingConflictError

SK = "train"
PREFIX = "train/"
QUEUED, EMBEDDING, FITTING, DONE, FAILED, PUBLISHING, PUBLISHED = (
    "queued", "embedding", "fitting", "done", "failed", "publishing", "published")
FINAL = (DONE, FAILED, PUBLISHED)


def pk(job_id: str) -> str:
    return f"train#{job_id}"


def rows_key(job_id: str) -> str:
    return f"{PREFIX}{job_id}/rows.jsonl"


def spec_key(job_id: str) -> str:
    return f"{PREFIX}{job_id}/spec.json"


def result_key(job_id: str) -> str:
    return f"{PREFIX}{job_id}/result.json"


# no progress for longer than a train Lambda can run (15 min): its worker is gone. The job is shown and
# recorded as ended, so no page polls forever; a redelivered message then finds it ended and stops.
STALE_S = 16 * 60

PUBLIC = ("job_id", "status", "name", "base_model", "kind", "rows", "labels", "progress", "metrics",
          "training_data_sha256", "model", "version_number", "alias", "shared", "error", "created_at", "updated_at")


class TrainLedger(Ledger):
    """Training-job records on the jobs table."""

    def create(self, job_id: str, item: dict[str, Any]) -> None:
        now = self.clock()
        self._put_new({"pk": pk(job_id), "sk": SK, "job_id": job_id, "status": QUEUED, "created_at": now,
                       "updated_at": now, "expires_at": int(now + self.ttl_s), **item})

    def read(self, job_id: str) -> dict[str, Any] | None:
        return self._get(pk(job_id), SK)

    def set(self, job_id: str, **fields: Any) -> None:
        self._update(pk(job_id), SK, {**fields, "updated_at": self.clock()})

    def move(self, job_id: str, frm: tuple[str, ...], to: str, **fields: Any) -> bool:
        """Change status only from one of ``frm`` (False when the job was elsewhere)."""
        values = {"#st": "status", **{f":f{i}": s for i, s in enumerate(frm)}}
        condition = "#st IN (" + ", ".join(f":f{i}" for i in range(len(frm))) + ")"
        try:
            self._update(pk(job_id), SK, {"status": to, **fields, "updated_at": self.clock()},
                         condition=condition, values=values)
            return True
        except Exception as exc:  # noqa: BLE001
            if not _is_conditional_failure(exc):
                raise
            return False

    def take_reservation(self, job_id: str) -> dict[str, Any] | None:
        """The quota reservation, handed out once (a conditional flag): whoever gets it settles it."""
        try:
            old = self._update(pk(job_id), SK, {"reservation_taken": True},
                               condition="attribute_not_exists(reservation_taken)", returns="ALL_OLD")
        except Exception as exc:  # noqa: BLE001
            if not _is_conditional_failure(exc):
                raise
            return None
        return (old or {}).get("reservation")


def public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in PUBLIC if k in item}


class TrainJobs:
    """The API's side: create jobs (rows to S3, record, queue message), read them, ask to publish."""

    def __init__(self, s3: Any, sqs: Any, ledger: TrainLedger, *, bucket: str, queue_url: str,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
                 refund: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.s3, self.sqs, self.ledger, self.bucket, self.queue_url = s3, sqs, ledger, bucket, queue_url
        self.new_id = new_id
        self.refund = refund  # gives a reservation back to the quota (None: jobs are not metered)

    def create(self, owner_id: str, item: dict[str, Any], rows_jsonl: bytes | None, spec: dict[str, Any] | None) -> dict[str, Any]:
        job_id = check_job_id(self.new_id())
        if rows_jsonl is not None:
            self.s3.put_object(Bucket=self.bucket, Key=rows_key(job_id), Body=rows_jsonl,
                               ContentType="application/x-ndjson")
        if spec is not None:
            self.s3.put_object(Bucket=self.bucket, Key=spec_key(job_id), Body=json.dumps(spec).encode(),
                               ContentType="application/json")
        self.ledger.create(job_id, {"owner": owner_id, **item})
        self._send(job_id, "train")
        return public(self.ledger.read(job_id) or {})

    def get(self, job_id: str, owner_id: str) -> dict[str, Any]:
        item = self._stale(self._owned(job_id, owner_id))
        out = public(item)
        if item.get("status") in (DONE, PUBLISHING, PUBLISHED):
            result = json.loads(self.s3.get_object(Bucket=self.bucket, Key=result_key(job_id))["Body"].read())
            out["evaluation"] = result.get("evaluation")
            out["details"] = result.get("details")
        return out

    def publish(self, job_id: str, owner_id: str, alias: str, shared: list[str] = ()) -> dict[str, Any]:
        """Queue the publish; ``shared``: token ids that may use the model besides its owner (recorded
        in the version's manifest: a version's audience is as immutable as the version)."""
        item = self._owned(job_id, owner_id)
        if not self.ledger.move(job_id, (DONE,), PUBLISHING, alias=alias, shared=list(shared), error=None):
            raise TrainingConflictError(f"job {job_id} is {item.get('status')}: only a finished training "
                                        "that is not published yet can be published")
        self._send(job_id, "publish")
        return public(self.ledger.read(job_id) or {})

    def _stale(self, item: dict[str, Any]) -> dict[str, Any]:
        """End a job whose worker is gone: training failed (its texts refunded), a publish back to done."""
        job_id, status = item["job_id"], item.get("status")
        if status not in (EMBEDDING, FITTING, PUBLISHING) or self.ledger.clock() - item.get("updated_at", 0) <= STALE_S:
            return item
        if status == PUBLISHING:
            self.ledger.move(job_id, (PUBLISHING,), DONE, error="publishing stopped without finishing; publish again")
        elif self.ledger.move(job_id, (EMBEDDING, FITTING), FAILED,
                              error="training stopped without finishing (the worker ran out of time); try again"):
            reservation = self.ledger.take_reservation(job_id)
            if reservation and self.refund is not None:
                self.refund(reservation)
        return self.ledger.read(job_id) or item

    def _owned(self, job_id: str, owner_id: str) -> dict[str, Any]:
        item = self.ledger.read(check_job_id(job_id))
        if item is None or item.get("owner") != owner_id:
            raise JobNotFoundError("no such training job")
        return item

    def _send(self, job_id: str, action: str) -> None:
        queue.send(self.sqs, self.queue_url, job_id, action)


__all__ = ["TrainLedger", "TrainJobs", "public", "pk", "rows_key", "spec_key", "result_key", "QUEUED", "EMBEDDING",
           "FITTING", "DONE", "FAILED", "PUBLISHING", "PUBLISHED", "FINAL"]
