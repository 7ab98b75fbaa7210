"""S3 objects as streams: ranged, version-pinned reads and multipart writes with bounded memory."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from functions.store.clients import error_code, http_status

from .errors import SourceChangedError, SourceError

READ_CHUNK = 1 << 20
WINDOW = 8 << 20  # bytes per ranged GET
PART_SIZE = 8 << 20  # S3 needs >= 5 MiB for every part but the last
JSONL_TYPE = "application/x-ndjson"
MIN_PART = 5 << 20  # S3's minimum size of every multipart part but the last
MAX_COPY_PART = 5 << 30


@dataclass(frozen=True)
class Source:
    """One object version: everything needed to read exactly those bytes again."""

    bucket: str
    key: str
    etag: str = ""
    version_id: str | None = None

    def pin(self) -> dict[str, str]:
        if self.version_id:
            return {"VersionId": self.version_id}
        return {"IfMatch": f'"{self.etag}"'} if self.etag else {}

    def as_dict(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "key": self.key, "etag": self.etag, "version_id": self.version_id}


def _translate(exc: Exception, source: Source) -> Exception:
    code, status = error_code(exc) or type(exc).__name__, http_status(exc)
    if code in ("PreconditionFailed", "412") or status == 412:
        return SourceChangedError(f"s3://{source.bucket}/{source.key} was replaced")
    if code in ("NoSuchKey", "NoSuchVersion", "404", "NotFound", "AccessDenied", "403", "InvalidRange") \
            or status in (403, 404, 416):
        return SourceError(f"s3://{source.bucket}/{source.key} cannot be read ({code})")
    return exc  # throttling, network: let the message be retried


def head(s3: Any, source: Source) -> dict[str, Any]:
    try:
        return s3.head_object(Bucket=source.bucket, Key=source.key, **source.pin())
    except Exception as exc:  # noqa: BLE001 - classified below
        raise _translate(exc, source) from exc


def read_range(s3: Any, source: Source, start: int = 0, end: int | None = None,
               chunk_size: int = READ_CHUNK, window: int = WINDOW) -> Iterator[bytes]:
    """Stream bytes [start, end) of the pinned object version.

    Each GET fetches one window and reads it at once, so no connection sits idle while the
    model works through the lines (S3 drops stalled downloads); memory stays one window.
    """
    pos = start
    while end is None or pos < end:
        stop = pos + window if end is None else min(end, pos + window)
        kwargs: dict[str, Any] = dict(Bucket=source.bucket, Key=source.key, Range=f"bytes={pos}-{stop - 1}",
                                      **source.pin())
        try:
            response = s3.get_object(**kwargs)
            data = response["Body"].read()
        except Exception as exc:  # noqa: BLE001
            if end is None and pos > 0 and http_status(exc) == 416:
                return  # the window starts exactly at the end of the object
            translated = _translate(exc, source)
            if end is None and pos == 0 and isinstance(translated, SourceError) and http_status(exc) == 416:
                return  # an empty object has no byte 0
            raise translated from exc
        for i in range(0, len(data), chunk_size):
            yield data[i:i + chunk_size]
        pos += len(data)
        total = _total_size(response)
        if not data or (total is not None and pos >= total):
            return


def _total_size(response: dict[str, Any]) -> int | None:
    content_range = str(response.get("ContentRange") or "")  # "bytes 0-99/1234"
    if "/" in content_range and not content_range.endswith("*"):
        return int(content_range.rsplit("/", 1)[1])
    return None


class S3Writer:
    """Write an object as a stream: one put for small outputs, multipart beyond part_size.

    Memory is one part buffer. The object appears only on close(); abort() (or an exception
    inside ``with``) leaves nothing behind, so a retried writer replaces the output whole.
    """

    def __init__(self, s3: Any, bucket: str, key: str, *, part_size: int = PART_SIZE,
                 content_type: str = JSONL_TYPE) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key
        self.part_size, self.content_type = part_size, content_type
        self._buf = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.bytes_written = 0
        self.closed = False

    def write(self, data: bytes) -> None:
        self._buf += data
        self.bytes_written += len(data)
        if len(self._buf) >= self.part_size:
            self._flush_part()

    def write_all(self, chunks: Iterable[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush_part(self) -> None:
        if self._upload_id is None:
            self._upload_id = self.s3.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self.content_type)["UploadId"]
        number = len(self._parts) + 1
        etag = self.s3.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                                   PartNumber=number, Body=bytes(self._buf))["ETag"]
        self._parts.append({"ETag": etag, "PartNumber": number})
        self._buf.clear()

    def close(self) -> None:
        if self.closed:
            return
        if self._upload_id is None:
            self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self._buf),
                               ContentType=self.content_type)
        else:
            if self._buf:
                self._flush_part()
            self.s3.complete_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                                              MultipartUpload={"Parts": self._parts})
        self._buf = bytearray()
        self.closed = True

    def abort(self) -> None:
        self.closed = True
        self._buf = bytearray()
        if self._upload_id is not None:
            try:
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
            except Exception:  # noqa: BLE001 - best effort; a lifecycle rule cleans leftovers
                pass

    def __enter__(self) -> "S3Writer":
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def concat(s3: Any, bucket: str, keys: list[str], target: str, *, part_size: int = PART_SIZE) -> int:
    """Write the objects at ``keys``, in order, as one object at ``target``; returns its size.

    Large parts are joined inside S3 (UploadPartCopy: no bytes through this worker); when some
    part is under S3's 5 MiB minimum the bytes are streamed through a bounded S3Writer instead.
    """
    sizes = [int(s3.head_object(Bucket=bucket, Key=k)["ContentLength"]) for k in keys]
    if len(keys) == 1 and sizes[0] <= MAX_COPY_PART:  # one part: a copy inside S3
        s3.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": keys[0]},
                       ContentType=JSONL_TYPE, MetadataDirective="REPLACE")
        return sizes[0]
    if len(keys) > 1 and all(size >= MIN_PART for size in sizes[:-1]) and sizes[-1] > 0 \
            and max(sizes) <= MAX_COPY_PART and len(keys) <= 10_000:
        upload = s3.create_multipart_upload(Bucket=bucket, Key=target, ContentType=JSONL_TYPE)["UploadId"]
        try:
            parts = []
            for number, key in enumerate(keys, start=1):
                got = s3.upload_part_copy(Bucket=bucket, Key=target, UploadId=upload, PartNumber=number,
                                          CopySource={"Bucket": bucket, "Key": key})
                parts.append({"ETag": got["CopyPartResult"]["ETag"], "PartNumber": number})
            s3.complete_multipart_upload(Bucket=bucket, Key=target, UploadId=upload, MultipartUpload={"Parts": parts})
        except BaseException:
            s3.abort_multipart_upload(Bucket=bucket, Key=target, UploadId=upload)
            raise
        return sum(sizes)
    with S3Writer(s3, bucket, target, part_size=part_size) as out:
        for key in keys:
            out.write_all(read_range(s3, Source(bucket, key)))
    return out.bytes_written


def put_json(s3: Any, bucket: str, key: str, body: bytes) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


class CleanupError(Exception):
    """Some objects under a prefix could not be deleted (DeleteObjects reports them inside a 200)."""

    def __init__(self, prefix: str, errors: list[dict[str, Any]]) -> None:
        codes = sorted({str(e.get("Code", "?")) for e in errors})
        super().__init__(f"{len(errors)} objects under {prefix} were not deleted ({', '.join(codes)})")
        self.errors = errors


def delete_prefix(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every object under prefix; returns how many. Raises CleanupError when S3 kept
    some (DeleteObjects answers 200 and lists per-key failures in ``Errors``)."""
    deleted = 0
    errors: list[dict[str, Any]] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            got = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            failed = got.get("Errors") or []
            errors += failed
            deleted += len(keys) - len(failed)
    if errors:
        raise CleanupError(prefix, errors)
    return deleted


__all__ = ["Source", "SourceError", "SourceChangedError", "head", "read_range", "S3Writer", "put_json",
           "delete_prefix", "CleanupError", "concat", "PART_SIZE", "READ_CHUNK", "WINDOW"]
