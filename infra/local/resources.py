"""Create the stage's AWS resources on the moto server, with the names serverless.yml uses.

Names come from ``infra.config.resource_names``; attributes mirror serverless.yml: both buckets
versioned, the data bucket notifies the batch queue for ``incoming/*.jsonl`` and
``incoming/*.csv``, the queue sends poison messages to its DLQ after N receives, and both tables
have string keys ``pk``/``sk`` with TTL on ``expires_at``. Creating is idempotent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

INCOMING_PREFIX = "incoming/"
BATCH_SUFFIXES = (".jsonl", ".csv")
TTL_ATTRIBUTE = "expires_at"


@dataclass(frozen=True)
class Created:
    names: Mapping[str, str]
    queue_url: str
    dlq_url: str
    queue_arn: str
    train_queue_url: str = ""  # the train function's queue (stages whose names have one)


def create_resources(client: Callable[[str], Any], names: Mapping[str, str], *, max_receive_count: int = 3,
                     visibility_timeout_s: int = 900, cors_origins: Iterable[str] = ()) -> Created:
    """Create buckets, queues, the S3 -> SQS notification and the tables; return the queue URLs."""
    s3, sqs, ddb = client("s3"), client("sqs"), client("dynamodb")

    for bucket in (names["artifacts_bucket"], names["data_bucket"]):
        _bucket(s3, bucket)

    dlq_url = sqs.create_queue(QueueName=names["batch_dlq"],
                               Attributes={"MessageRetentionPeriod": str(14 * 24 * 3600)})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receive_count}"}}'
    queue_url = sqs.create_queue(QueueName=names["batch_queue"], Attributes={
        "VisibilityTimeout": str(visibility_timeout_s), "MessageRetentionPeriod": str(4 * 24 * 3600),
        "RedrivePolicy": redrive})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    s3.put_bucket_notification_configuration(
        Bucket=names["data_bucket"],
        NotificationConfiguration={"QueueConfigurations": [
            {"Id": f"batch-{suffix.lstrip('.')}", "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": INCOMING_PREFIX},
                                                {"Name": "suffix", "Value": suffix}]}}}
            for suffix in BATCH_SUFFIXES]})

    origins = sorted(set(cors_origins))
    if origins:
        # the web page uploads to a presigned URL and downloads results: a cross-origin
        # PUT/GET from the page's origin to the S3 endpoint
        s3.put_bucket_cors(Bucket=names["data_bucket"], CORSConfiguration={"CORSRules": [{
            "AllowedOrigins": origins, "AllowedMethods": ["PUT", "GET", "HEAD"],
            "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000}]})
        # edge mode: the page fetches a model and the WebAssembly runtime by presigned GET
        s3.put_bucket_cors(Bucket=names["artifacts_bucket"], CORSConfiguration={"CORSRules": [{
            "AllowedOrigins": origins, "AllowedMethods": ["GET"], "AllowedHeaders": ["*"], "MaxAgeSeconds": 3000}]})

    for table in (names["tokens_table"], names["jobs_table"]):
        _table(ddb, table)
    train_url = ""
    if "train_queue" in names:  # like infra/serverless/train.yml: its own queue and DLQ
        train_dlq = sqs.create_queue(QueueName=names["train_dlq"])["QueueUrl"]
        train_dlq_arn = sqs.get_queue_attributes(QueueUrl=train_dlq,
                                                 AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        train_url = sqs.create_queue(QueueName=names["train_queue"], Attributes={
            "VisibilityTimeout": str(visibility_timeout_s),
            "RedrivePolicy": f'{{"deadLetterTargetArn":"{train_dlq_arn}","maxReceiveCount":"3"}}'})["QueueUrl"]
    return Created(names=dict(names), queue_url=queue_url, dlq_url=dlq_url, queue_arn=queue_arn,
                   train_queue_url=train_url)


def _bucket(s3: Any, bucket: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - absent (or unreadable): create it
        s3.create_bucket(Bucket=bucket)  # us-east-1: no LocationConstraint
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True})


def create_table(ddb: Any, table: str) -> None:
    """A table of the project's one shape (tokens, usage and jobs alike): string pk + sk, on demand."""
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}])


def _table(ddb: Any, table: str) -> None:
    try:
        ddb.describe_table(TableName=table)
        return
    except ddb.exceptions.ResourceNotFoundException:
        pass
    create_table(ddb, table)
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": TTL_ATTRIBUTE})


__all__ = ["create_resources", "create_table", "Created", "INCOMING_PREFIX", "BATCH_SUFFIXES"]
