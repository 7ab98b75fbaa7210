"""config/stages.yml validation (infra/config.py), model-alias checks and the CLI (infra/stages.py), resource names."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from infra.config import (CONFIG_FILE, ConfigError, LOCAL_ACCOUNT_ID, StageConfig, function_environment,
                          load_config, parse_model_refs, resource_names)
from infra.stages import check_models, dist_aliases, main
from functions.settings import ENV


def write_config(tmp_path: Path, **changes) -> Path:
    """The real config file with one stage ('prod') changed."""
    raw = yaml.safe_load(CONFIG_FILE.read_text())
    raw["stages"]["prod"].update(changes)
    path = tmp_path / "stages.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_every_shipped_stage_is_valid():
    cfg = load_config()
    assert {"local", "dev", "prod"} <= set(cfg.stages)
    prod = cfg.stage("prod")
    assert prod.architecture in ("x86_64", "arm64")
    assert prod.api_provisioned_concurrency == 0
    assert cfg.deploy_unzipped_max_mb == 250


@pytest.mark.parametrize("changes, message", [
    ({"architecture": "arm"}, "unknown architecture 'arm'"),
    ({"architecture": "aarch64"}, "unknown architecture"),
    ({"api_memory_mb": 127}, "outside the Lambda range 128-10240"),
    ({"batch_memory_mb": 10241}, "outside the Lambda range 128-10240"),
    ({"api_memory_mb": "2048"}, "expected an integer"),
    ({"api_type": "graphql"}, "api_type"),
    ({"api_threads": 4, "api_memory_mb": 2048}, "gives 2 vCPU"),
    ({"batch_reserved_concurrency": 0}, "use null for no reservation"),
    ({"log_retention_days": 10}, "retention period"),
    ({"api_timeout_s": 60}, "29 s"),
    ({"batch_visibility_timeout_s": 100}, "at least batch_timeout_s"),
    ({"preload_models": ["sentiment"]}, "comma-separated string"),
    ({"preload_models": "sentiment,Bad Name"}, "not a model reference"),
    ({"tracing": "yes"}, "expected true or false"),
    ({"alarm_p99_latency_ms": 0}, "positive number"),
    ({"api_type": "url", "api_reserved_concurrency": None}, "reserved concurrency is its cap"),
    ({"api_snapstart": True, "api_provisioned_concurrency": 2}, "SnapStart works with neither"),
    ({"api_snapstart": True, "api_ephemeral_mb": 1024}, "SnapStart works with neither"),
    ({"api_ephemeral_mb": 256}, "expected an integer >= 512"),
    ({"xray_sampling_rate": 1.5}, "between 0 and 1"),
    ({"access_log_sample_rate": -0.1}, "between 0 and 1"),
    ({"metrics_per_model": "no"}, "expected true or false"),
    ({"metrics_flush_requests": 0}, "metrics_flush_requests"),
    ({"metrics_flush_requests": 101}, "at most 100"),
    ({"lambda_log_format": "json"}, "is not one of text, json_quiet"),
    ({"surprise": 1}, "unknown parameter(s) surprise"),
])
def test_bad_stage_parameters_fail_with_a_clear_message(tmp_path, changes, message):
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, **changes))
    assert message in str(err.value)
    assert "stages.prod" in str(err.value)


def test_missing_parameter_is_named(tmp_path):
    raw = yaml.safe_load(CONFIG_FILE.read_text())
    del raw["stages"]["prod"]["api_memory_mb"]
    path = tmp_path / "stages.yml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="missing parameter.*api_memory_mb"):
        load_config(path)


def test_unknown_stage_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown stage 'qa'.*dev, lean, local, prod"):
        load_config().stage("qa")


def test_stage_names_must_fit_in_bucket_names(tmp_path):
    raw = yaml.safe_load(CONFIG_FILE.read_text())
    raw["stages"]["Prod_EU"] = raw["stages"]["prod"]
    path = tmp_path / "stages.yml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="stage names"):
        load_config(path)


def test_model_refs_parse():
    assert parse_model_refs("sentiment, minilm-embed:fp32,sentiment@v3") == (
        "sentiment", "minilm-embed:fp32", "sentiment@v3")
    assert parse_model_refs("") == ()


def test_model_refs_follow_the_service_grammar():
    """A stage accepts exactly the references the service resolves (functions.store.refs)."""
    assert parse_model_refs("sentiment:v1.2,my.model") == ("sentiment:v1.2", "my.model")
    for bad in ("Sentiment", "a:b@c", "../x", "sentiment@", "sentiment:a..b"):
        with pytest.raises(ConfigError, match="is not a model reference"):
            parse_model_refs(bad)


def _dist(tmp_path: Path) -> Path:
    (tmp_path / "sentiment" / "v1").mkdir(parents=True)
    (tmp_path / "sentiment" / "aliases.json").write_text(json.dumps({"prod": "v1", "int8": "v1"}))
    return tmp_path


def test_missing_model_alias_is_reported(tmp_path):
    aliases = dist_aliases(_dist(tmp_path))
    check_models(("sentiment", "sentiment:int8"), aliases, "dist")
    with pytest.raises(ConfigError, match="no alias 'fp16'.*it has: int8, prod"):
        check_models(("sentiment:fp16",), aliases, "dist")
    with pytest.raises(ConfigError, match="no model 'minilm-embed' in dist"):
        check_models(("minilm-embed",), aliases, "dist")


def test_missing_model_version_is_reported(tmp_path):
    dist = _dist(tmp_path)
    versions = lambda name, version: (dist / name / version).is_dir()  # noqa: E731
    check_models(("sentiment@v1",), dist_aliases(dist), "dist", versions=versions)
    with pytest.raises(ConfigError, match="no version 'v9'"):
        check_models(("sentiment@v9",), dist_aliases(dist), "dist", versions=versions)


def test_resource_names_are_valid_aws_names():
    for stage in load_config().stages:
        names = resource_names(stage, "123456789012")
        for key in ("artifacts_bucket", "data_bucket"):
            assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", names[key]), names[key]
        assert names["tokens_table"] == f"serverless-nlp-{stage}-tokens"
        assert names["batch_dlq"] == names["batch_queue"] + "-dlq"
        assert names["artifacts_bucket"] != names["data_bucket"]
        assert names["tokens_table"] != names["jobs_table"]
    assert resource_names("local")["data_bucket"].endswith(LOCAL_ACCOUNT_ID)


def test_function_environment_uses_the_settings_names():
    cfg = load_config().stage("prod")
    names = resource_names("prod")
    env = function_environment(cfg, "api", names, queue_url="https://q")
    snlp = {k for k in env if k.startswith("SNLP_")}
    assert snlp <= set(ENV.values())
    assert env[ENV["preload_models"]] == "sentiment,minilm-embed"
    assert env["POWERTOOLS_SERVICE_NAME"] == "api"
    assert function_environment(cfg, "batch", names, "q")["POWERTOOLS_SERVICE_NAME"] == "batch"


def test_cli_check_exits_2_with_the_reason(tmp_path, capsys, monkeypatch):
    import infra.config as config

    monkeypatch.setattr(config, "DIST", tmp_path)  # nothing built
    assert main(["check", "--stage", "prod"]) == 2
    assert "no model 'sentiment' in model_artifacts/dist" in capsys.readouterr().err
    assert main(["check", "--stage", "prod", "--models-from", "none"]) == 0
    _dist(tmp_path)  # sentiment built, minilm-embed (also preloaded in prod) not
    assert main(["check", "--stage", "prod"]) == 2
    assert "no model 'minilm-embed'" in capsys.readouterr().err


def test_stageconfig_fields_match_the_defaults_block():
    raw = yaml.safe_load(CONFIG_FILE.read_text())
    fields = set(StageConfig.__dataclass_fields__) - {"stage"}
    assert set(raw["defaults"]) == fields
