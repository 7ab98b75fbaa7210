"""A bad environment makes the local stack fail early with a clear message, never a traceback."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.local import LocalStack, LocalStackError, StackOptions
from infra.local.preflight import check_disk, check_ports, free_port
from infra.local.procs import Child

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def fake_dist(tmp_path) -> Path:
    """Looks built to the orchestrator's check (aliases.json present); the failures come first."""
    for name in ("sentiment", "minilm-embed"):
        (tmp_path / "dist" / name).mkdir(parents=True)
        (tmp_path / "dist" / name / "aliases.json").write_text(json.dumps({"prod": "v1"}))
    return tmp_path / "dist"


@pytest.fixture()
def busy_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock.getsockname()[1]
    sock.close()


def _run(args, tmp_path, **env):
    return subprocess.run([sys.executable, "-m", "infra.local", *args, "--state-dir", str(tmp_path / "state")],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_port_in_use_gives_a_clear_message(busy_port, fake_dist, tmp_path):
    res = _run(["up", "--api-port", str(busy_port), "--moto-port", str(free_port()), "--dist", str(fake_dist)],
               tmp_path)
    assert res.returncode == 2
    assert f"port {busy_port} on 127.0.0.1 is already in use (needed for the API and web page)" in res.stderr
    assert "SNLP_LOCAL_API_PORT" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout


def test_preflight_reports_a_busy_moto_port(busy_port, tmp_path):
    res = _run(["preflight", "--api-port", str(free_port()), "--moto-port", str(busy_port)], tmp_path)
    assert res.returncode == 2
    assert "needed for the moto server" in res.stderr and "Traceback" not in res.stderr


def test_moto_failing_to_start_gives_a_clear_message(fake_dist, tmp_path):
    failing = f"{sys.executable} -c \"import sys; print('moto: simulated crash'); sys.exit(3)\""
    res = _run(["up", "--api-port", str(free_port()), "--moto-port", str(free_port()), "--dist", str(fake_dist)],
               tmp_path, SNLP_LOCAL_MOTO_CMD=failing)
    assert res.returncode == 2
    assert "the moto server (local S3, DynamoDB, SQS) failed to start" in res.stderr
    assert "exit code 3" in res.stderr and "simulated crash" in res.stderr  # the log tail says why
    assert "Traceback" not in res.stderr + res.stdout


def test_moto_missing_gives_a_clear_message(fake_dist, tmp_path):
    stack = LocalStack(StackOptions(state_dir=tmp_path, api_port=free_port(), moto_port=free_port(),
                                    dist=fake_dist, moto_argv=(str(tmp_path / "no-such-moto"),),
                                    echo=lambda line: None))
    with pytest.raises(LocalStackError, match="cannot start the moto server"):
        stack.up()
    assert stack.children == []


def test_unbuilt_models_are_named(tmp_path):
    stack = LocalStack(StackOptions(state_dir=tmp_path, api_port=free_port(), moto_port=free_port(),
                                    dist=tmp_path / "empty", echo=lambda line: None))
    with pytest.raises(LocalStackError, match="models are not built"):
        stack.up()


def test_no_disk_space_gives_a_clear_message(tmp_path):
    with pytest.raises(LocalStackError, match=r"not enough disk space for the models: .* GB free"):
        check_disk(tmp_path, 10**18, "the models")


def test_check_ports_lists_every_busy_port(busy_port):
    with pytest.raises(LocalStackError) as exc:
        check_ports({"a": busy_port, "b": free_port()})
    assert str(busy_port) in str(exc.value)


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for a reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_stop_escalates_to_sigkill(tmp_path):
    """A child that ignores SIGTERM is killed after the timeout, with its whole group."""
    code = ("import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "print('ready', p.pid, flush=True); time.sleep(60)")
    child = Child("stubborn", [sys.executable, "-c", code], tmp_path / "stubborn.log").start(dict(os.environ), tmp_path)
    deadline = time.monotonic() + 20
    while "ready" not in child.log_tail() and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(child.log_tail().split()[-1])
    child.stop(timeout=0.5)
    assert child.proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_children_die_with_a_killed_orchestrator(tmp_path):
    """SIGKILL of the process that started the stack leaves no server behind."""
    code = ("import os, sys, time; from pathlib import Path; from infra.local.procs import Child; "
            f"c = Child('sleeper', [sys.executable, '-c', 'import time; time.sleep(60)'], Path({str(tmp_path)!r}) / 's.log')"
            ".start(dict(os.environ), Path('.')); print(c.proc.pid, flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    assert _alive(child_pid)
    parent.kill()
    parent.wait(10)
    deadline = time.monotonic() + 10
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child_pid)
