"""Access tokens (DynamoDB, hashed, cached) and per-token usage metering, quotas and rate limits."""
from .errors import (AccessError, InvalidTokenError, MissingTokenError, ModelNotAllowedError, QuotaExceededError,
                     RateLimitedError, TokenRevokedError, TokenStoreUnavailableError)
from .tokens import ANONYMOUS, TokenRecord, TokenStore, hash_token, new_token
from .ratelimit import RateLimits
from .usage import Ticket, UsageMeter

__all__ = ["AccessError", "InvalidTokenError", "MissingTokenError", "ModelNotAllowedError", "QuotaExceededError",
           "RateLimitedError", "TokenRevokedError", "TokenStoreUnavailableError", "ANONYMOUS", "TokenRecord",
           "TokenStore", "hash_token", "new_token", "Ticket", "UsageMeter", "RateLimits"]
