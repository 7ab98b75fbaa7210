"""Child processes of the local stack: each in its own process group, logs to a file, stopped
with SIGTERM then SIGKILL after a timeout."""
from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .errors import LocalStackError

STOP_TIMEOUT_S = 10.0


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    log_path: Path
    proc: subprocess.Popen | None = None
    _log: object = field(default=None, repr=False)

    def start(self, env: Mapping[str, str], cwd: Path) -> "Child":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab", buffering=0)
        try:
            # own session: Ctrl-C reaches only the orchestrator, which then stops the
            # whole group in order (worker, api, moto)
            self.proc = subprocess.Popen(list(self.argv), env=dict(env), cwd=str(cwd), stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        except OSError as exc:
            self._log.close()
            raise LocalStackError(f"cannot start the {self.name} ({self.argv[0]}): {exc.strerror or exc}") from exc
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM to the process group; SIGKILL if it is still there after ``timeout`` seconds."""
        if self.proc is not None and self.proc.poll() is None:
            _signal_group(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc, signal.SIGKILL)
                self.proc.wait(5)
        # whatever the group leader left behind (waitress threads, worker processes)
        if self.proc is not None:
            _signal_group(self.proc, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None


def _die_with_parent() -> None:
    """Linux: SIGTERM this child when the orchestrator dies, even by SIGKILL (no orphans)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: Ctrl-C and SIGTERM still stop everything through down()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the child leads its own group (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local URL
            return 200 <= resp.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


def wait_until(child: Child, ready: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``ready`` until true; fail clearly if the child exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if not child.running:
            code = child.proc.returncode if child.proc else "?"
            raise LocalStackError(f"the {what} stopped while starting (exit code {code}). "
                                  f"Last lines of {child.log_path}:\n{child.log_tail()}")
        time.sleep(0.2)
    raise LocalStackError(f"the {what} did not become ready within {timeout:.0f} s. "
                          f"Last lines of {child.log_path}:\n{child.log_tail()}")


__all__ = ["Child", "http_ok", "wait_until", "STOP_TIMEOUT_S"]
