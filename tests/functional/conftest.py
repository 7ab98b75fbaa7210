"""Fixtures shared by the functional tests."""
from __future__ import annotations

import boto3
import pytest
from moto import mock_aws


@pytest.fixture
def aws():
    """In-process moto for the whole test (tests that build their own clients inside it)."""
    with mock_aws():
        yield


@pytest.fixture
def moto_s3(monkeypatch):
    """An S3 client on in-process moto (a local stack's AWS_ENDPOINT_URL would send it elsewhere)."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("s3", region_name="us-east-1")
