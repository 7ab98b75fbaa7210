"""The local stack creates the resources serverless.yml defines, with the same names and keys."""
from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from infra.config import resource_names
from infra.local.resources import create_resources

REPO = Path(__file__).resolve().parents[2]
STORAGE = REPO / "infra" / "serverless" / "storage.yml"


@pytest.fixture()
def created():
    with mock_aws():
        names = resource_names("local")
        out = create_resources(lambda svc: boto3.client(svc, region_name="us-east-1"), names,
                               max_receive_count=3, visibility_timeout_s=900,
                               cors_origins=["http://127.0.0.1:8000"])
        yield names, out, (lambda svc: boto3.client(svc, region_name="us-east-1"))


def _storage() -> dict:
    if not STORAGE.is_file():
        pytest.skip("infra/serverless/storage.yml not in this checkout")
    return yaml.safe_load(STORAGE.read_text())["Resources"]


def test_tables_match_serverless_yml(created):
    names, _, client = created
    ddb = client("dynamodb")
    storage = _storage()
    for logical, name in (("TokensTable", names["tokens_table"]), ("JobsTable", names["jobs_table"])):
        want = storage[logical]["Properties"]
        got = ddb.describe_table(TableName=name)["Table"]
        assert sorted(got["KeySchema"], key=str) == sorted(want["KeySchema"], key=str)
        assert sorted(got["AttributeDefinitions"], key=str) == sorted(want["AttributeDefinitions"], key=str)
        assert "GlobalSecondaryIndexes" not in want  # none defined; add them here when they appear
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl["AttributeName"] == want["TimeToLiveSpecification"]["AttributeName"]


def test_buckets_are_versioned_and_notify_the_queue(created):
    names, out, client = created
    s3 = client("s3")
    storage = _storage()
    for bucket in (names["artifacts_bucket"], names["data_bucket"]):
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    got = s3.get_bucket_notification_configuration(Bucket=names["data_bucket"])["QueueConfigurations"]
    want = storage["DataBucket"]["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    as_rules = lambda rules: sorted((r["Name"].lower(), r["Value"]) for r in rules)  # noqa: E731
    assert sorted(as_rules(c["Filter"]["Key"]["FilterRules"]) for c in got) == \
        sorted(as_rules(c["Filter"]["S3Key"]["Rules"]) for c in want)
    assert {c["QueueArn"] for c in got} == {out.queue_arn}
    cors = s3.get_bucket_cors(Bucket=names["data_bucket"])["CORSRules"][0]
    assert {"PUT", "GET"} <= set(cors["AllowedMethods"])


def test_queue_has_the_dlq_redrive(created):
    names, out, client = created
    sqs = client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=out.queue_url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":" + names["batch_dlq"])
    assert int(redrive["maxReceiveCount"]) == 3
    assert out.queue_url.endswith("/" + names["batch_queue"])


def test_creating_twice_is_harmless(created):
    names, out, client = created
    again = create_resources(client, names, cors_origins=["http://127.0.0.1:8000"])
    assert again.queue_url == out.queue_url
