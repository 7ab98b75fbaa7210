"""Abuse is stopped before Lambda: stage throttling and the api's concurrency cap come from
config/stages.yml and reach the template; the per-token limits reach the function's environment."""
from __future__ import annotations

import pytest

from infra.config import ConfigError, _stage, function_environment, load_config, resource_names
from infra.serverless_yml import load

STAGE = "${self:custom.stage.%s}"


def test_http_api_stage_throttling_is_the_stage_parameters():
    ext = load("http")["resources"]["extensions"]["HttpApiStage"]["Properties"]["DefaultRouteSettings"]
    assert ext == {"DetailedMetricsEnabled": False, "ThrottlingRateLimit": STAGE % "api_throttle_rate",
                   "ThrottlingBurstLimit": STAGE % "api_throttle_burst"}


def test_rest_api_throttles_with_the_same_parameters_and_keeps_no_gateway_quota():
    plan = load("rest")["provider"]["apiGateway"]["usagePlan"]
    assert plan == {"throttle": {"rateLimit": STAGE % "api_throttle_rate",
                                 "burstLimit": STAGE % "api_throttle_burst"}}


@pytest.mark.parametrize("api_type", ["http", "rest", "url"])
def test_api_function_concurrency_is_capped_by_the_stage(api_type):
    fn = load(api_type)["functions"]["api"]
    assert fn["reservedConcurrency"] == "${self:custom.stage.api_reserved_concurrency, null}"
    cfg = load_config()
    for name in ("dev", "prod"):  # deployed stages: a cap, and gateway throttling in numbers
        stage = cfg.stage(name)
        assert stage.api_reserved_concurrency and stage.api_reserved_concurrency >= 1
        assert 1 <= stage.api_throttle_rate <= stage.api_throttle_burst


def test_per_token_limits_and_legacy_switch_reach_the_api_environment():
    from functions.settings import ENV, Settings

    cfg = load_config().stage("prod")
    env = function_environment(cfg, "api", resource_names("prod"), "q")
    settings = Settings.from_env(env)
    assert settings.rate_requests_per_minute == cfg.api_rate_requests_per_minute
    assert settings.rate_texts_per_minute == cfg.api_rate_texts_per_minute
    assert settings.legacy_tokens is cfg.legacy_tokens
    assert settings.usage_flush_requests == cfg.usage_flush_requests == 1  # usage written before each answer
    assert ENV["rate_requests_per_minute"] not in function_environment(cfg, "batch", resource_names("prod"), "q")
    sls_env = load("http")["functions"]["api"]["environment"]
    assert sls_env[ENV["rate_requests_per_minute"]] == STAGE % "api_rate_requests_per_minute"
    assert sls_env[ENV["legacy_tokens"]] == STAGE % "legacy_tokens"


@pytest.mark.parametrize("key,value", [("api_throttle_rate", 0), ("api_throttle_burst", -1),
                                       ("api_rate_texts_per_minute", -5), ("legacy_tokens", "yes"),
                                       ("price_per_1000_texts", -0.1), ("usage_flush_requests", 0)])
def test_bad_abuse_levers_are_refused(key, value):
    import dataclasses

    good = {f.name: getattr(load_config().stage("prod"), f.name)
            for f in dataclasses.fields(load_config().stage("prod")) if f.name != "stage"}
    good["preload_models"] = ",".join(good["preload_models"])
    _stage("prod", good)  # the real values pass
    with pytest.raises(ConfigError, match=key):
        _stage("prod", {**good, key: value})
