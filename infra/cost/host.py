"""Is this host quiet enough to measure on? Busy cores from /proc/stat, before and during a sweep.

The sweep emulates Lambda's CPU share with a quota; other work on the host still steals time
from the measured process (or its quota's refills). So a sweep refuses to start when other work
keeps more than ``MAX_BUSY_CORES`` busy, unless told to go on (then the file says so), and every
run records how busy the rest of the host was while it ran.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

MAX_BUSY_CORES = 0.25  # other work's CPU, in cores, above which a sweep is refused or flagged
SAMPLE_S = 3.0


def cpu_jiffies(stat: Path = Path("/proc/stat")) -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    fields = [int(x) for x in stat.read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


def busy_cores(before: tuple[int, int], after: tuple[int, int], cpus: int) -> float:
    busy, total = after[0] - before[0], after[1] - before[1]
    return cpus * busy / total if total > 0 else 0.0


@dataclass(frozen=True)
class HostCheck:
    busy_cores: float
    load_avg_1m: float
    cpus: int
    limit: float = MAX_BUSY_CORES

    @property
    def quiet(self) -> bool:
        return self.busy_cores <= self.limit

    def message(self) -> str:
        state = "quiet" if self.quiet else "BUSY"
        return (f"host {state}: other work kept {self.busy_cores:.2f} of {self.cpus} cores busy over "
                f"{SAMPLE_S:g} s (limit {self.limit:g}), load average {self.load_avg_1m:.2f}")

    def as_dict(self) -> dict:
        return {**asdict(self), "quiet": self.quiet}


def check(sample_s: float = SAMPLE_S, cpus: int | None = None, sleep=time.sleep) -> HostCheck:
    cpus = cpus or os.cpu_count() or 1
    before = cpu_jiffies()
    sleep(sample_s)
    return HostCheck(busy_cores(before, cpu_jiffies(), cpus), os.getloadavg()[0], cpus)


__all__ = ["HostCheck", "check", "busy_cores", "cpu_jiffies", "MAX_BUSY_CORES"]
