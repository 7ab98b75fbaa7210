"""One error type for every environment problem: printed as a plain message, never a traceback."""
from __future__ import annotations


class LocalStackError(RuntimeError):
    """The local stack cannot start; the message says why and what to do."""


__all__ = ["LocalStackError"]
