"""The bench's deployed-stage cold start (bench/coldstart_stage.py) runs what the stage deploys:
its environment, its resources' names, auth and metering on. A child answers only with the bench
token, and its first request is metered in the stage's own tokens table."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile

import pytest

from functions.auth.usage import USAGE_PK
from tests.conftest import built_model_dir

pytestmark = pytest.mark.timeout(300)


def _child(url: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    from bench.sections import _stage_child_env

    with tempfile.TemporaryDirectory() as cache:
        return subprocess.run([sys.executable, "-m", "bench.coldstart_child", "sentiment:int8"],
                              env=_stage_child_env(url, cache, env), capture_output=True, text=True, timeout=240)


def test_a_prod_cold_start_is_authenticated_and_metered_in_the_stages_own_table():
    built_model_dir("sentiment")
    built_model_dir("minilm-embed")
    from bench.coldstart_stage import BENCH_TOKEN_ENV, deployed_stage
    from infra.config import resource_names
    from infra.local.moto import fake_client

    with deployed_stage("prod") as (url, env):
        assert env["SNLP_TOKENS_TABLE"] == resource_names("prod")["tokens_table"]
        assert env["SNLP_USAGE_FLUSH_REQUESTS"] == "1" and env["SNLP_PRELOAD_MODELS"] == "sentiment,minilm-embed"
        done = _child(url, env)
        assert done.returncode == 0, done.stderr[-2000:]
        timings = json.loads(done.stdout.strip().splitlines()[-1])
        assert timings["total_to_first_answer_ms"] >= timings["import_init_ms"] > 0
        ddb = fake_client("dynamodb", url)
        rows = [item for item in ddb.scan(TableName=env["SNLP_TOKENS_TABLE"])["Items"]
                if item["pk"]["S"].startswith(USAGE_PK)]
        assert len(rows) == 1 and int(rows[0]["texts"]["N"]) == 1  # the one text of the first request

        refused = _child(url, {**env, BENCH_TOKEN_ENV: "snlp_" + "x" * 51})
        assert refused.returncode != 0 and "401" in refused.stderr + refused.stdout
