"""Facts about the machine and run, recorded beside the numbers so they can be compared."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _wrk_version(wrk: str) -> str:
    proc = subprocess.run([wrk, "-v"], capture_output=True, text=True)
    return (proc.stdout + proc.stderr).strip().splitlines()[0] if proc.stdout + proc.stderr else ""


def describe(wrk: str) -> dict:
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "wrk": _wrk_version(wrk),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def cpu_busy_s() -> float:
    """Non-idle CPU seconds of the whole machine since boot (all cores, /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU seconds of this process and its waited-for children (every wrk run)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class OtherLoad:
    """How many cores *other* processes used during a phase: the noise in this run.

    The machine's busy time, minus the servers under test, minus the harness and wrk.
    """

    def __init__(self, server_cpu) -> None:
        self.server_cpu = server_cpu  # () -> CPU seconds of every server tree
        self.cores = 0.0

    def __enter__(self) -> OtherLoad:
        self.t0, self.busy0 = time.perf_counter(), cpu_busy_s()
        self.ours0, self.srv0 = own_cpu_s(), self.server_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.t0
        others = (cpu_busy_s() - self.busy0) - (own_cpu_s() - self.ours0)
        others -= self.server_cpu() - self.srv0
        self.cores = round(max(others, 0.0) / wall, 2) if wall else 0.0
