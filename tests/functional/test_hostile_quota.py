"""A client racing its own daily quota from many threads: never more texts served (or billed)
than the quota, and every refusal is a 429 problem+json with Retry-After."""
from __future__ import annotations

import threading

import boto3
import pytest
from moto import mock_aws

from tests.functional.reliability import BUCKET, TOKENS_TABLE, assert_problem, auth, create_tokens_table
from infra.local.moto import FAKE_AWS
from tests.support.s3 import upload_registry
from tests.support.tiny_defaults import write_default_registry

pytestmark = pytest.mark.timeout(120)
QUOTA, THREADS, PER_THREAD = 40, 8, 10


def test_concurrent_requests_never_exceed_the_daily_quota(tmp_path, monkeypatch):
    for var, value in FAKE_AWS.items():
        monkeypatch.setenv(var, value)
    with mock_aws():
        from functions.api.handler import build_runtime
        from functions.auth.admin import create_token
        from functions.auth.usage import read_usage, utc_day
        from functions.settings import ENV

        s3 = boto3.client("s3", region_name="us-east-1")
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        upload_registry(s3, BUCKET, write_default_registry(tmp_path / "reg"))
        create_tokens_table(ddb)
        token, record = create_token(ddb, TOKENS_TABLE, owner="racer", models="*", quota_per_day=QUOTA)
        rt = build_runtime({ENV["artifacts_bucket"]: BUCKET, ENV["tokens_table"]: TOKENS_TABLE,
                            ENV["model_cache_dir"]: str(tmp_path / "cache"), ENV["preload_models"]: "sentiment"},
                           s3_client=s3, dynamodb_client=ddb)
        codes: list[int] = []
        refusals = []
        lock = threading.Lock()

        def racer() -> None:
            client = rt.app.test_client()
            for _ in range(PER_THREAD):
                resp = client.post("/v1/classify", json={"texts": ["good"]}, headers=auth(token))
                with lock:
                    codes.append(resp.status_code)
                    if resp.status_code == 429:
                        refusals.append(resp)

        threads = [threading.Thread(target=racer) for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert set(codes) <= {200, 429}, sorted(set(codes))
        served = codes.count(200)
        assert served <= QUOTA, f"{served} texts served on a quota of {QUOTA}"
        assert served >= QUOTA - QUOTA // 10 - 1, f"only {served} of {QUOTA} served: the quota refuses too early"
        for resp in refusals[:5]:
            assert_problem(resp, 429, "quota-exceeded")
            assert int(resp.headers["Retry-After"]) > 0
        rt.app.extensions["snlp"].meter.flush()
        import time

        billed = read_usage(ddb, TOKENS_TABLE, record.token_id, utc_day(time.time()))
        assert billed["texts"] == served and billed["requests"] == served, (billed, served)
