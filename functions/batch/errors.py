"""Errors of the batch service.

Inside the worker (BatchError and its subclasses) they never reach HTTP: they become a failed job
summary (format, unreadable object) or a failed SQS record (malformed message), so the API's
error catalog does not list them. The job service's errors (JobNotFoundError,
JobStoreUnavailableError) are answered by the API: they take the inference core's NlpError as
their base so the API's one error map covers them, but they live here, not in the core.
"""
from __future__ import annotations

from functions.nlp.errors import NlpError


class JobStoreUnavailableError(NlpError):
    """The batch job ledger (DynamoDB) cannot be reached: try again later."""

    code = "jobs-unavailable"


class JobNotFoundError(NlpError):
    """No such batch job for this caller (other tokens' jobs do not exist for it either)."""

    code = "not-found"


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


__all__ = ["BatchError", "FormatError", "SourceError", "SourceChangedError", "MalformedMessageError",
           "JobNotFoundError", "JobStoreUnavailableError"]
