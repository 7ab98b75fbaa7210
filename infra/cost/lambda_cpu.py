"""How Lambda turns memory into CPU, and the memory sizes the sweep measures.

AWS: "Lambda allocates CPU power in proportion to the amount of memory configured"; at
1,769 MB a function has the equivalent of one full vCPU. Above that it sees a second core
(the share keeps growing with memory). This host has few cores, so shares are capped there.
"""
from __future__ import annotations

import math
import os

FULL_VCPU_MB = 1769
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10240
MEMORY_GRID = (512, 1024, 1536, 1769, 2048, 3008, 4096)
HOST_CPUS = os.cpu_count() or 1


def vcpu_share(memory_mb: int, host_cpus: int = HOST_CPUS) -> float:
    """CPU capacity in vCPUs that Lambda gives at this memory size, capped at the host's cores."""
    return min(memory_mb / FULL_VCPU_MB, float(host_cpus))


def thread_count(memory_mb: int, host_cpus: int = HOST_CPUS) -> int:
    """Cores the function sees (one up to 1,769 MB, then a second): the inference thread count."""
    return max(1, min(math.ceil(memory_mb / FULL_VCPU_MB), host_cpus))


def round_up_memory(needed_mb: float, grid: tuple[int, ...] | list[int] = MEMORY_GRID,
                    headroom: float = 0.10) -> int:
    """The smallest size in ``grid`` holding ``needed_mb`` plus ``headroom`` (Lambda kills at the limit)."""
    target = needed_mb * (1.0 + headroom)
    for size in sorted(grid):
        if size >= target:
            return int(size)
    raise ValueError(f"{needed_mb:.0f} MB (+{headroom:.0%}) does not fit the largest measured size {max(grid)} MB")


__all__ = ["FULL_VCPU_MB", "MEMORY_GRID", "MIN_MEMORY_MB", "MAX_MEMORY_MB", "vcpu_share",
           "thread_count", "round_up_memory", "HOST_CPUS"]
