"""What an SQS message body asks for: an uploaded object, a chunk of one, or nothing.

Bodies are S3 event notifications (possibly wrapped by SNS), the s3:TestEvent S3 sends when a
notification is configured, or this worker's own chunk messages. Keys arrive URL-encoded
(spaces as '+'): every record's key is decoded with unquote_plus.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Union
from urllib.parse import unquote_plus

from .errors import MalformedMessageError
from .s3_streams import Source
from .records import FORMATS

INCOMING = "incoming/"
CHUNK_KIND = "snlp.batch.chunk"


@dataclass(frozen=True)
class ObjectCreated:
    source: Source
    job_id: str  # the key between incoming/ and the extension
    fmt: str | None  # None: an extension this service does not read
    size: int = 0
    sequencer: str = ""

    @property
    def run_id(self) -> str:
        """One run per object version: bucket + key + versionId, or ETag + sequencer without versioning.

        The sequencer tells two uploads of identical bytes apart; duplicate deliveries of one
        notification carry the same sequencer, so they map to the same run.
        """
        s = self.source
        version = f"v:{s.version_id}" if s.version_id else f"e:{s.etag}:{self.sequencer}"
        return hashlib.sha256(f"{s.bucket}\n{s.key}\n{version}".encode()).hexdigest()[:32]

    @property
    def sequence(self) -> str:
        """Sequencer padded so that later events compare greater (same key, as S3 documents)."""
        return self.sequencer.rjust(32, "0")


@dataclass(frozen=True)
class ChunkTask:
    run_id: str
    index: int


@dataclass(frozen=True)
class Ignored:
    reason: str


Work = Union[ObjectCreated, ChunkTask, Ignored]


def chunk_message(run_id: str, index: int) -> str:
    return json.dumps({"kind": CHUNK_KIND, "run": run_id, "index": index})


def parse_body(body: str) -> list[Work]:
    """Every unit of work in one SQS message body."""
    try:
        doc = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise MalformedMessageError("message body is not JSON") from exc
    if not isinstance(doc, dict):
        raise MalformedMessageError("message body is not a JSON object")
    if doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):  # S3 -> SNS -> SQS
        return parse_body(doc["Message"])
    if doc.get("Event") == "s3:TestEvent":
        return [Ignored("s3:TestEvent")]
    if doc.get("kind") == CHUNK_KIND:
        try:
            return [ChunkTask(str(doc["run"]), int(doc["index"]))]
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedMessageError("chunk message without run or index") from exc
    records = doc.get("Records")
    if not isinstance(records, list):
        raise MalformedMessageError("message body has no Records")
    return [_record(r) for r in records]


def _record(record: Any) -> Work:
    if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
        return Ignored("not an S3 record")
    if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
        return Ignored(f"event {record.get('eventName')}")
    try:
        s3 = record["s3"]
        bucket = s3["bucket"]["name"]
        obj = s3["object"]
        key = unquote_plus(obj["key"])
    except (KeyError, TypeError) as exc:
        raise MalformedMessageError("S3 record without bucket or key") from exc
    job_id, fmt = job_of_key(key)
    if job_id is None:
        return Ignored(f"key outside {INCOMING}: {key}")
    source = Source(bucket, key, str(obj.get("eTag") or "").strip('"'), obj.get("versionId") or None)
    return ObjectCreated(source, job_id, fmt, int(obj.get("size") or 0), str(obj.get("sequencer") or ""))


def job_of_key(key: str) -> tuple[str | None, str | None]:
    """(job id, format) of an incoming key; (None, None) for keys this worker must not touch."""
    if not key.startswith(INCOMING):
        return None, None
    rest = key[len(INCOMING):]
    if not rest or rest.endswith("/") or any(part in ("", ".", "..") for part in rest.split("/")):
        return None, None  # folder markers, odd paths
    stem, dot, ext = rest.rpartition(".")
    if not dot or not stem or "/" in ext:
        return rest, None
    ext = ext.lower()
    return stem, ext if ext in FORMATS else None


__all__ = ["ObjectCreated", "ChunkTask", "Ignored", "Work", "MalformedMessageError", "parse_body",
           "chunk_message", "job_of_key", "INCOMING", "CHUNK_KIND"]
