"""A model's sharing record in S3 (models/<name>/sharing.json): read with its ETag, changed by a
conditional write, so two owners' pages changing it at once never lose one of the changes.

The rule that reads the record is functions/store/visibility.py's; the artifact store caches the
record like the aliases (functions/store/artifacts.py). Writes go straight to S3 here.
"""
from __future__ import annotations

from typing import Callable

from botocore.exceptions import ClientError

from functions.nlp.errors import ModelUnavailableError

from .clients import error_code
from .layout import SHARING_FILE
from .s3_reader import S3Reader, classify
from .visibility import NOBODY, Sharing, SharingChangedError

_CONFLICT = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")
RETRIES = 5

Update = Callable[[Sharing], Sharing]


def read(reader: S3Reader, name: str) -> tuple[Sharing | None, str | None]:
    """(record, ETag); (None, None) when the model has no record. A record that cannot be parsed
    shares with nobody (fail closed): the owner still sees the model and can write a new one."""
    try:
        obj = reader.client.get_object(Bucket=reader.bucket, Key=reader.key(name, SHARING_FILE))
        raw, etag = obj["Body"].read(), obj.get("ETag")
    except Exception as exc:  # noqa: BLE001 - classified: missing -> no record, else 503
        if isinstance(exc, ClientError) and error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return None, None
        raise classify(exc, f"sharing of model {name}") from exc
    try:
        return Sharing.from_json(raw), etag
    except (ValueError, UnicodeDecodeError):
        return NOBODY, etag


def write(reader: S3Reader, name: str, sharing: Sharing, etag: str | None) -> str | None:
    """PUT the record if it is still at ``etag`` (None: if there is none yet); its new ETag.
    SharingChangedError when someone else wrote it meanwhile."""
    cond = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
    try:
        out = reader.client.put_object(Bucket=reader.bucket, Key=reader.key(name, SHARING_FILE), Body=sharing.to_json(),
                                       ContentType="application/json", **cond)
    except ClientError as exc:
        if error_code(exc) in _CONFLICT or (etag and error_code(exc) in ("NoSuchKey", "404")):
            raise SharingChangedError(f"the sharing of model {name} changed meanwhile: read it again") from exc
        raise ModelUnavailableError(f"model store unavailable while writing the sharing of model {name}") from exc
    except Exception as exc:  # noqa: BLE001 - transport failures
        raise ModelUnavailableError(f"model store unreachable while writing the sharing of model {name}") from exc
    return out.get("ETag")


def change(reader: S3Reader, name: str, update: Update, *, initial: Sharing = NOBODY, if_match: str | None = None,
           retries: int = RETRIES) -> tuple[Sharing, str | None]:
    """Read, apply ``update`` to the current record (``initial`` when there is none: the sharing the
    manifest gave at publish time), write conditionally; (new record, new ETag).

    ``if_match``: the ETag the caller read (HTTP If-Match): a record changed since then answers
    SharingChangedError (412) instead of being retried, so a client never overwrites what it has
    not seen. Without it a lost race re-reads and re-applies ``update`` (up to ``retries`` times),
    so concurrent adds and removes of different tokens all land."""
    for _ in range(retries):
        current, etag = read(reader, name)
        if if_match is not None and if_match != "*" and _bare(if_match) != _bare(etag):
            raise SharingChangedError(f"the sharing of model {name} changed since you read it: read it again")
        new = update(current if current is not None else initial)
        try:
            return new, write(reader, name, new, etag)
        except SharingChangedError:
            if if_match is not None:
                raise
    raise SharingChangedError(f"the sharing of model {name} kept changing; try again")


def _bare(etag: str | None) -> str | None:
    return etag.strip().removeprefix("W/").strip('"') if etag else None


__all__ = ["read", "write", "change", "Update", "RETRIES"]
