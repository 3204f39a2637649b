"""wrk: install it if missing, run it with a Lua script, parse the JSON its ``done()`` prints.

wrk (C, epoll, LuaJIT) is the load generator of the public benchmark issue 6 compares
against; one Lua script per scenario and target gives random real requests per call.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

MARKER = "BENCH-JSON "


class WrkError(RuntimeError):
    """wrk could not be installed or did not report its summary."""


def ensure_wrk(log=print) -> str:
    """Return the wrk executable, installing Debian's package non-interactively if missing."""
    found = shutil.which("wrk")
    if found:
        return found
    log("wrk not found: installing it with apt-get (Debian package 'wrk', non-interactive)")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        proc = subprocess.run(sudo + cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise WrkError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")
    found = shutil.which("wrk")
    if not found:
        raise WrkError("apt-get installed wrk but it is not on PATH")
    return found


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: latency percentiles in ms, throughput, and error counts."""

    connections: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float | None  # None when no request completed
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    non_2xx: int
    socket_errors: int  # connect + read + write + timeout

    def to_dict(self) -> dict:
        return asdict(self)


def run_wrk(
    wrk: str,
    url: str,
    script: Path,
    *,
    connections: int,
    threads: int,
    duration_s: float,
    timeout_s: float = 10.0,
) -> WrkResult:
    """Run wrk against ``url`` for ``duration_s`` seconds and return its parsed summary."""
    threads = max(1, min(threads, connections))
    cmd = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",  # wrk takes whole seconds
        f"--timeout={timeout_s:g}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 60)
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            return _parse(json.loads(line[len(MARKER) :]), connections)
    raise WrkError(f"wrk gave no summary (rc={proc.returncode}): {proc.stdout}{proc.stderr}")


def _parse(raw: dict, connections: int) -> WrkResult:
    duration_s = raw["duration_us"] / 1e6
    errors = raw["errors"]

    def ms(key: str) -> float | None:
        return raw[key] / 1000 if raw["requests"] else None

    return WrkResult(
        connections=connections,
        duration_s=round(duration_s, 3),
        requests=raw["requests"],
        rps=round(raw["requests"] / duration_s, 1) if duration_s else 0.0,
        p50_ms=ms("p50_us"),
        p95_ms=ms("p95_us"),
        p99_ms=ms("p99_us"),
        max_ms=ms("max_us"),
        non_2xx=errors["status"],
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
    )


def merge(rounds: list[WrkResult]) -> WrkResult:
    """Several short runs as one: summed counts, overall rps, median of each percentile."""

    def median(field: str) -> float | None:
        values = sorted(v for r in rounds if (v := getattr(r, field)) is not None)
        return values[len(values) // 2] if values else None

    requests = sum(r.requests for r in rounds)
    duration_s = sum(r.duration_s for r in rounds)
    return WrkResult(
        connections=rounds[0].connections,
        duration_s=round(duration_s, 3),
        requests=requests,
        rps=round(requests / duration_s, 1) if duration_s else 0.0,
        p50_ms=median("p50_ms"),
        p95_ms=median("p95_ms"),
        p99_ms=median("p99_ms"),
        max_ms=max((r.max_ms for r in rounds if r.max_ms is not None), default=None),
        non_2xx=sum(r.non_2xx for r in rounds),
        socket_errors=sum(r.socket_errors for r in rounds),
    )
