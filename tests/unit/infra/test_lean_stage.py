"""The lean stage (config/stages.yml) as serverless.yml renders it: a function URL front door and
the per-request overhead levers set in the api function's environment and log configuration."""
from __future__ import annotations

import json

import yaml

from functions.settings import ENV, Settings
from infra.config import function_environment, load_config, resource_names
from infra.serverless_yml import REPO, load, substitute

LEAN = load_config().stage("lean")


def rendered_api() -> dict:
    """The api function of serverless.yml for the lean stage's api_type, stage keys filled in."""
    doc = load(LEAN.api_type)
    return json.loads(substitute(json.dumps(doc["functions"]["api"]), LEAN, "123456789012"))


def test_the_lean_stage_is_a_function_url_with_no_gateway():
    doc = load(LEAN.api_type)
    api = rendered_api()
    assert LEAN.api_type == "url" and api["url"] is True and api["events"] == []
    assert doc["provider"]["httpApi"] == {} and doc["provider"]["apiGateway"] == {}
    assert "ApiLambdaFunctionUrl" in doc["resources"]["extensions"]  # its checkov skip carries the reason
    assert int(api["reservedConcurrency"]) == LEAN.api_reserved_concurrency > 0  # the only cap in front of it


def test_the_lean_levers_reach_the_function():
    env = rendered_api()["environment"]
    assert env["SNLP_ACCESS_LOG_FIELDS"] == "lean" and float(env["SNLP_ACCESS_LOG_SAMPLE_RATE"]) == 0.1
    assert env["SNLP_METRICS_PER_MODEL"].lower() == "false"
    assert int(env["SNLP_USAGE_FLUSH_REQUESTS"]) == LEAN.usage_flush_requests > 1
    assert int(env["SNLP_METRICS_FLUSH_REQUESTS"]) == LEAN.metrics_flush_requests > 1
    assert int(rendered_api()["memorySize"]) == LEAN.api_memory_mb
    formats = yaml.safe_load((REPO / "infra" / "serverless" / "lambda-logs.yml").read_text())
    assert LEAN.lambda_log_format == "json_quiet" and formats["json_quiet"]["systemLogLevel"] == "WARN"
    assert LEAN.tracing is False


def test_the_local_stack_and_the_function_read_the_same_levers():
    env = function_environment(LEAN, "api", resource_names("lean"), queue_url="")
    settings = Settings.from_env(env)
    assert env[ENV["access_log_fields"]] == "lean"
    assert (settings.access_log_fields, settings.access_log_sample_rate, settings.metrics_per_model,
            settings.usage_flush_requests, settings.metrics_flush_requests) == (
        "lean", 0.1, False, LEAN.usage_flush_requests, LEAN.metrics_flush_requests)
