"""The jobs table: jobs, runs (one per object version), chunks, with leases and counters.

Items (string pk/sk, TTL attribute expires_at):
- ``job#<job>`` / ``job``: what the status API shows (owner, model, status, counts, run).
- ``run#<run>`` / ``run``: the idempotency record of one object version. A conditional
  update claims it; its lease lets a retry take over from a crashed worker.
- ``run#<run>`` / ``chunk#<n>``: one byte range with its own lease, counts and timings.
Chunk completion adds the chunk's index to a number set on the run (an idempotent atomic
counter), so a redelivered chunk never counts twice; the merge itself is claimed once more.
"""
from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Callable

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from functions.store.clients import error_code

CLAIMED, DONE, BUSY, SUPERSEDED = "claimed", "done", "busy", "superseded"
FINAL = ("done", "failed", "superseded")
LEASE_S = 16 * 60  # longer than a Lambda can run (15 min): a live worker never loses its lease
COMMIT_LEASE_S = 16 * 60  # a commit is a few S3 copies, but it must outlive any Lambda that holds it
TTL_S = 30 * 24 * 3600

_ser, _de = TypeSerializer(), TypeDeserializer()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


def _dyn(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _dyn(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dyn(v) for v in value]
    return value


def _is_conditional_failure(exc: Exception) -> bool:
    return error_code(exc) in ("ConditionalCheckFailedException", "TransactionCanceledException")


def chunk_sk(index: int) -> str:
    return f"chunk#{index:05d}"


class Ledger:
    """Typed access to the jobs table. ``clock`` returns epoch seconds (injectable for tests)."""

    def __init__(self, ddb: Any, table: str, *, clock: Callable[[], float] = time.time,
                 lease_s: float = LEASE_S, ttl_s: int = TTL_S, commit_lease_s: float = COMMIT_LEASE_S) -> None:
        self.ddb, self.table, self.clock, self.lease_s, self.ttl_s = ddb, table, clock, lease_s, ttl_s
        self.commit_lease_s = commit_lease_s

    # --- low level --------------------------------------------------------------------------
    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.ddb.get_item(TableName=self.table, Key=self._key(pk, sk), ConsistentRead=True).get("Item")
        return None if item is None else {k: _plain(_de.deserialize(v)) for k, v in item.items()}

    def _update(self, pk: str, sk: str, sets: dict[str, Any], *, condition: str | None = None,
                values: dict[str, Any] | None = None, add: dict[str, Any] | None = None,
                if_absent: dict[str, Any] | None = None, returns: str = "NONE") -> dict[str, Any] | None:
        names: dict[str, str] = {}
        vals: dict[str, Any] = {}
        clauses: list[str] = []
        for i, (attr, value) in enumerate(sets.items()):
            names[f"#s{i}"], vals[f":s{i}"] = attr, value
            clauses.append(f"#s{i} = :s{i}")
        for i, (attr, value) in enumerate((if_absent or {}).items()):
            names[f"#f{i}"], vals[f":f{i}"] = attr, value
            clauses.append(f"#f{i} = if_not_exists(#f{i}, :f{i})")
        expression = "SET " + ", ".join(clauses) if clauses else ""
        if add:
            parts = []
            for i, (attr, value) in enumerate(add.items()):
                names[f"#a{i}"], vals[f":a{i}"] = attr, value
                parts.append(f"#a{i} :a{i}")
            expression += " ADD " + ", ".join(parts)
        for token, value in (values or {}).items():
            if token.startswith("#"):
                names[token] = value
            else:
                vals[token] = value
        kwargs: dict[str, Any] = dict(
            TableName=self.table, Key=self._key(pk, sk), UpdateExpression=expression.strip(),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={k: _ser.serialize(_dyn(v)) for k, v in vals.items()},
            ReturnValues=returns)
        if condition:
            kwargs["ConditionExpression"] = condition
        out = self.ddb.update_item(**kwargs)
        attrs = out.get("Attributes")
        return None if attrs is None else {k: _plain(_de.deserialize(v)) for k, v in attrs.items()}

    def _update_if(self, pk: str, sk: str, sets: dict[str, Any], *, condition: str, **kwargs: Any) -> bool:
        """``_update`` under ``condition``; False, and nothing written, when the condition does not hold."""
        try:
            self._update(pk, sk, sets, condition=condition, **kwargs)
        except Exception as exc:  # noqa: BLE001
            if not _is_conditional_failure(exc):
                raise
            return False
        return True

    def _put_new(self, item: dict[str, Any]) -> bool:
        """Put an item unless one with its key exists; False when it did."""
        try:
            self.ddb.put_item(TableName=self.table, Item={k: _ser.serialize(_dyn(v)) for k, v in item.items()},
                              ConditionExpression="attribute_not_exists(pk)")
            return True
        except Exception as exc:  # noqa: BLE001
            if not _is_conditional_failure(exc):
                raise
            return False

    def _claim(self, pk: str, sk: str, owner: str, extra: dict[str, Any], prefix: str = "") -> str:
        """Take the lease on an item unless it is final or another live owner holds it."""
        now = self.clock()
        lease_owner, lease_until, status = f"{prefix}lease_owner", f"{prefix}lease_until", f"{prefix}status"
        sets = {status: "running", lease_owner: owner, lease_until: now + self.lease_s,
                "expires_at": int(now + self.ttl_s), **extra}
        condition = ("(attribute_not_exists(#st) OR #st = :running) AND "
                     "(attribute_not_exists(#lu) OR #lu < :now OR #lo = :me)")
        if self._update_if(pk, sk, sets, condition=condition, add={f"{prefix}attempts": 1},
                           values={"#st": status, "#lu": lease_until, "#lo": lease_owner,
                                   ":running": "running", ":now": now, ":me": owner}):
            return CLAIMED
        item = self._get(pk, sk) or {}
        return BUSY if item.get(status) == "running" else DONE

    # --- runs -------------------------------------------------------------------------------
    def claim_run(self, run_id: str, owner: str, **attrs: Any) -> str:
        return self._claim(f"run#{run_id}", "run", owner, attrs)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        return self._get(f"run#{run_id}", "run")

    def update_run(self, run_id: str, **attrs: Any) -> None:
        self._update(f"run#{run_id}", "run", attrs)

    def finish_run(self, run_id: str, status: str, **attrs: Any) -> None:
        self._update(f"run#{run_id}", "run", {"status": status, "lease_until": 0, **attrs})

    def mark_fanned(self, run_id: str) -> None:
        """All chunk messages are out: duplicates of the upload event may be acknowledged now."""
        self._update_if(f"run#{run_id}", "run", {"status": "fanned"}, condition="#st = :running",
                        values={"#st": "status", ":running": "running"})

    def release_run(self, run_id: str, owner: str) -> None:
        """Give the lease up after a failure so that the retry need not wait for it to expire."""
        self._release(f"run#{run_id}", "run", owner)

    def _release(self, pk: str, sk: str, owner: str, prefix: str = "") -> None:
        self._update_if(pk, sk, {f"{prefix}lease_until": 0}, condition="#lo = :me AND #st = :running",
                        values={"#lo": f"{prefix}lease_owner", "#st": f"{prefix}status",
                                ":me": owner, ":running": "running"})

    def mark_chunk_counted(self, run_id: str, index: int) -> int:
        """Add index to the run's set of finished chunks; returns how many are finished."""
        out = self._update(f"run#{run_id}", "run", {}, add={"chunks_done": {index}}, returns="ALL_NEW")
        return len((out or {}).get("chunks_done", ()))

    def claim_merge(self, run_id: str, owner: str) -> bool:
        return self._claim(f"run#{run_id}", "run", owner, {}, prefix="merge_") == CLAIMED

    def release_merge(self, run_id: str, owner: str) -> None:
        self._release(f"run#{run_id}", "run", owner, prefix="merge_")

    # --- chunks -----------------------------------------------------------------------------
    def put_chunk(self, run_id: str, index: int, **attrs: Any) -> None:
        """Create a chunk record once; a re-plan after a crash keeps what exists."""
        item = {"pk": f"run#{run_id}", "sk": chunk_sk(index), "index": index, "status": "pending",
                "expires_at": int(self.clock() + self.ttl_s), **attrs}
        self._put_new(item)

    def claim_chunk(self, run_id: str, index: int, owner: str) -> str:
        pk, sk = f"run#{run_id}", chunk_sk(index)
        now = self.clock()
        condition = ("attribute_exists(pk) AND #st <> :done AND "
                     "(#st = :pending OR #lu < :now OR #lo = :me)")
        if self._update_if(pk, sk, {"status": "running", "lease_owner": owner, "lease_until": now + self.lease_s,
                                    "started_at": now}, condition=condition, add={"attempts": 1},
                           values={"#st": "status", "#lu": "lease_until", "#lo": "lease_owner",
                                   ":done": "done", ":pending": "pending", ":now": now, ":me": owner}):
            return CLAIMED
        item = self._get(pk, sk)
        if item is None:
            raise KeyError(f"run {run_id} has no chunk {index}")
        return DONE if item.get("status") == "done" else BUSY

    def release_chunk(self, run_id: str, index: int, owner: str) -> None:
        self._release(f"run#{run_id}", chunk_sk(index), owner)

    def progress_chunk(self, run_id: str, index: int, **counts: Any) -> None:
        self._update(f"run#{run_id}", chunk_sk(index), counts)

    def complete_chunk(self, run_id: str, index: int, **stats: Any) -> bool:
        """Mark done exactly once; False when it already was (the caller must not count it again)."""
        return self._update_if(f"run#{run_id}", chunk_sk(index), {"status": "done", "lease_until": 0, **stats},
                               condition="#st <> :done", values={"#st": "status", ":done": "done"})

    def get_chunk(self, run_id: str, index: int) -> dict[str, Any] | None:
        return self._get(f"run#{run_id}", chunk_sk(index))

    def list_chunks(self, run_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = dict(
            TableName=self.table, KeyConditionExpression="pk = :pk AND begins_with(sk, :c)",
            ExpressionAttributeValues={":pk": {"S": f"run#{run_id}"}, ":c": {"S": "chunk#"}},
            ConsistentRead=True)
        while True:
            page = self.ddb.query(**kwargs)
            items += [{k: _plain(_de.deserialize(v)) for k, v in i.items()} for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(items, key=lambda c: c["index"])

    # --- jobs -------------------------------------------------------------------------------
    def create_job(self, job_id: str, **attrs: Any) -> bool:
        now = self.clock()
        item = {"pk": f"job#{job_id}", "sk": "job", "job_id": job_id, "status": "queued",
                "created_at": now, "expires_at": int(now + self.ttl_s), **attrs}
        return self._put_new(item)

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        return self._get(f"job#{job_id}", "job")

    def start_job(self, job_id: str, run_id: str, sequence: str, *, owner: str | None,
                  **attrs: Any) -> bool:
        """Point the job at this run unless a later upload of the same key already owns it."""
        now = self.clock()
        absent: dict[str, Any] = {"created_at": now, "job_id": job_id}
        if owner:
            absent["owner"] = owner
        return self._update_if(f"job#{job_id}", "job",
                               {"status": "running", "run_id": run_id, "sequence": sequence, "updated_at": now,
                                "expires_at": int(now + self.ttl_s), **attrs},
                               if_absent=absent,
                               condition="attribute_not_exists(closed) AND "
                                         "(attribute_not_exists(#seq) OR #seq <= :seq OR #run = :run)",
                               values={"#seq": "sequence", "#run": "run_id", ":seq": sequence, ":run": run_id})

    def claim_commit(self, job_id: str, run_id: str) -> str:
        """Take the job's commit lease before writing its final outputs (results, summary).

        Granted only while the job still points at this run and is running, so outputs land
        only from the current run, checked at commit time; the lease serialises commits, so an
        older run that passed the check finishes writing before a newer run may start its own.
        Returns CLAIMED, SUPERSEDED (another run owns the job, or it ended) or BUSY (an older
        run is still committing: retry later).
        """
        now = self.clock()
        if self._update_if(f"job#{job_id}", "job", {"commit_run": run_id, "commit_until": now + self.commit_lease_s},
                           condition="#run = :run AND #st = :running AND "
                                     "(attribute_not_exists(#cu) OR #cu < :now OR #cr = :run)",
                           values={"#run": "run_id", "#st": "status", "#cu": "commit_until", "#cr": "commit_run",
                                   ":run": run_id, ":running": "running", ":now": now}):
            return CLAIMED
        job = self.get_job(job_id) or {}
        if job.get("run_id") == run_id and job.get("status") == "running":
            return BUSY
        return SUPERSEDED

    def release_commit(self, job_id: str, run_id: str) -> None:
        """End this run's commit lease (also when the job moved on meanwhile), so the next run
        need not wait for it to expire."""
        self._update_if(f"job#{job_id}", "job", {"commit_until": 0}, condition="#cr = :run",
                        values={"#cr": "commit_run", ":run": run_id})

    def expire_job(self, job_id: str, *, reason: str, finished_at: float, counts: dict[str, int],
                   closed: bool = False) -> bool:
        """Mark a job that ran past its deadline failed (and its run, so its chunks stop);
        False when it ended meanwhile. ``closed``: no upload may start it again (a cancelled job)."""
        try:
            job = self._update(f"job#{job_id}", "job",
                               {"status": "failed", "reason": reason, "finished_at": finished_at,
                                "updated_at": finished_at, "counts": counts, **({"closed": True} if closed else {})},
                               condition="#st IN (:queued, :running)",
                               values={"#st": "status", ":queued": "queued", ":running": "running"},
                               returns="ALL_NEW")
        except Exception as exc:  # noqa: BLE001
            if not _is_conditional_failure(exc):
                raise
            return False
        run_id = (job or {}).get("run_id")
        if run_id:
            self.fail_run(run_id, reason=reason, finished_at=finished_at)
        return True

    def fail_run(self, run_id: str, **attrs: Any) -> bool:
        """Mark a run failed unless it already ended; no merge may start after this."""
        return self._update_if(f"run#{run_id}", "run",
                               {"status": "failed", "lease_until": 0, "merge_status": "failed", **attrs},
                               condition="attribute_exists(pk) AND NOT #st IN (:done, :failed, :superseded)",
                               values={"#st": "status", ":done": "done", ":failed": "failed",
                                       ":superseded": "superseded"})

    def finish_job(self, job_id: str, run_id: str, **attrs: Any) -> bool:
        """Record the outcome unless a newer run took the job over meanwhile; ends the commit lease."""
        return self._update_if(f"job#{job_id}", "job", {"updated_at": self.clock(), "commit_until": 0, **attrs},
                               condition="#run = :run", values={"#run": "run_id", ":run": run_id})

    # --- other records: the OpenAI Batch API's files and batches ------------------------------
    def put_record(self, pk: str, sk: str, **attrs: Any) -> bool:
        """Create a record once (False when it exists); it expires with the jobs (TTL)."""
        item = {"pk": pk, "sk": sk, "expires_at": int(self.clock() + self.ttl_s), **attrs}
        return self._put_new(item)

    def get_record(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self._get(pk, sk)

    def update_record(self, pk: str, sk: str, **attrs: Any) -> None:
        self._update(pk, sk, attrs)

    def query_records(self, pk: str, *, limit: int, below: str | None = None) -> list[dict[str, Any]]:
        """Up to ``limit`` records under pk, highest sk first, only those with sk < ``below``."""
        values: dict[str, Any] = {":pk": {"S": pk}}
        condition = "pk = :pk"
        if below is not None:
            condition += " AND sk < :below"
            values[":below"] = {"S": below}
        page = self.ddb.query(TableName=self.table, KeyConditionExpression=condition,
                              ExpressionAttributeValues=values, ScanIndexForward=False, Limit=limit,
                              ConsistentRead=True)
        return [{k: _plain(_de.deserialize(v)) for k, v in i.items()} for i in page.get("Items", [])]

    def is_current(self, job_id: str, run_id: str) -> bool:
        job = self.get_job(job_id)
        return job is None or job.get("run_id") in (None, run_id)

    def take_reservation(self, job_id: str) -> dict[str, Any] | None:
        """Remove the job's quota reservation and return it; None when already taken (so it is
        given back to the quota once, whoever asks first: the worker or an expired job's status)."""
        try:
            out = self.ddb.update_item(TableName=self.table, Key=self._key(f"job#{job_id}", "job"),
                                       UpdateExpression="REMOVE reservation",
                                       ConditionExpression="attribute_exists(reservation)", ReturnValues="UPDATED_OLD")
        except Exception as exc:  # noqa: BLE001
            if not _is_conditional_failure(exc):
                raise
            return None
        return _plain(_de.deserialize(out["Attributes"]["reservation"]))

    def reject_upload(self, job_id: str, run_id: str, reason: str, **attrs: Any) -> None:
        """Fail the job for good because of this upload: it becomes the job's run (so no earlier
        run is current any more, and none can finish the job) and its sequence sorts after every
        S3 sequencer (so start_job never hands the job to a later upload)."""
        now = self.clock()
        self._update(f"job#{job_id}", "job", {"status": "failed", "reason": reason, "run_id": run_id,
                                              "sequence": "~", "updated_at": now, "finished_at": now, **attrs})


__all__ = ["Ledger", "CLAIMED", "DONE", "BUSY", "SUPERSEDED", "FINAL", "LEASE_S", "COMMIT_LEASE_S", "chunk_sk"]
