"""`snlp` against the running local stack: the same commands a user types."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import read_jsonl

pytestmark = [pytest.mark.e2e, pytest.mark.models]
REPO = Path(__file__).resolve().parents[2]


def snlp(stack, *args: str, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SNLP_")}
    full_env.update({"SNLP_API_URL": stack.api_url, "SNLP_TOKEN": stack.token,
                     "SNLP_CONFIG": str(cwd / "absent-config.toml")}, **(env or {}))
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300)


def test_classify(stack):
    res = snlp(stack, "classify", "I love this, it is great!", "This is terrible and broken.")
    assert res.returncode == 0, res.stderr
    first, second = res.stdout.splitlines()
    assert first.startswith("positive") and second.startswith("negative")


def test_embed_and_similarity(stack):
    res = snlp(stack, "embed", "hello world")
    assert res.returncode == 0, res.stderr
    vec = json.loads(res.stdout)
    assert len(vec) == 384
    assert sum(x * x for x in vec) == pytest.approx(1.0, abs=1e-3)  # L2-normalised in the graph
    close = float(snlp(stack, "similarity", "A cat sits on the mat.", "The cat is sitting on a mat.").stdout)
    far = float(snlp(stack, "similarity", "A cat sits on the mat.", "Interest rates rose again.").stdout)
    assert far < close


def test_wrong_token_is_a_clear_error(stack):
    res = snlp(stack, "classify", "hi", "--token", "snlp_wrong")
    assert res.returncode == 4
    assert "token (from --api-url/--token) was not accepted" in res.stderr
    assert "Traceback" not in res.stderr


def test_batch_submit_waits_with_progress_and_downloads(stack, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text('id,text\n1,"I love it, really"\n2,"Awful, just awful"\n3,\n')
    res = snlp(stack, "batch", "submit", str(src), "--model", "sentiment", "-o", str(tmp_path / "out"),
               "--poll-interval", "0.5")
    assert res.returncode == 0, res.stderr
    assert "lines" in res.stderr and "done" in res.stderr  # the progress bar
    saved = [Path(p) for p in res.stdout.split()]
    results = next(p for p in saved if not p.name.endswith(".errors.jsonl"))
    rows = read_jsonl(results)
    assert [r.get("id") for r in rows][:2] == ["1", "2"]
    assert "2 ok, 1 failed" in res.stderr
