"""The cores this process may use: one answer for every part that sizes its work to the
machine (Dask's local workers, the duplicate checks' worker processes, a model's threads).

The CPU affinity where the OS tells it: a container or ``taskset`` may allow fewer cores
than the machine has, and work sized to ``os.cpu_count()`` would then fight over them.
"""

from __future__ import annotations

import os


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)
