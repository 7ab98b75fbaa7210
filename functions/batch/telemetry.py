"""Metric names of the batch worker (the shared list is in COMMON.md); namespace and service."""
from __future__ import annotations

NAMESPACE = "ServerlessNLP"
SERVICE = "batch"

LINES_OK = "BatchLinesOk"
LINES_FAILED = "BatchLinesFailed"
JOBS_FAILED = "BatchJobsFailed"
POISON_MESSAGES = "BatchPoisonMessages"
CLEANUP_ERRORS = "BatchCleanupErrors"  # part files a finished run could not delete
DEAD_LETTERS = "BatchDeadLetters"  # messages taken from the DLQ (their jobs end failed)
COLD_START = "ColdStart"
MODEL_LOAD_MS = "ModelLoadMs"
ERRORS = "Errors"
ARTIFACT_INTEGRITY_FAILURES = "ArtifactIntegrityFailures"

__all__ = ["NAMESPACE", "SERVICE", "LINES_OK", "LINES_FAILED", "JOBS_FAILED", "POISON_MESSAGES", "CLEANUP_ERRORS",
           "DEAD_LETTERS", "COLD_START", "MODEL_LOAD_MS", "ERRORS", "ARTIFACT_INTEGRITY_FAILURES"]
