"""The batch path priced per 1M texts: S3 upload -> S3 event -> SQS -> batch Lambda -> S3 results.

Requests counted per job from the code (functions/batch): the input PUT; the S3 event's SQS
message; per chunk of ``Settings.batch_chunk_bytes`` one fan-out message (sent in batches of 10),
a HEAD and one ranged GET of the input, a results part (create + part + complete), ledger
reads/writes in DynamoDB and one SQS receive + delete per message; per job the merge (HEAD and
a part copy per chunk, create + complete), the summary PUT and the quota reserve/settle writes.
Lambda's SQS poller long-polls while idle: ``IDLE_POLL_REQUESTS_MONTH`` requests a month
whatever the traffic (fixed). Inference time per text is the measured warm duration at 32
texts per request, divided by 32, at the batch function's memory. KMS: one bucket-key request
per chunk read and per object written.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from functions.settings import Settings

from .measurements import Profile
from .model import GB, PLATFORM_LOG_BYTES, SECONDS_PER_MONTH, billed_ms
from .pricing import PriceBook

IDLE_POLL_REQUESTS_MONTH = 5 * 3 * 60 * 730  # 5 pollers x one 20 s long poll each x a month (assumed)
INPUT_BYTES_PER_TEXT = 130  # one JSONL line with a 20-token tweet: {"id": ..., "text": ...}
LOG_BYTES_PER_INVOCATION = 2000  # the batch function's own lines per chunk (start, progress, summary)
SQS_SEND_BATCH = 10


@dataclass(frozen=True)
class BatchJob:
    texts_per_job: int = 100_000
    jobs_per_month: float = 10.0
    memory_mb: int = 3008
    arch: str = "x86_64"
    chunk_bytes: int = Settings.batch_chunk_bytes

    @property
    def chunks(self) -> int:
        return max(1, math.ceil(self.texts_per_job * INPUT_BYTES_PER_TEXT / self.chunk_bytes))


@dataclass(frozen=True)
class BatchCost:
    job: BatchJob
    per_job: dict[str, float]  # USD per job by line item
    per_month_fixed: dict[str, float]
    ms_per_text: float

    @property
    def per_million_texts(self) -> float:
        """Per-job fees plus the fixed monthly fees spread over the month's texts, per 1M texts."""
        texts_month = self.job.texts_per_job * self.job.jobs_per_month
        return (sum(self.per_job.values()) * self.job.jobs_per_month + sum(self.per_month_fixed.values())) \
            / texts_month * 1e6

    def parts_per_million(self) -> dict[str, float]:
        scale = 1e6 / self.job.texts_per_job
        return {k: v * scale for k, v in self.per_job.items()}


def estimate_batch(profile32: Profile, job: BatchJob, prices: PriceBook) -> BatchCost:
    """One job of ``job.texts_per_job`` texts, from the 32-text warm profile at the batch memory."""
    k, n = job.chunks, job.texts_per_job
    gb = job.memory_mb / 1024.0
    ms_per_text = profile32.warm_ms / 32.0
    invocations = 1 + k  # the job message, then one per chunk
    cold_ms = billed_ms(profile32.init_ms) + billed_ms(profile32.first_ms)  # each chunk may start an environment
    compute_ms = billed_ms(n * ms_per_text) + min(k, invocations) * cold_ms
    messages = 1 + k
    s3_gets = k * 2  # HEAD + ranged GET per chunk
    s3_puts = 1 + k * 3 + (k + 2) + 1  # input, part uploads, merge (copy per chunk + create/complete), summary
    out_bytes = n * profile32.response_bytes / 32.0
    per_job = {
        "lambda_compute": compute_ms / 1000.0 * gb * prices.get(f"lambda.gb_second_{job.arch}"),
        "lambda_requests": invocations * prices.get("lambda.request"),
        "s3_requests": s3_gets * prices.get("s3.get_request") + s3_puts * prices.get("s3.put_request"),
        "sqs": (messages + math.ceil(k / SQS_SEND_BATCH) + 2 * messages) * prices.get("sqs.request"),
        "dynamodb": (3 + 3 * k) * prices.get("dynamodb.write_request_unit")
                    + (1 + k) * prices.get("dynamodb.read_request_unit"),
        "kms": (k + s3_puts) * prices.get("kms.request"),
        "logs": invocations * (LOG_BYTES_PER_INVOCATION + PLATFORM_LOG_BYTES) / GB
                * prices.get("cloudwatch.logs_ingestion_lambda_gb"),
        "data_out": out_bytes / GB * prices.get("data_transfer.out_internet_gb"),  # the user downloads results
    }
    fixed = {"sqs_idle_polling": IDLE_POLL_REQUESTS_MONTH * prices.get("sqs.request")}
    return BatchCost(job, per_job, fixed, ms_per_text)


def openai_per_million_texts(prices: PriceBook, tokens_per_text: float, batch: bool = False) -> float:
    key = "openai.embedding_3_small_batch_1k_tokens" if batch else "openai.embedding_3_small_1k_tokens"
    return prices.get(key) * tokens_per_text / 1000.0 * 1e6


__all__ = ["BatchJob", "BatchCost", "estimate_batch", "openai_per_million_texts", "IDLE_POLL_REQUESTS_MONTH",
           "SECONDS_PER_MONTH"]
