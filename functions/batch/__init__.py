"""S3 -> SQS -> batch Lambda: streaming, idempotent, fanned-out inference over uploaded files.

The Lambda entry point is ``functions.batch.handler.handler``; the job service behind the
HTTP routes is :mod:`functions.batch.jobs`. Submodules are imported where used so that the
handler's cold start pays only for what it runs.
"""
__all__ = ["handler", "jobs", "worker", "events", "records", "engine", "planner", "ledger", "objects", "errors",
           "summary", "telemetry", "metering", "openai_batch", "openai_outputs"]
