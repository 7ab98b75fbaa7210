"""Report generation and the command line, from the small saved measurement file (no sweep)."""
from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest

from infra.cost import cli
from infra.cost.breakeven import break_even
from infra.cost.model import Workload
from infra.cost.pricing import load_prices
from infra.cost.report import goal, write_report
from infra.cost.stage_config import read_stage

SAMPLE = Path(__file__).parent / "data" / "sample_measurements.json"
PNG = b"\x89PNG\r\n\x1a\n"


def test_report_from_the_saved_sample(sample, tmp_path):
    prices = load_prices("us-east-1")
    path = write_report(sample, prices, read_stage("prod"), Workload(1e6), tmp_path)
    text = path.read_text()
    for png in ("cost_vs_memory_sentiment.png", "cost_vs_memory_minilm-embed.png", "monthly_vs_traffic.png"):
        assert (tmp_path / png).read_bytes()[:8] == PNG
        assert f"({png})" in text
    assert "Free tiers are excluded" in text and "verify before relying" in text
    assert "cgroup v1 cpu.cfs_quota_us" in text  # the CPU emulation method is named
    g = goal(sample, prices, Workload(1e6))
    assert f"${g.int8_per_m:.3f}" in text and f"**{g.ratio:.2f}**" in text
    assert (g.int8_memory, g.torch_memory) == (512, 1024)
    for heading in ("## Recommended memory", "## Break-even", "## Edge versus cloud", "## Storage tradeoffs",
                    "## Goals", "## Every line item", "## Cost against traffic", "## Startup options",
                    "## Batch path"):
        assert heading in text
    for item in ("xray", "logs_storage", "kms", "custom_metrics", "dynamodb", "data_out"):
        assert f"| {item} (" in text
    assert re.search(r"\| Lambda function URL, \$ per 1M requests \| <= \$0\.40 \| \$[0-9.]+ .*\| (met|\*\*not met\*\*) \|", text)
    assert re.search(r"\| batch through S3, \$ per 1M texts \([0-9]+ MB, the stage's\) \| <= \$0\.10 \| \$[0-9.]+ \| "
                     r"(met|\*\*not met\*\*) \|", text)
    assert "OpenAI text-embedding-3-small | $0.40" in text
    assert "**arm64 is not measured**" in text and "no build stamp" in text
    rows = list(csv.DictReader((tmp_path / "grid.csv").open()))
    # 10 (model, variant, memory) runs x 2 arch x 3 API types x 3 request sizes
    assert len(rows) == len(sample.runs) * 2 * 3 * 3


def test_break_even_of_a_line_and_a_flat_fee():
    # $1 per 1,000 requests against $50/month: equal at 50,000 requests
    assert break_even(lambda r: r / 1000, lambda r: 50.0) == pytest.approx(50_000, rel=1e-6)
    assert break_even(lambda r: r / 1000, lambda r: 1e12) is None


def run(capsys, *argv):
    code = cli.main([*argv, "--measurements", str(SAMPLE)] if argv[0] != "sweep" else list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_estimate_prints_a_table(capsys):
    code, out, _ = run(capsys, "estimate", "--requests-per-month", "5e6", "--texts-per-request", "4")
    assert code == 0
    assert "5,000,000 requests/month x 4 texts" in out and "free tiers excluded" in out
    assert "pytorch-fp32" in out and "minilm-embed" in out


def test_estimate_one_deployment_shows_the_breakdown(capsys):
    code, out, _ = run(capsys, "estimate", "--requests-per-month", "5e6", "--texts-per-request", "4",
                       "--model", "sentiment", "--variant", "int8", "--memory", "1024", "--arch", "arm64",
                       "--api", "http")
    assert code == 0
    assert re.search(r"^sentiment +int8 +1024 ", out, re.M) and "api_gateway $1.0000" in out


@pytest.mark.parametrize("argv, message", [
    (("estimate", "--region", "mars-north-1"), "no pricing for region 'mars-north-1'"),
    (("estimate", "--requests-per-month", "0"), "requests per month must be positive"),
    (("estimate", "--requests-per-month", "-5e6"), "requests per month must be positive"),
    (("estimate", "--texts-per-request", "0"), "texts per request must be positive"),
    (("estimate", "--model", "sentiment", "--variant", "pruned"),
     "`python -m infra.cost sweep --models sentiment --variants pruned`"),
    (("estimate", "--model", "sentiment", "--variant", "int8", "--memory", "2048"), "not measured at 2048 MB"),
    (("report", "--stage", "staging"), "unknown stage 'staging'"),
])
def test_bad_input_gets_a_clear_error(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("error: ") and message in err


def test_missing_price_in_a_region_file_is_a_clear_error(capsys, tmp_path, monkeypatch):
    from infra.cost import pricing

    src = Path(pricing.PRICING_DIR, "us-east-1.yml").read_text()
    Path(tmp_path, "us-east-1.yml").write_text(src.replace("    http_request:", "    old_http_request:"))
    monkeypatch.setattr(pricing, "PRICING_DIR", tmp_path)
    monkeypatch.setattr(pricing.load_prices, "__defaults__", (tmp_path,))
    code, _, err = run(capsys, "estimate", "--model", "sentiment", "--variant", "int8", "--memory", "1024")
    assert code == 2 and "no price 'http_request' under 'apigateway:'" in err


def test_write_config_changes_only_the_stage_memory(capsys, tmp_path, monkeypatch):
    import infra.config

    stages = tmp_path / "stages.yml"
    shutil.copy(infra.config.CONFIG_FILE, stages)
    monkeypatch.setattr(infra.config, "CONFIG_FILE", stages)
    code, out, _ = run(capsys, "recommend", "--strategy", "cheapest", "--write-config")
    assert code == 0
    assert "api function -> 512 MB" in out and "+    api_memory_mb: 512" in out
    assert read_stage("prod", stages).api_memory_mb == 512


def test_write_config_dry_run_prints_the_diff_and_writes_nothing(capsys, tmp_path, monkeypatch):
    import infra.config

    stages = tmp_path / "stages.yml"
    shutil.copy(infra.config.CONFIG_FILE, stages)
    monkeypatch.setattr(infra.config, "CONFIG_FILE", stages)
    before = stages.read_text()
    code, out, _ = run(capsys, "recommend", "--strategy", "cheapest", "--write-config", "--dry-run")
    assert code == 0 and "dry run" in out and "+    api_memory_mb: 512" in out
    assert stages.read_text() == before


def test_report_strict_refuses_measurements_of_another_build(capsys, tmp_path):
    code, _, err = run(capsys, "report", "--out", str(tmp_path), "--strict")
    assert code == 2 and "no build stamp" in err and "make cost SWEEP=1" in err
    assert not (tmp_path / "report.md").exists()


def test_recommend_prints_power_tuning_output(capsys):
    import json

    code, out, _ = run(capsys, "recommend", "--json", "--balanced-weight", "0.8")
    assert code == 0
    doc = json.loads(out)
    entry = doc["sentiment/int8"]
    assert entry["strategy"] == "balanced" and entry["balancedWeight"] == 0.8
    assert {s["value"] for s in entry["stats"]} >= {entry["power"]}


def test_drift_exits_1_when_the_stage_differs_from_the_recommendation(capsys):
    code, out, _ = run(capsys, "drift")
    assert code in (0, 1)
    assert ("drift:" in out) == (code == 1)
