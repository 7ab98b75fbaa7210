"""The job service behind POST /v1/batch and GET /v1/batch/{job}.

Creating a job admits it against the owner's daily quota (functions.batch.metering: the
declared texts are reserved, or the API's 429 problem), records it (status queued, owner = the
token) and returns a presigned PUT URL for ``incoming/<job>.<fmt>`` whose signature binds the
model and owner metadata headers and ``If-None-Match: *``: the upload cannot change them, and
S3 refuses a second object under the key. The URL expires after ``presign_ttl_s``; an object
over ``batch_max_upload_bytes`` fails its job before any inference (the worker checks it).
The worker takes the job over when the upload event arrives.
A token sees only its own jobs; any other job id is simply "not found".
"""
from __future__ import annotations

import contextlib
import re
import time
import uuid
from typing import Any, Callable, Iterator

from functions.auth.errors import TokenStoreUnavailableError
from functions.nlp.errors import InputTypeError
from functions.store.visibility import require_visible

from . import metering
from .errors import JobNotFoundError, JobStoreUnavailableError
from .ledger import Ledger
from .records import FORMATS
from .summary import result_keys

JOB_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
STATUSES = ("queued", "running", "done", "failed", metering.QUOTA_STOP)
EXPIRY_GRACE_S = 300  # an upload signed just before expiry may still be on its way


@contextlib.contextmanager
def _ledger_errors() -> Iterator[None]:
    """DynamoDB unreachable or failing: a 503 the caller can retry, never a 500."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise JobStoreUnavailableError("the batch job service is unavailable; try again shortly") from exc


def check_job_id(job_id: Any) -> str:
    """Job ids become S3 keys: only [A-Za-z0-9_-]{1,64}; anything else names no job."""
    if not isinstance(job_id, str) or not JOB_ID_RE.fullmatch(job_id):
        raise JobNotFoundError("no such job")
    return job_id


def sigv4_client(s3: Any) -> Any:
    """The same S3 client, signing with SigV4: only SigV4 presigned URLs sign the x-amz-meta-* headers."""
    config = getattr(getattr(s3, "meta", None), "config", None)
    if config is None:  # not a boto3 client (a test double)
        return s3
    # botocore may still presign with SigV2 unless s3v4 is asked for explicitly: always ask
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client("s3", region_name=s3.meta.region_name, endpoint_url=s3.meta.endpoint_url,
                                          config=config.merge(Config(signature_version="s3v4")))


class JobService:
    """Create jobs and report on them. ``resolve(ref)`` checks a model exists (the artifact store)."""

    def __init__(self, s3: Any, ledger: Ledger, *, bucket: str, default_model: str, presign_ttl_s: int = 3600,
                 max_upload_bytes: int = 256 * 1024 * 1024, usage_table: str | None = None,
                 deadline_s: float = 24 * 3600,
                 resolve: Callable[[str], tuple[str, str]] | None = None, manifest: Callable[[str], Any] | None = None,
                 sharing: Callable[[str], Any] | None = None,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex, clock: Callable[[], float] = time.time) -> None:
        self.s3, self.ledger, self.bucket = s3, ledger, bucket
        self.presigner = sigv4_client(s3)
        self.default_model, self.ttl, self.resolve = default_model, presign_ttl_s, resolve
        self.manifest = manifest  # ref -> Manifest: whose model it is (functions/store/visibility.py)
        self.sharing = sharing or (lambda name: None)  # name -> its sharing record (None: the manifest's)
        self.max_upload_bytes = max_upload_bytes
        self.deadline_s = deadline_s  # a running job older than this is failed when looked at
        self.usage_table = usage_table  # the tokens table's USAGE# rows; None: jobs are not metered
        self.new_id, self.clock = new_id, clock

    @classmethod
    def from_settings(cls, settings: Any, s3: Any, ddb: Any, *, store: Any = None, **kwargs: Any) -> "JobService":
        metered = settings.auth_enabled and settings.tokens_table
        return cls(s3, Ledger(ddb, settings.jobs_table), bucket=settings.data_bucket,
                   default_model=settings.default_classify_model, presign_ttl_s=settings.presign_ttl_s,
                   max_upload_bytes=settings.batch_max_upload_bytes, deadline_s=settings.batch_job_deadline_s,
                   usage_table=settings.tokens_table if metered else None,
                   resolve=None if store is None else store.resolve,
                   manifest=None if store is None else store.manifest,
                   sharing=None if store is None else store.sharing, **kwargs)

    def create_job(self, owner: Any, fmt: str, model: str | None = None, *, texts: int | None = None) -> dict[str, Any]:
        """A queued job and its upload URL. ``owner``: the caller's token record (token_id,
        quota_per_day); ``texts``: the lines the client says the file holds (reserved now)."""
        fmt = (fmt or "").lower().lstrip(".")
        if fmt not in FORMATS:
            raise InputTypeError(f"format must be one of {', '.join(FORMATS)}")
        reserve = metering.declared_texts(texts, self.max_upload_bytes)
        ref = model or self.default_model
        if self.resolve is not None:
            self.resolve(ref)  # an unknown model fails now, not after the upload
        owner_id = str(getattr(owner, "token_id", owner))
        if self.manifest is not None:
            require_visible(self.manifest(ref), owner_id, self.sharing)  # another token's own model: 404
        admitted: dict[str, Any] = {}
        if self.usage_table is not None:
            if not hasattr(owner, "quota_per_day"):  # fail closed: a job nobody can bill is not created
                raise TypeError("create_job needs the caller's token record to admit a metered job")
            admitted = metering.admit(self.ledger.ddb, self.usage_table, owner, reserve, now=self.clock())
        job_id = check_job_id(self.new_id())
        key = f"incoming/{job_id}.{fmt}"
        metadata = {"model": ref, "owner": owner_id}
        try:
            with _ledger_errors():
                self.ledger.create_job(job_id, owner=owner_id, model={"ref": ref}, fmt=fmt, key=key,
                                       upload_ttl_s=self.ttl, **admitted)
        except JobStoreUnavailableError:
            self._give_back(admitted)
            raise
        # If-None-Match: * is signed: S3 stores one object under the key, a second PUT gets 412
        url = self.presigner.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": key, "Metadata": metadata, "IfNoneMatch": "*"},
            ExpiresIn=self.ttl)
        return {"job_id": job_id, "status": "queued", "upload_url": url, "upload_method": "PUT",
                "upload_headers": {**{f"x-amz-meta-{k}": v for k, v in metadata.items()}, "If-None-Match": "*"},
                "key": key, "model": ref, "format": fmt, "expires_in": self.ttl,
                "max_upload_bytes": self.max_upload_bytes,
                **({"reserved_texts": admitted["reservation"]["texts"]} if admitted else {})}

    def _give_back(self, admitted: dict[str, Any]) -> None:
        if admitted:
            metering.give_back(self.ledger.ddb, str(self.usage_table), admitted["meter"], admitted["reservation"],
                               now=self.clock())

    def get_job(self, job_id: str, owner_token_id: str) -> dict[str, Any]:
        check_job_id(job_id)
        with _ledger_errors():
            item = self.ledger.get_job(job_id)
        if item is None or item.get("owner") != owner_token_id:
            raise JobNotFoundError("no such job")
        status = item.get("status", "queued")
        if status not in STATUSES:
            status = "running"
        if status == "queued" and self.clock() > float(item.get("created_at", 0)) + self.ttl + EXPIRY_GRACE_S:
            status = "failed"  # its upload URL expired unused: the reservation goes back to the quota
            item = {**item, "reason": f"upload-expired: no upload arrived within the upload URL's {self.ttl} s"}
            self._expire(job_id, item)
        counts = item.get("counts") or {"lines_read": 0, "ok": 0, "failed": 0}
        if status == "running" and item.get("run_id"):
            counts = self._progress(item["run_id"])
        started = float(item.get("updated_at") or item.get("created_at") or 0)
        if status == "running" and self.clock() > started + self.deadline_s:
            status = "failed"  # the worker never ended it (it is gone): end it here, once
            item = {**item, "reason": f"deadline: the job did not finish within {int(self.deadline_s)} s"}
            with _ledger_errors():
                self.ledger.expire_job(job_id, reason=item["reason"], finished_at=self.clock(), counts=counts)
        out: dict[str, Any] = {"job_id": job_id, "status": status, "counts": counts,
                               "model": item.get("model"), "format": item.get("fmt"),
                               "created_at": item.get("created_at"), "finished_at": item.get("finished_at")}
        if status in ("failed", metering.QUOTA_STOP):
            out["reason"] = item.get("reason")
        keys = result_keys(job_id)
        if status == "done":
            out["results_url"] = self._get_url(keys["results"])
            out["errors_url"] = self._get_url(keys["errors"])
        if status == metering.QUOTA_STOP or (status == "failed" and (item.get("outputs") or {}).get("results")):
            # what ran before the quota stopped it, or before the job failed (its finished chunks)
            out["results_url"] = self._get_url(keys["results"])
            out["errors_url"] = self._get_url(keys["errors"])
        if status in ("done", "failed", metering.QUOTA_STOP):
            out["summary_url"] = self._get_url(keys["summary"])
            out["expires_in"] = self.ttl
        return out

    def _expire(self, job_id: str, item: dict[str, Any]) -> None:
        if self.usage_table is None or not item.get("meter"):
            return
        with _ledger_errors():
            reservation = self.ledger.take_reservation(job_id)
        if reservation:
            try:
                metering.give_back(self.ledger.ddb, self.usage_table, item["meter"], reservation, now=self.clock())
            except TokenStoreUnavailableError:  # over-counting a reservation never gives anything away
                pass

    def _progress(self, run_id: str) -> dict[str, int]:
        with _ledger_errors():
            chunks = self.ledger.list_chunks(run_id)
        return {k: sum(int(c.get(k, 0)) for c in chunks) for k in ("lines_read", "ok", "failed")}

    def _get_url(self, key: str) -> str:
        return self.presigner.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                              ExpiresIn=self.ttl)


__all__ = ["JobService", "check_job_id", "sigv4_client", "JOB_ID_RE", "STATUSES"]
