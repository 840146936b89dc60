"""How many processes a sweep uses when ``--workers`` is not given: decided by the work and the cores.

The rule (README, "Scanning at scale", states the same and a test holds them together):
one process for every ``PROBES_PER_PROCESS`` probes of the sweep (its estimated probes,
rounded down, at least one), but no more processes than the cores this process may run on,
and no more than ``MAX_WORKERS``. A worker forked after the imports and the root bundle costs
a few milliseconds to start (``forked.py``), so it pays for itself on a few hundred endpoints;
below that, one process is faster than two and the pipes between them.
"""

from __future__ import annotations

import os

DEFAULT_CONCURRENCY = 512  # sockets in flight, shared by all worker processes
MAX_WORKERS = 64
PROBES_PER_PROCESS = 400


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask, where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers(probes: int, cores: int | None = None) -> int:
    """The number of processes for a sweep of ``probes`` estimated probes on ``cores`` cores."""
    cores = usable_cores() if cores is None else cores
    return max(1, min(probes // PROBES_PER_PROCESS, cores, MAX_WORKERS))
