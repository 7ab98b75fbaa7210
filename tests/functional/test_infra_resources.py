"""The storage wiring from infra/serverless/storage.yml, exercised in moto with the stage's names.

Creates the data bucket and queues under infra.config.resource_names("local"), applies the
notification filters exactly as written in storage.yml, and checks which uploads reach the queue.
Also: preload-model alias checks against a stage's artifacts bucket.
"""
from __future__ import annotations

import json
from urllib.parse import unquote_plus

import boto3
import pytest
from moto import mock_aws

from infra.config import ConfigError, load_config, resource_names
from infra.stages import bucket_aliases, check_models
from infra.serverless_yml import load, substitute

REGION = "us-east-1"


@pytest.fixture
def aws():
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


def storage_for(stage: str, account: str) -> dict:
    resources = load()["resources"]["Resources"]
    return json.loads(substitute(json.dumps(resources), load_config().stage(stage), account))


def test_uploads_under_incoming_reach_the_queue_and_nothing_else_does(aws):
    account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    names = resource_names("local", account)
    res = storage_for("local", account)
    s3, sqs = aws.client("s3"), aws.client("sqs")
    queue_url = sqs.create_queue(QueueName=names["batch_queue"])["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bucket = res["DataBucket"]["Properties"]["BucketName"]["Fn::Sub"]
    assert bucket == names["data_bucket"]
    s3.create_bucket(Bucket=bucket)
    configs = res["DataBucket"]["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
        {"QueueArn": queue_arn, "Events": [c["Event"]],
         "Filter": {"Key": {"FilterRules": c["Filter"]["S3Key"]["Rules"]}}} for c in configs]})

    keys = ["incoming/job 1.jsonl", "incoming/job2.csv", "incoming/job3.txt", "results/job1.jsonl",
            "results/incoming/x.jsonl", "incoming.jsonl"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b'{"text": "hi"}\n')
    got = []
    while True:
        msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            break
        for msg in msgs:
            body = json.loads(msg["Body"])
            got += [r["s3"]["object"]["key"] for r in body.get("Records", [])]
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
    # keys arrive URL-encoded (as on AWS; moto also encodes "/"): decode as the handler must
    assert sorted(unquote_plus(k) for k in got) == ["incoming/job 1.jsonl", "incoming/job2.csv"]


def test_preload_aliases_are_checked_against_the_stage_bucket(aws):
    s3 = aws.client("s3")
    bucket = resource_names("dev", "123456789012")["artifacts_bucket"]
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="models/sentiment/aliases.json", Body=json.dumps({"prod": "v1", "int8": "v1"}))
    aliases = bucket_aliases(bucket, s3)
    check_models(("sentiment", "sentiment:int8"), aliases, f"s3://{bucket}")
    with pytest.raises(ConfigError, match="no alias 'fp16'"):
        check_models(("sentiment:fp16",), aliases, f"s3://{bucket}")
    with pytest.raises(ConfigError, match="no model 'minilm-embed'"):
        check_models(("minilm-embed",), aliases, f"s3://{bucket}")


def test_packaged_template_deploys_to_moto_cloudformation(aws, monkeypatch):
    """Runs on the output of `make package` / infra/ci_checks.sh; skips when there is none."""
    from infra import smoke_deploy

    template = smoke_deploy.REPO / ".serverless" / smoke_deploy.TEMPLATE
    if not template.is_file():
        pytest.skip("no .serverless/ package: run `make package` (or infra/ci_checks.sh) first")
    stage = next((s for s in ("prod", "dev", "local")
                  if f'"{resource_names(s)["api_function"]}"' in template.read_text()), None)
    if stage is None:
        pytest.skip("packaged template is for a stage not in config/stages.yml")
    real_session = boto3.session.Session

    class InProcess(real_session):  # the smoke deploy targets a URL; here moto runs in-process
        def client(self, name, endpoint_url=None, **kw):
            return super().client(name, **kw)
    monkeypatch.setattr(smoke_deploy.boto3.session, "Session", InProcess)
    assert smoke_deploy.deploy("http://in-process", stage, template.parent) == []
