"""`python -m infra.local up` end to end with tiny models: serves the page and the API, writes the
token privately, and Ctrl-C (SIGINT) stops every process it started."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from infra.local.preflight import free_port, port_is_free
from infra.local.tiny_artifact import write_registry

REPO = Path(__file__).resolve().parents[2]


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            pytest.fail(f"{what}: the stack exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"{what}: timed out:\n{log.read_text()[-3000:]}")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_up_serves_and_ctrl_c_stops_everything(tmp_path):
    dist = tmp_path / "dist"
    write_registry(dist)
    state = tmp_path / "state"
    api_port, moto_port = free_port(), free_port()
    log = tmp_path / "up.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "infra.local", "up", "--dist", str(dist),
                                 "--models", "tiny-sentiment,tiny-embed", "--state-dir", str(state),
                                 "--api-port", str(api_port), "--moto-port", str(moto_port)],
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        _wait_for(lambda: "is running locally" in log.read_text(), 120, "start", proc, log)
        token = (state / "token").read_text().strip()
        assert stat.S_IMODE((state / "token").stat().st_mode) == 0o600
        assert log.read_text().count(token) == 1  # printed once
        pids = json.loads((state / "stack.json").read_text())["pids"]
        assert set(pids) == {"moto server", "API", "batch worker", "train worker"}

        base = f"http://127.0.0.1:{api_port}"
        with urllib.request.urlopen(base + "/") as resp:
            assert b"Serverless NLP" in resp.read()
        req = urllib.request.Request(base + "/v1/classify", method="POST",
                                     data=json.dumps({"model": "tiny-sentiment", "texts": ["hi"]}).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req) as resp:
            body = json.loads(resp.read())
        assert body["model"].startswith("tiny-sentiment@")
        assert set(body["predictions"][0]["scores"]) == {"negative", "neutral", "positive"}
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        code = proc.wait(60)
    assert code == 0, log.read_text()[-3000:]
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids.values())
    assert port_is_free(api_port) and port_is_free(moto_port)
    assert not (state / "stack.json").exists()
    assert "Traceback" not in log.read_text()
