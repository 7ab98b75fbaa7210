"""CPU allowances for a child process, to emulate Lambda's memory-proportional CPU share.

Preferred: a CFS bandwidth quota, the mechanism Lambda's own sandboxes are limited by:
cgroup v2 ``cpu.max`` or cgroup v1 ``cpu.cfs_quota_us``/``cpu.cfs_period_us`` (needs root and a
writable cpu controller). Fallback where neither is writable: the parent SIGSTOPs the child
once it used its CPU-time budget in a 20 ms window and SIGCONTs it at the next (coarser).
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

CGROUP_ROOT = Path("/sys/fs/cgroup")
# The CFS period decides how long a short request may run at full speed before the quota
# stops it. Public measurements of Lambda's throttling (pwrdrvr/lambda-throttling: pauses in
# CPU-bound loops at 128-1769 MB) show it refilling the quota every 20 ms, so 20 ms is used
# here (recalled, not re-measured on AWS here: `sweep --cfs-period-ms` changes it). A request
# shorter than the quota (memory/1769 x 20 ms) runs unthrottled, on Lambda as here.
PERIOD_US = 20_000


class CpuLimit:
    """Context manager; ``preexec`` runs in the child before exec, ``attach`` after spawn."""

    method = "none"

    def __init__(self, vcpus: float) -> None:
        self.vcpus = vcpus

    def preexec(self) -> None:  # runs in the child between fork and exec
        pass

    def attach(self, pid: int) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "CpuLimit":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CgroupLimit(CpuLimit):
    def __init__(self, vcpus: float, directory: Path, v2: bool, period_us: int = PERIOD_US) -> None:
        super().__init__(vcpus)
        self.dir, self.v2 = directory, v2
        quota = max(1000, int(round(vcpus * period_us)))
        directory.mkdir()
        # a cgroup competes with other work by its group weight, not its tasks' niceness:
        # weigh it like a nice -10 task so other load on a shared host disturbs it less
        if v2:
            (directory / "cpu.weight").write_text("1000")
            (directory / "cpu.max").write_text(f"{quota} {period_us}")
            self.method = f"cgroup v2 cpu.max ({quota} us per {period_us} us period)"
        else:
            (directory / "cpu.shares").write_text("9548")
            (directory / "cpu.cfs_period_us").write_text(str(period_us))
            (directory / "cpu.cfs_quota_us").write_text(str(quota))
            self.method = f"cgroup v1 cpu.cfs_quota_us ({quota} us per {period_us} us period)"
        self._procs = str(directory / "cgroup.procs")

    def preexec(self) -> None:
        with open(self._procs, "w") as fh:
            fh.write(str(os.getpid()))

    def close(self) -> None:
        for _ in range(50):  # the child may still be exiting
            try:
                self.dir.rmdir()
                return
            except OSError:
                time.sleep(0.05)


class SignalLimit(CpuLimit):
    """Duty cycle by SIGSTOP/SIGCONT, metered from /proc/<pid>/task/*/schedstat (ns)."""

    WINDOW_S = 0.02

    def __init__(self, vcpus: float) -> None:
        super().__init__(vcpus)
        self.method = f"SIGSTOP/SIGCONT duty cycle ({vcpus:.3f} vCPU per {self.WINDOW_S * 1e3:.0f} ms window)"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def attach(self, pid: int) -> None:
        self._thread = threading.Thread(target=self._loop, args=(pid,), daemon=True)
        self._thread.start()

    def _loop(self, pid: int) -> None:
        budget_ns = self.vcpus * self.WINDOW_S * 1e9
        while not self._stop.is_set():
            start, used0 = time.monotonic(), _cpu_ns(pid)
            if used0 is None:
                return
            while time.monotonic() - start < self.WINDOW_S:
                used = _cpu_ns(pid)
                if used is None:
                    return
                if used - used0 >= budget_ns:
                    _signal(pid, signal.SIGSTOP)
                    time.sleep(max(0.0, self.WINDOW_S - (time.monotonic() - start)))
                    break
                time.sleep(0.001)
            _signal(pid, signal.SIGCONT)

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=1)


def _cpu_ns(pid: int) -> int | None:
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _writable_cgroup() -> tuple[Path, bool] | None:
    v2 = CGROUP_ROOT / "cgroup.controllers"
    if v2.is_file() and "cpu" in v2.read_text().split() and os.access(CGROUP_ROOT, os.W_OK):
        return CGROUP_ROOT, True
    v1 = CGROUP_ROOT / "cpu"
    if (v1 / "cpu.cfs_quota_us").is_file() and os.access(v1, os.W_OK):
        return v1, False
    return None


def limiter_factory(host_cpus: int, force: str = "auto",
                    period_us: int = PERIOD_US) -> tuple[Callable[[float], CpuLimit], str]:
    """A constructor for limits of ``vcpus`` and the method's name for the report."""
    found = _writable_cgroup() if force in ("auto", "cgroup") else None
    if found:
        root, v2 = found

        def make(vcpus: float) -> CpuLimit:
            # the whole host still gets its own weighted group, so every size competes alike
            return CgroupLimit(min(vcpus, host_cpus), root / f"snlp-cost-{uuid.uuid4().hex[:8]}", v2, period_us)
        return make, (("cgroup v2 cpu.max" if v2 else "cgroup v1 cpu.cfs_quota_us")
                      + f" CFS bandwidth quota, {period_us / 1000:g} ms period")
    if force == "cgroup":
        raise RuntimeError("no writable cgroup cpu controller here; use --cpu-limit signal")

    def make_signal(vcpus: float) -> CpuLimit:
        return CpuLimit(vcpus) if vcpus >= host_cpus else SignalLimit(vcpus)
    return make_signal, "SIGSTOP/SIGCONT duty cycle metered by /proc schedstat"


def run_limited(argv: list[str], limit: CpuLimit, *, nice: int = 0, timeout: float | None = None,
                **popen: Any) -> int:
    """Run ``argv`` in a child held to ``limit`` (it joins the cgroup before exec), at niceness
    ``nice`` where allowed; returns its exit status. The limit is closed afterwards."""
    def preexec() -> None:  # runs in the child between fork and exec
        if nice:
            try:
                os.nice(nice)
            except OSError:  # not root: run at normal priority
                pass
        limit.preexec()
    with limit:
        proc = subprocess.Popen(argv, preexec_fn=preexec, **popen)
        limit.attach(proc.pid)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise


__all__ = ["CpuLimit", "CgroupLimit", "SignalLimit", "limiter_factory", "run_limited"]
