"""The pipeline's expected errors: the CLI prints these as one line instead of a traceback."""
from __future__ import annotations

from functions.nlp.errors import NlpError

from .data import CorpusError
from .tokenization import SourceError


class RegistryError(RuntimeError):
    """A registry operation was refused or the store cannot be reached (one-line message)."""


class ParityError(RuntimeError):
    """The exported graph does not reproduce the PyTorch model within tolerance."""


EXPECTED: tuple[type[BaseException], ...] = (SourceError, ParityError, RegistryError, CorpusError, NlpError,
                                             ValueError, FileNotFoundError)

__all__ = ["EXPECTED", "SourceError", "ParityError", "RegistryError", "CorpusError"]
