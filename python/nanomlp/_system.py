"""Facts about the machine this process runs on, counted one way for the whole package."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one), at least 1.

    Not ``os.cpu_count()``: a container or ``taskset`` may allow fewer CPUs than the machine has.
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1
