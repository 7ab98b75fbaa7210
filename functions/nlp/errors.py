"""Typed domain errors of the inference core.

Adapters (the Flask API, the batch worker) map these to HTTP statuses or error rows in
one place each; the core never knows about HTTP. ``code`` is the stable problem ``type`` slug.
"""
from __future__ import annotations


class NlpError(Exception):
    """Base class of every expected error the core raises."""

    code = "internal"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ValidationError(NlpError):
    code = "validation"


class EmptyInputError(ValidationError):
    code = "empty-input"


class TooManyTextsError(ValidationError):
    code = "too-many-texts"


class TextTooLongError(ValidationError):
    code = "text-too-long"


class InputTypeError(ValidationError):
    code = "invalid-input"


class ModelNotFoundError(NlpError):
    code = "model-not-found"


class WrongTaskError(NlpError):
    code = "wrong-task"


class ManifestError(NlpError):
    code = "invalid-manifest"


class ArtifactIntegrityError(NlpError):
    code = "artifact-integrity"


class ModelUnavailableError(NlpError):
    """The model exists but cannot be served right now (store down, /tmp full, ...)."""

    code = "model-unavailable"


__all__ = [
    "NlpError",
    "ValidationError",
    "EmptyInputError",
    "TooManyTextsError",
    "TextTooLongError",
    "InputTypeError",
    "ModelNotFoundError",
    "WrongTaskError",
    "ManifestError",
    "ArtifactIntegrityError",
    "ModelUnavailableError",
]
