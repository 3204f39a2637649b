"""Memory of a server's process tree from /proc: RSS (what issue 6 asks) and PSS (fair share).

uvicorn with ``--workers N`` is a supervisor plus N spawned workers; summing RSS counts
pages the processes share (libraries) once per process, so PSS is reported beside it.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Memory:
    processes: int
    rss_mb: float
    pss_mb: float
    largest_rss_mb: float = 0.0  # the biggest single process (a worker)


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (read from /proc/*/stat parent ids)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def _kb(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(pid: int) -> Memory:
    """Summed RSS and PSS (MB) of ``pid`` and its descendants."""
    pids = [p for p in descendants(pid) if os.path.exists(f"/proc/{p}")]
    each = [_kb(Path(f"/proc/{p}/status"), "VmRSS:") for p in pids]
    pss = sum(_kb(Path(f"/proc/{p}/smaps_rollup"), "Pss:") for p in pids)
    mb = [round(kb / 1024, 1) for kb in (sum(each), pss, max(each, default=0))]
    return Memory(len(pids), *mb)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` and its descendants."""
    ticks = 0
    for p in descendants(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_idle(
    pid: int, timeout_s: float = 30.0, window_s: float = 0.1, busy: float = 0.15
) -> float:
    """Wait until the tree uses under ``busy`` of a core over a window; seconds waited.

    After wrk stops, a slow server still works through the requests already queued; the
    next measurement must not start before it is done.
    """
    start = time.perf_counter()
    before = cpu_seconds(pid)
    while time.perf_counter() - start < timeout_s:
        time.sleep(window_s)
        now = cpu_seconds(pid)
        if now - before < busy * window_s:
            break
        before = now
    return round(time.perf_counter() - start, 2)


class PeakSampler:
    """Samples a process tree's memory in a thread; keeps the peak (for RSS under load)."""

    def __init__(self, pid: int, interval_s: float = 0.25) -> None:
        self.pid, self.interval_s = pid, interval_s
        self.peak = Memory(0, 0.0, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            m = tree_memory(self.pid)
            if m.rss_mb > self.peak.rss_mb:
                self.peak = m

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
