"""Peak resident memory of the current process, for the benchmarks' subprocesses."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident set in MB.

    Reads ``VmHWM`` from ``/proc/self/status``, which belongs to the process's own address
    space: Linux carries ``ru_maxrss`` across ``exec``, so a subprocess of a large parent (say
    ``run_all`` after an in-process benchmark) would report the parent's peak instead.
    ``ru_maxrss`` is the fallback where ``/proc`` is absent.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
