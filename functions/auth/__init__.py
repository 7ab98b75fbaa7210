"""Access tokens (DynamoDB, hashed, cached) and per-token daily usage metering."""
from .errors import (AccessError, InvalidTokenError, MissingTokenError, ModelNotAllowedError, QuotaExceededError,
                     TokenRevokedError, TokenStoreUnavailableError)
from .tokens import ANONYMOUS, TokenRecord, TokenStore, hash_token, new_token
from .usage import Ticket, UsageMeter

__all__ = ["AccessError", "InvalidTokenError", "MissingTokenError", "ModelNotAllowedError", "QuotaExceededError",
           "TokenRevokedError", "TokenStoreUnavailableError", "ANONYMOUS", "TokenRecord", "TokenStore",
           "hash_token", "new_token", "Ticket", "UsageMeter"]
