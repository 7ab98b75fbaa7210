"""Where models come from: the S3 artifact store with its /tmp and in-memory caches.

Imports botocore (for error classification) but never flask or powertools; boto3 itself
is only imported by :mod:`functions.store.clients`.
"""
from .artifacts import ArtifactStore
from .refs import ModelRef, parse_ref
from .s3_reader import CacheWriteError

__all__ = ["ArtifactStore", "ModelRef", "parse_ref", "CacheWriteError"]
