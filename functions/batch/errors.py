"""Errors inside the batch worker. They never reach HTTP: they become a failed job summary
(format, unreadable object) or a failed SQS record (malformed message), so they are not
functions.nlp errors and the API's error catalog does not list them."""
from __future__ import annotations


class BatchError(Exception):
    code = "batch-error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class FormatError(BatchError):
    """The file as a whole cannot be read as the declared format (e.g. no CSV text column)."""

    code = "unsupported-format"


class SourceError(BatchError):
    """The input object cannot be read (gone, forbidden, replaced)."""

    code = "unreadable-object"


class SourceChangedError(SourceError):
    """The object at the key is no longer the version the event announced."""

    code = "object-changed"


class MalformedMessageError(BatchError):
    """A body that is neither an S3 notification nor a chunk message: let it reach the DLQ."""

    code = "malformed-message"


__all__ = ["BatchError", "FormatError", "SourceError", "SourceChangedError", "MalformedMessageError"]
