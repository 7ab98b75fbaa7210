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


# Measured (`make bench`, threads section: bench/threads.py, both int8 models under these CPU
# shares): a second intra-op thread does not pay at 1,770-2,048 MB (1.0-1.16 vCPU: 0.8-1.0x of one
# thread; the two threads spend the CFS quota twice as fast) and does at 3,008 MB (1.7 vCPU). The
# quiet-host sweep of 2026-12-01 agrees: sentiment int8 through the handler, 1/8/32 texts, 1,769 MB
# and 1 thread 11.4/44.3/125.7 ms, 2,048 MB and 2 threads 12.0/44.2/120.5 ms, 3,008 MB and 2 threads
# 12.3/29.8/79.3 ms. The bench section states where its table puts this line.
TWO_THREADS_FROM_MB = 3008


def thread_count(memory_mb: int, host_cpus: int = HOST_CPUS) -> int:
    """The inference thread count: 1 below TWO_THREADS_FROM_MB (measured), from there one per core
    the function sees (a second from 1,770 MB), capped at the host's cores."""
    if memory_mb < TWO_THREADS_FROM_MB:
        return 1
    return max(1, min(math.ceil(memory_mb / FULL_VCPU_MB), host_cpus))


def round_up_memory(needed_mb: float, grid: tuple[int, ...] | list[int] = MEMORY_GRID,
                    headroom: float = 0.10) -> int:
    """The smallest size in ``grid`` holding ``needed_mb`` plus ``headroom`` (Lambda kills at the limit)."""
    target = needed_mb * (1.0 + headroom)
    for size in sorted(grid):
        if size >= target:
            return int(size)
    raise ValueError(f"{needed_mb:.0f} MB (+{headroom:.0%}) does not fit the largest measured size {max(grid)} MB")


__all__ = ["FULL_VCPU_MB", "TWO_THREADS_FROM_MB", "MEMORY_GRID", "MIN_MEMORY_MB", "MAX_MEMORY_MB", "vcpu_share",
           "thread_count", "round_up_memory", "HOST_CPUS"]
