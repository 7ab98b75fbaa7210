"""Access errors: who may call what, and how much. Mapped to HTTP in functions/api/errors.py."""
from __future__ import annotations


class AccessError(Exception):
    """Base of every auth / quota error; ``code`` is the stable problem ``type`` slug."""

    code = "access"

    def __init__(self, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class MissingTokenError(AccessError):
    code = "missing-token"


class InvalidTokenError(AccessError):
    code = "invalid-token"


class TokenRevokedError(AccessError):
    code = "token-revoked"


class ModelNotAllowedError(AccessError):
    code = "model-not-allowed"


class QuotaExceededError(AccessError):
    code = "quota-exceeded"


class RateLimitedError(AccessError):
    """Over the token's requests or texts per minute."""

    code = "rate-limited"


class TokenStoreUnavailableError(AccessError):
    """DynamoDB cannot answer and the cache has no answer: refuse, never open access."""

    code = "auth-unavailable"


__all__ = ["AccessError", "MissingTokenError", "InvalidTokenError", "TokenRevokedError",
           "ModelNotAllowedError", "QuotaExceededError", "RateLimitedError", "TokenStoreUnavailableError"]
