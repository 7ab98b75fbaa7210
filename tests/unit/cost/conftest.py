"""Fixtures of the cost model tests: the small saved measurement file and a hand-made price book."""
from __future__ import annotations

from pathlib import Path

import pytest

from infra.cost.measurements import Measurements
from infra.cost.pricing import parse_prices

SAMPLE = Path(__file__).parent / "data" / "sample_measurements.json"


@pytest.fixture
def sample() -> Measurements:
    return Measurements.load(SAMPLE)


def price_doc(**overrides: float) -> dict:
    """Round prices so expected values can be worked out by hand."""
    flat = {
        "lambda.gb_second_x86_64": 0.00001, "lambda.gb_second_arm64": 0.000008,
        "lambda.request": 0.0000002, "lambda.ephemeral_gb_second": 0.00000003,
        "lambda.provisioned_gb_second_x86_64": 0.000004, "lambda.provisioned_gb_second_arm64": 0.000003,
        "lambda.provisioned_duration_gb_second_x86_64": 0.000009,
        "lambda.provisioned_duration_gb_second_arm64": 0.000007,
        "apigateway.http_request": 0.000001, "apigateway.rest_request": 0.0000035,
        "s3.storage_gb_month": 0.02, "s3.get_request": 0.0000004, "s3.put_request": 0.000005,
        "s3.transfer_to_lambda_same_region_gb": 0.0,
        "dynamodb.read_request_unit": 0.0000001, "dynamodb.write_request_unit": 0.000001,
        "cloudwatch.logs_ingestion_gb": 0.5, "data_transfer.out_internet_gb": 0.1,
        "cloudwatch.logs_ingestion_lambda_gb": 0.5, "cloudwatch.logs_storage_gb_month": 0.03,
        "cloudwatch.custom_metric_month": 0.3, "xray.trace_recorded": 0.000005, "kms.request": 0.000003,
        "lambda.snapstart_cache_gb_second": 0.0000015, "lambda.snapstart_restore_gb": 0.00014,
        "lambda.function_url_request": 0.0, "sqs.request": 0.0000004,
    }
    flat.update({k.replace("__", "."): v for k, v in overrides.items()})
    prices: dict = {}
    for key, usd in flat.items():
        group, name = key.split(".")
        prices.setdefault(group, {"source": "test", "url": "https://example.com", "checked": "2026-11"})
        if usd is not None:
            prices[group][name] = {"usd": usd, "per": "unit"}
    return {"region": "test-1", "checked": "2026-11", "prices": prices}


@pytest.fixture
def prices():
    return parse_prices(price_doc(), "test-1.yml")


@pytest.fixture
def make_price_doc():
    """price_doc(**overrides) for tests that need a changed or missing price (None drops it)."""
    return price_doc
