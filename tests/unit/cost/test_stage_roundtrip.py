"""The cost model reads and writes the same stage parameters that serverless.yml deploys."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from infra.cost.errors import StageConfigError
from infra.cost.stage_config import read_stage, served_variant, set_stage_values, write_memory

REPO = Path(__file__).resolve().parents[3]
STAGES = REPO / "config" / "stages.yml"
SERVERLESS = REPO / "serverless.yml"


def serverless_value(stages_file: Path, stage: str, expression: str):
    """Resolve ``${self:custom.stage.<key>}`` the way serverless.yml does (custom.stage = stages.<stage>)."""
    key = re.fullmatch(r"\$\{self:custom\.stage\.([a-z_0-9]+)(?:, null)?\}", expression).group(1)
    return yaml.safe_load(stages_file.read_text())["stages"][stage][key]


@pytest.fixture
def stages_copy(tmp_path) -> Path:
    path = tmp_path / "stages.yml"
    shutil.copy(STAGES, path)
    return path


def test_serverless_yml_takes_the_cost_levers_from_the_stage_config():
    if not SERVERLESS.is_file():
        pytest.skip("serverless.yml not written yet")
    doc = yaml.safe_load(SERVERLESS.read_text())
    assert doc["custom"]["stage"] == "${file(config/stages.yml):stages.${sls:stage}}"
    api = doc["functions"]["api"]
    assert api["memorySize"] == "${self:custom.stage.api_memory_mb}"
    assert doc["provider"]["architecture"] == "${self:custom.stage.architecture}"
    assert api["environment"]["SNLP_THREADS"] == "${self:custom.stage.api_threads}"
    assert api["provisionedConcurrency"] == "${self:custom.stage.api_provisioned_concurrency}"
    assert "api_type" in doc["custom"]["api"]


@pytest.mark.parametrize("stage", ["local", "dev", "prod"])
def test_the_cost_model_reads_what_serverless_deploys(stage):
    params = read_stage(stage)
    assert params.api_memory_mb == serverless_value(STAGES, stage, "${self:custom.stage.api_memory_mb}")
    assert params.architecture == serverless_value(STAGES, stage, "${self:custom.stage.architecture}")
    assert params.api_type == serverless_value(STAGES, stage, "${self:custom.stage.api_type}")
    assert params.provisioned_concurrency == serverless_value(
        STAGES, stage, "${self:custom.stage.api_provisioned_concurrency}")


def test_round_trip_write_then_read(stages_copy):
    before = stages_copy.read_text()
    diff = write_memory("prod", 3008, stages_copy)
    assert "+    api_memory_mb: 3008" in diff and "+    api_threads: 2" in diff
    params = read_stage("prod", stages_copy)
    assert (params.api_memory_mb, params.api_threads) == (3008, 2)
    assert serverless_value(stages_copy, "prod", "${self:custom.stage.api_memory_mb}") == 3008
    # the other stages, the defaults and every comment are untouched
    for other in ("local", "dev"):
        assert read_stage(other, stages_copy) == read_stage(other, STAGES)
    removed = [line for line in before.splitlines() if line not in stages_copy.read_text().splitlines()]
    assert removed == []
    assert write_memory("prod", 3008, stages_copy) == ""  # already there: no change, no diff


def test_an_existing_value_is_replaced_in_place(stages_copy):
    write_memory("dev", 1024, stages_copy)
    text = stages_copy.read_text()
    dev_block = text.split("  dev:")[1].split("  prod:")[0]
    assert dev_block.count("api_memory_mb") == 1 and "api_memory_mb: 1024" in dev_block
    assert read_stage("dev", stages_copy).api_memory_mb == 1024


def test_dry_run_leaves_the_file_alone(stages_copy):
    before = stages_copy.read_text()
    assert write_memory("prod", 512, stages_copy, dry_run=True)
    assert stages_copy.read_text() == before


def test_unknown_stage_is_a_clear_error(stages_copy):
    with pytest.raises(StageConfigError, match="staging"):
        read_stage("staging", stages_copy)
    with pytest.raises(StageConfigError, match="staging"):
        set_stage_values(stages_copy.read_text(), "staging", {"api_memory_mb": 512})


def test_served_variant_follows_the_aliases():
    aliases = {"prod": "v3", "int8": "v3", "fp32": "v1", "candidate": "v1"}
    assert served_variant("sentiment", aliases) == ("sentiment", "int8")
    assert served_variant("sentiment:candidate", aliases) == ("sentiment", "fp32")
    assert served_variant("sentiment:fp16", aliases) == ("sentiment", "fp16")
    assert served_variant("minilm-embed", None) == ("minilm-embed", "int8")
