from __future__ import annotations

import pytest

from infra.cost.errors import MissingPriceError, UnknownRegionError
from infra.cost.pricing import available_regions, load_prices, parse_prices

NEEDED = ["lambda.gb_second_x86_64", "lambda.gb_second_arm64", "lambda.request", "lambda.ephemeral_gb_second",
          "lambda.provisioned_gb_second_x86_64", "lambda.provisioned_duration_gb_second_arm64",
          "apigateway.http_request", "apigateway.rest_request", "s3.storage_gb_month", "s3.get_request",
          "s3.put_request", "sqs.request", "dynamodb.read_request_unit", "dynamodb.write_request_unit",
          "cloudwatch.logs_ingestion_gb", "data_transfer.out_internet_gb", "fargate.vcpu_hour_x86_64",
          "fargate.gb_hour_x86_64", "ec2.t4g_small_hour", "ec2.t3_small_hour"]


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_every_region_prices_what_the_model_needs_with_source_and_date(region):
    book = load_prices(region)
    assert book.region == region
    for key in NEEDED:
        price = book.price(key)
        assert price.usd >= 0
        assert price.source and price.url.startswith("https://") and "2026-11" in price.checked


def test_us_east_1_has_sagemaker_serverless_and_the_api_price_gap():
    book = load_prices("us-east-1")
    assert book.get("sagemaker.serverless_gb_second") > 0
    assert book.get("apigateway.rest_request") == pytest.approx(3.5 * book.get("apigateway.http_request"))
    assert book.get("lambda.gb_second_arm64") < book.get("lambda.gb_second_x86_64")


def test_unknown_region_lists_the_known_ones():
    with pytest.raises(UnknownRegionError) as err:
        load_prices("mars-north-1")
    assert "mars-north-1" in str(err.value)
    for region in available_regions():
        assert region in str(err.value)


def test_missing_price_names_the_key_and_file(make_price_doc):
    book = parse_prices(make_price_doc(sqs__request=None), "test-1.yml")
    with pytest.raises(MissingPriceError) as err:
        book.get("sqs.request")
    assert "'request'" in str(err.value) and "'sqs:'" in str(err.value) and "test-1.yml" in str(err.value)


def test_a_price_without_a_value_or_source_is_rejected(make_price_doc):
    doc = make_price_doc()
    doc["prices"]["s3"]["get_request"] = {"per": "request"}
    with pytest.raises(MissingPriceError, match="s3.get_request has no 'usd'"):
        parse_prices(doc, "x.yml")
    doc = make_price_doc()
    doc["prices"]["s3"].pop("source")
    with pytest.raises(MissingPriceError, match="source"):
        parse_prices(doc, "x.yml")


def test_group_source_applies_unless_the_price_sets_its_own():
    book = load_prices("us-east-1")
    assert book.price("ec2.t4g_small_hour").source == "Amazon EC2 on-demand pricing (Linux)"
    assert book.price("ec2.ebs_gp3_gb_month").source == "Amazon EBS pricing"
