"""``python -m bench.soak``: a long mixed load on a 2-worker server, with one worker killed
(SIGKILL) and a release loaded while it runs (issue 12).

What it does, in order:

1. a fresh store under bench/.work/soak/ with the 2019 and 2020 releases of data/releases,
   loaded with `hcpcs-tx load`; the server `hcpcs-tx --db <store> serve --workers 2` as in
   production (reloading on: it must pick the midway release up by itself);
2. mixed load from 50 keep-alive connections (an asyncio HTTP/1.1 client on uvloop, light
   enough to share the machine with the server): the benchmark's real requests — lookups,
   validations (right and wrong displays), typeahead and paged expansions, translations,
   1,000-code batches, unknown codes (a 4xx is their right answer), R5 lookups, and rarely a
   search returning every HCPCS CodeSystem (17 MB) — drawn at random with fixed weights;
3. at a third of the run, one worker is sent SIGKILL; the supervisor must start another;
4. at two thirds, `hcpcs-tx load` stores another release (2020-04, a superset of 2020-01);
   every worker must switch to it by itself within seconds, without failing a request.

It reports requests, throughput, errors (dropped connections and 5xx; answers of the wrong
class apart), p50 / p99 latency, the server's RSS at start and end (and per worker), the
recovery after the kill (replacement process, its first log line, the last failed request)
and how long the release took to reach every worker; per-minute figures; JSON + markdown
in bench/results/soak-YYYY-MM-DD.{json,md}. Exit code 1 when a request failed outside the
kill, or the worker was not replaced, or the release never reached every worker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.corpus import HCPCS_URL, fetch_corpus
from bench.lua import Request
from bench.procfs import descendants, tree_memory, wait_idle
from bench.scenarios import Scenario, build
from bench.servers import Server, free_port

ROOT = Path(__file__).resolve().parents[1]
RELEASES = ROOT / "data" / "releases"
STARTING = (
    RELEASES / "2019-Alpha-Numeric-HCPCS-File.zip",
    RELEASES / "2020-Alpha-Numeric-HCPCS-File.zip",
)
MIDWAY = RELEASES / "2020-04" / "anweb.xlsx"
MIDWAY_VERSION = "2020-04"
KILL_WINDOW_S = 10.0  # failures this soon after the SIGKILL are the kill's (requests in flight)
REQUEST_TIMEOUT_S = 30.0

# scenario id -> share of the requests (the rest of bench.scenarios is not used here)
WEIGHTS = {
    "LK01": 24,
    "LK01-r5": 6,
    "LK05": 5,
    "VC01": 14,
    "VC02": 10,
    "VC03": 5,
    "EX03": 14,
    "EX05": 8,
    "EX08": 7,
    "CM01": 5,
    "BV01": 0.4,  # 1,000 codes each: at 1.5 they took most of the workers' time
    "SS01": 0.02,  # 17 MB each
}


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Pool:
    """A scenario's requests, prepared as the bytes sent, and the class of a right answer."""

    id: str
    requests: list[bytes]
    expect_error: bool


def _prepared(request: Request, host: str) -> bytes:
    head = f"{request.method} {request.path} HTTP/1.1\r\nHost: {host}\r\n"
    head += "Accept: application/fhir+json\r\n"
    body = request.body or b""
    if request.body is not None:
        head += f"Content-Type: {request.content_type or 'application/fhir+json'}\r\n"
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def pools(scenarios: list[Scenario], host: str) -> list[Pool]:
    by_id = {s.id: s for s in scenarios if not s.skip and s.requests}
    found = []
    for id_, weight in WEIGHTS.items():
        source = by_id.get(id_.removesuffix("-r5"))
        if source is None or weight <= 0:
            continue
        requests = source.requests
        if id_.endswith("-r5"):
            requests = [
                Request(r.method, r.path.replace("/r4/", "/r5/", 1), r.body, r.content_type)
                for r in requests
            ]
        found.append(Pool(id_, [_prepared(r, host) for r in requests], source.expect_error))
    return found


# --- the load ----------------------------------------------------------------------------------


@dataclass
class Second:
    """What happened in one second of the run."""

    requests: int = 0
    errors: int = 0  # no answer (connection refused / reset / timeout) or a 5xx
    wrong_class: int = 0  # a 2xx where a 4xx is right, or the reverse
    latencies: list[float] = field(default_factory=list)


@dataclass
class Load:
    pools: list[Pool]
    weights: list[float]
    port: int
    started: float = 0.0
    stop: bool = False
    seconds: dict[int, Second] = field(default_factory=dict)
    latencies: array = field(default_factory=lambda: array("d"))
    errors: Counter = field(default_factory=Counter)
    error_times: list[float] = field(default_factory=list)
    by_pool: Counter = field(default_factory=Counter)
    pool_latencies: dict[str, array] = field(default_factory=dict)

    def second(self, at: float) -> Second:
        key = int(at - self.started)
        found = self.seconds.get(key)
        if found is None:
            found = self.seconds[key] = Second()
        return found

    def record(self, pool: Pool, latency: float, status: int | None, error: str | None) -> None:
        now = time.monotonic()
        bucket = self.second(now)
        bucket.requests += 1
        self.by_pool[pool.id] += 1
        if error is not None or (status is not None and status >= 500):
            bucket.errors += 1
            self.errors[error or f"HTTP {status}"] += 1
            self.error_times.append(now - self.started)
            return
        bucket.latencies.append(latency)
        self.latencies.append(latency)
        self.pool_latencies.setdefault(pool.id, array("d")).append(latency)
        if status is not None and (status >= 400) != pool.expect_error:
            bucket.wrong_class += 1

    async def connection(self, rng: random.Random) -> None:
        """One client connection for the whole run: a request, its answer, the next one;
        reconnected after a failure. An asyncio Protocol (callbacks, no coroutine per
        request): cheap enough that one client core drives two server workers."""
        loop = asyncio.get_running_loop()
        while not self.stop:
            finished = loop.create_future()
            try:
                await loop.create_connection(
                    lambda f=finished: _Exchange(self, rng, f), "127.0.0.1", self.port
                )
            except OSError as error:
                self.record(self.pools[0], 0.0, None, f"connect: {type(error).__name__}")
                await asyncio.sleep(0.05)
                continue
            await finished  # the connection is gone (closed by either side)
            if not self.stop:
                await asyncio.sleep(0.01)


class _Exchange(asyncio.Protocol):
    """Requests and answers in turn on one connection (HTTP/1.1 keep-alive, no pipelining)."""

    def __init__(self, load: Load, rng: random.Random, finished: asyncio.Future) -> None:
        self.load, self.rng, self.finished = load, rng, finished
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.pool: Pool | None = None
        self.start = 0.0
        self.head: tuple[int, int, bool, bool] | None = None  # status, head length, ...
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._next()

    def _next(self) -> None:
        if self.load.stop:
            self.transport.close()
            return
        self.pool = self.rng.choices(self.load.pools, self.load.weights)[0]
        self.buffer.clear()
        self.head = None
        self.start = time.perf_counter()
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(REQUEST_TIMEOUT_S, self._timed_out)
        self.transport.write(self.rng.choice(self.pool.requests))

    def _timed_out(self) -> None:
        self._fail("Timeout")

    def _fail(self, what: str) -> None:
        if self.pool is not None:
            self.load.record(self.pool, time.perf_counter() - self.start, None, what)
            self.pool = None
        if self.timer:
            self.timer.cancel()
        self.transport.abort()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.head is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            try:
                self.head = _parse_head(bytes(self.buffer[: end + 4]))
            except ValueError:
                self._fail("BadResponse")
                return
        status, head_length, length, close = self.head
        if length >= 0:
            if len(self.buffer) < head_length + length:
                return
        elif not self.buffer.endswith(b"0\r\n\r\n"):  # chunked: wait for the last chunk
            return
        self.timer.cancel()
        self.load.record(self.pool, time.perf_counter() - self.start, status, None)
        self.pool = None
        if close:
            self.transport.close()
        else:
            self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pool is not None:  # a request in flight: it failed
            what = type(exc).__name__ if exc else "ConnectionClosed"
            self.load.record(self.pool, time.perf_counter() - self.start, None, what)
            self.pool = None
        if self.timer:
            self.timer.cancel()
        if not self.finished.done():
            self.finished.set_result(None)


def _parse_head(head: bytes) -> tuple[int, int, int, bool]:
    """(status, head length, body length or -1 when chunked, whether the server closes)."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            length = -1
        elif name == b"connection" and b"close" in value.lower():
            close = True
    return status, len(head), length, close


# --- watching the server ---------------------------------------------------------------------


def workers(server: Server) -> list[int]:
    assert server.proc is not None
    return [p for p in descendants(server.proc.pid) if p != server.proc.pid and _spawned(p)]


def _spawned(pid: int) -> bool:
    try:
        line = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"multiprocessing" in line and b"resource_tracker" not in line


def _worker_rss(pids: list[int]) -> dict[str, float]:
    found = {}
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    found[str(pid)] = round(int(line.split()[1]) / 1024, 1)
        except OSError:
            pass
    return found


@dataclass
class Events:
    kill_at_s: float | None = None
    killed_pid: int | None = None
    replacement_pid: int | None = None
    replacement_after_s: float | None = None  # the new process exists
    replacement_ready_after_s: float | None = None  # it logged "worker started"
    load_at_s: float | None = None
    load_seconds: float | None = None
    load_output: str = ""
    release_everywhere_after_s: float | None = None  # after the load command finished
    version_polls: list[tuple[float, str]] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)


async def watch(load: Load, server: Server, events: Events, minutes: float) -> None:
    """Once a second: memory and workers; every 100 ms around the kill: the replacement."""
    known = set(workers(server))
    while not load.stop:
        now = time.monotonic() - load.started
        current = workers(server)
        memory = tree_memory(server.proc.pid) if server.proc else None
        events.samples.append(
            {
                "t": round(now, 1),
                "rss_mb": memory.rss_mb if memory else None,
                "pss_mb": memory.pss_mb if memory else None,
                "workers": _worker_rss(current),
            }
        )
        new = [p for p in current if p not in known]
        if new and events.kill_at_s is not None and events.replacement_pid is None:
            events.replacement_pid = new[0]
            events.replacement_after_s = round(now - events.kill_at_s, 2)
            log(f"replacement worker pid {new[0]} after {events.replacement_after_s} s")
        known |= set(current)
        if events.replacement_pid and events.replacement_ready_after_s is None:
            ready = _logged_start(server, events.replacement_pid)
            if ready:
                events.replacement_ready_after_s = round(now - events.kill_at_s, 2)
                log(f"replacement worker serving after {events.replacement_ready_after_s} s")
        near_kill = events.kill_at_s is not None and events.replacement_ready_after_s is None
        await asyncio.sleep(0.1 if near_kill else 1.0)


def _logged_start(server: Server, pid: int) -> bool:
    text = server.log_tail(200_000)
    return any(f"[pid {pid}]" in line and "worker started" in line for line in text.splitlines())


async def kill_one(load: Load, server: Server, events: Events, at_s: float) -> None:
    await asyncio.sleep(max(0.0, at_s - (time.monotonic() - load.started)))
    found = workers(server)
    if not found:
        log("no worker to kill (is the server running one process?)")
        return
    victim = found[-1]
    events.killed_pid = victim
    events.kill_at_s = round(time.monotonic() - load.started, 2)
    os.kill(victim, signal.SIGKILL)
    log(f"SIGKILL worker pid {victim} at {events.kill_at_s} s")


async def load_release(load: Load, db: Path, release: Path, events: Events, at_s: float) -> None:
    await asyncio.sleep(max(0.0, at_s - (time.monotonic() - load.started)))
    events.load_at_s = round(time.monotonic() - load.started, 2)
    log(f"hcpcs-tx load {release.name} at {events.load_at_s} s")
    command = [
        str(Path(sys.executable).with_name("hcpcs-tx")),
        "--db",
        str(db),
        "load",
        str(release),
    ]
    start = time.monotonic()
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
    events.load_seconds = round(time.monotonic() - start, 2)
    events.load_output = (done.stdout + done.stderr).strip()[-2000:]
    log(f"load finished in {events.load_seconds} s (exit {done.returncode})")


async def poll_version(load: Load, port: int, events: Events) -> None:
    """Which release answers by default, asked on a new connection (so on either worker)
    every 200 ms."""
    request = (
        f"GET /r4/CodeSystem/$lookup?system={HCPCS_URL}&code=J0120 HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nConnection: close\r\n\r\n"
    ).encode()
    while not load.stop:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            body = data.split(b"\r\n\r\n", 1)[-1]
            answer = json.loads(body)
            version = next(
                (
                    p.get("valueString")
                    for p in answer.get("parameter", [])
                    if p.get("name") == "version"
                ),
                "?",
            )
        except (TimeoutError, OSError, ValueError):
            version = "error"
        events.version_polls.append((round(time.monotonic() - load.started, 2), version))
        await asyncio.sleep(0.2)


async def drive(
    load: Load, server: Server, events: Events, db: Path, settings: argparse.Namespace
) -> None:
    duration = settings.minutes * 60
    rng = random.Random(settings.seed)
    load.started = time.monotonic()
    tasks = [
        asyncio.create_task(load.connection(random.Random(rng.random())))
        for _ in range(settings.connections)
    ]
    side = [
        asyncio.create_task(watch(load, server, events, settings.minutes)),
        asyncio.create_task(poll_version(load, server.port, events)),
    ]
    if settings.kill_at > 0:
        side.append(
            asyncio.create_task(kill_one(load, server, events, duration * settings.kill_at))
        )
    if settings.load_at > 0:
        side.append(
            asyncio.create_task(
                load_release(load, db, Path(settings.release), events, duration * settings.load_at)
            )
        )
    next_report = 60.0
    while (elapsed := time.monotonic() - load.started) < duration:
        await asyncio.sleep(min(1.0, duration - elapsed))
        if elapsed >= next_report:
            total = sum(s.requests for s in load.seconds.values())
            errors = sum(s.errors for s in load.seconds.values())
            log(f"{elapsed / 60:.0f} min: {total:,} requests, {errors} errors")
            next_report += 60.0
    load.stop = True
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in side:
        task.cancel()
    await asyncio.gather(*side, return_exceptions=True)


# --- the figures -------------------------------------------------------------------------------


def _percentile(ordered: list[float] | array, p: float) -> float | None:
    if not len(ordered):
        return None
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000, 2)


def _release_everywhere(events: Events) -> float | None:
    """Seconds from the end of the load command until every later poll saw the new release."""
    if events.load_at_s is None or events.load_seconds is None:
        return None
    done = events.load_at_s + events.load_seconds
    after = [(t, v) for t, v in events.version_polls if t >= events.load_at_s]
    if not after or after[-1][1] != MIDWAY_VERSION:
        return None
    last_old = max((t for t, v in after if v != MIDWAY_VERSION), default=done)
    return round(max(0.0, last_old - done) + 0.2, 2)


def figures(load: Load, events: Events, settings: argparse.Namespace, extra: dict) -> dict:
    duration = settings.minutes * 60
    latencies = sorted(load.latencies)
    requests = sum(s.requests for s in load.seconds.values())
    errors = sum(s.errors for s in load.seconds.values())
    wrong = sum(s.wrong_class for s in load.seconds.values())
    kill = events.kill_at_s
    in_kill = [
        t for t in load.error_times if kill is not None and kill <= t <= kill + KILL_WINDOW_S
    ]
    outside = len(load.error_times) - len(in_kill)
    last_after_kill = round(max(in_kill) - kill, 2) if in_kill and kill is not None else None
    recovery = None
    if events.replacement_ready_after_s is not None:
        recovery = max(events.replacement_ready_after_s, last_after_kill or 0.0)
    samples = [s for s in events.samples if s["rss_mb"] is not None]
    minutes = []
    for minute in range(int(-(-duration // 60))):
        seconds = [
            load.seconds[k] for k in range(minute * 60, minute * 60 + 60) if k in load.seconds
        ]
        lat = sorted(x for s in seconds for x in s.latencies)
        rss = [s["rss_mb"] for s in samples if minute * 60 <= s["t"] < minute * 60 + 60]
        minutes.append(
            {
                "minute": minute + 1,
                "requests": sum(s.requests for s in seconds),
                "errors": sum(s.errors for s in seconds),
                "wrong_class": sum(s.wrong_class for s in seconds),
                "p50_ms": _percentile(lat, 50),
                "p99_ms": _percentile(lat, 99),
                "rss_mb_end": rss[-1] if rss else None,
            }
        )
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join(["python -m bench.soak", *sys.argv[1:]]),
        "settings": {
            "minutes": settings.minutes,
            "connections": settings.connections,
            "workers": settings.workers,
            "kill_at_s": round(duration * settings.kill_at, 1) if settings.kill_at > 0 else None,
            "load_at_s": round(duration * settings.load_at, 1) if settings.load_at > 0 else None,
            "release": Path(settings.release).name,
            "seed": settings.seed,
            "weights": WEIGHTS,
        },
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "requests": requests,
        "rps": round(requests / duration, 1) if duration else None,
        "errors": errors,
        "errors_by_kind": dict(load.errors),
        "errors_in_kill_window": len(in_kill),
        "errors_outside_kill_window": outside,
        "wrong_class": wrong,
        "latency_ms": {
            "p50": _percentile(latencies, 50),
            "p95": _percentile(latencies, 95),
            "p99": _percentile(latencies, 99),
            "p999": _percentile(latencies, 99.9),
            "max": round(latencies[-1] * 1000, 1) if latencies else None,
        },
        "scenarios": {
            id_: {
                "requests": load.by_pool[id_],
                "p50_ms": _percentile(sorted(load.pool_latencies.get(id_, [])), 50),
                "p99_ms": _percentile(sorted(load.pool_latencies.get(id_, [])), 99),
            }
            for id_ in load.by_pool
        },
        "rss_mb": {
            "start": extra["rss_start"],
            "end": extra["rss_end"],
            "max": max([s["rss_mb"] for s in samples] + [extra["rss_end"]]),
            "workers_start": extra["workers_start"],
            "workers_end": extra["workers_end"],
        },
        "kill": {
            "at_s": kill,
            "pid": events.killed_pid,
            "replacement_pid": events.replacement_pid,
            "replacement_process_after_s": events.replacement_after_s,
            "replacement_serving_after_s": events.replacement_ready_after_s,
            "last_failed_request_after_s": last_after_kill,
            "recovery_s": recovery,
        },
        "release_load": {
            "at_s": events.load_at_s,
            "command_s": events.load_seconds,
            "every_worker_serving_it_after_s": _release_everywhere(events),
            "output": events.load_output,
        },
        "minutes": minutes,
    }


def verdict(result: dict, settings: argparse.Namespace) -> list[str]:
    problems = []
    if result["errors_outside_kill_window"]:
        problems.append(
            f"{result['errors_outside_kill_window']} failed request(s) outside the kill"
        )
    if settings.kill_at > 0 and result["kill"]["replacement_serving_after_s"] is None:
        problems.append("the killed worker was not replaced by a serving one")
    if settings.load_at > 0 and result["release_load"]["every_worker_serving_it_after_s"] is None:
        problems.append(f"release {MIDWAY_VERSION} did not reach every worker")
    return problems


def _pids(rss: dict[str, float]) -> str:
    return ", ".join(f"{pid}: {mb:.0f} MB" for pid, mb in rss.items()) or "-"


def markdown(result: dict, problems: list[str]) -> str:
    s, lat, rss, kill, rel = (
        result["settings"],
        result["latency_ms"],
        result["rss_mb"],
        result["kill"],
        result["release_load"],
    )
    lines = [
        f"# Soak {result['date_utc'][:10]}",
        "",
        f"`{result['command']}` — {s['minutes']:g} min, {s['connections']} connections, "
        f"{s['workers']} workers, {result['machine']['cpus']} cores, Python "
        f"{result['machine']['python']}; SIGKILL of one worker at {s['kill_at_s']} s, "
        f"`hcpcs-tx load {s['release']}` at {s['load_at_s']} s.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| requests | {result['requests']:,} ({result['rps']:,} per second) |",
        f"| errors (no answer or 5xx) | {result['errors']} "
        f"({result['errors_in_kill_window']} in the {KILL_WINDOW_S:g} s after the kill, "
        f"{result['errors_outside_kill_window']} outside) |",
        f"| answers of the wrong class | {result['wrong_class']} |",
        f"| latency p50 / p95 / p99 / max | {lat['p50']} / {lat['p95']} / {lat['p99']} / "
        f"{lat['max']} ms |",
        f"| RSS start → end (server tree) | {rss['start']} → {rss['end']} MB (max {rss['max']}) |",
        f"| RSS per worker (pid: MB) start → end | {_pids(rss['workers_start'])} → "
        f"{_pids(rss['workers_end'])} |",
        f"| killed worker replaced (process / serving) | {kill['replacement_process_after_s']} s /"
        f" {kill['replacement_serving_after_s']} s |",
        f"| last failed request after the kill | {kill['last_failed_request_after_s']} s |",
        f"| recovery time after the kill | {kill['recovery_s']} s |",
        f"| release load (command) | {rel['command_s']} s |",
        f"| every worker serving the new release after | {rel['every_worker_serving_it_after_s']}"
        " s |",
        "",
        f"Errors by kind: {result['errors_by_kind'] or 'none'}.",
        "",
        "| minute | requests | errors | wrong class | p50 ms | p99 ms | RSS MB (end) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in result["minutes"]:
        lines.append(
            f"| {m['minute']} | {m['requests']:,} | {m['errors']} | {m['wrong_class']} | "
            f"{m['p50_ms']} | {m['p99_ms']} | {m['rss_mb_end']} |"
        )
    lines += ["", "| scenario | share | requests | p50 ms | p99 ms |", "|---|---:|---:|---:|---:|"]
    for id_, row in sorted(result["scenarios"].items()):
        share = result["settings"]["weights"].get(id_, 0)
        lines.append(
            f"| {id_} | {share:g} | {row['requests']:,} | {row['p50_ms']} | {row['p99_ms']} |"
        )
    lines += ["", "Verdict: " + ("pass" if not problems else "FAIL — " + "; ".join(problems)), ""]
    return "\n".join(lines)


# --- the run -----------------------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the run (10)")
    ap.add_argument("--connections", type=int, default=50, help="client connections (50)")
    ap.add_argument("--workers", type=int, default=2, help="server workers (2)")
    ap.add_argument("--kill-at", type=float, default=1 / 3, help="fraction of the run (0: none)")
    ap.add_argument("--load-at", type=float, default=2 / 3, help="fraction of the run (0: none)")
    ap.add_argument("--release", default=str(MIDWAY), help="the release loaded midway")
    ap.add_argument("--only", default="", help="comma-separated scenario ids (default: the mix)")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / ".work" / "soak")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    settings = parse(sys.argv[1:] if argv is None else argv)
    work = settings.work
    work.mkdir(parents=True, exist_ok=True)
    db = work / "store.sqlite3"
    for stale in work.glob("store.sqlite3*"):
        stale.unlink()
    entry = str(Path(sys.executable).with_name("hcpcs-tx"))
    log(f"loading {', '.join(p.name for p in STARTING)} into {db}")
    done = subprocess.run(
        [entry, "--db", str(db), "load", *map(str, STARTING)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"hcpcs-tx load failed:\n{done.stdout}{done.stderr}")
    port = free_port()
    command = [entry, "--db", str(db), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(settings.workers)]
    env = {"HCPCS_TX_RELOAD_SECONDS": os.environ.get("HCPCS_TX_RELOAD_SECONDS", "2")}
    with Server("soak-server", command, port, work, env) as server:
        server.wait_answer(
            f"/r4/CodeSystem/$lookup?system={HCPCS_URL}&code=J0120", 120, ok_only=True
        )
        deadline = time.monotonic() + 60
        while len(workers(server)) < settings.workers and time.monotonic() < deadline:
            time.sleep(0.2)
        log(f"server up on port {port}: workers {workers(server)}; reading the corpus")
        corpus = fetch_corpus(server.base, "/r4")
        chosen = pools(build(corpus), f"127.0.0.1:{port}")
        if settings.only:
            chosen = [p for p in chosen if p.id in settings.only.split(",")]
        weights = [WEIGHTS[p.id] for p in chosen]
        log(f"pools: {', '.join(f'{p.id} ({len(p.requests)})' for p in chosen)}")
        wait_idle(server.proc.pid, timeout_s=30)
        start_memory = tree_memory(server.proc.pid)
        extra = {"rss_start": start_memory.rss_mb, "workers_start": _worker_rss(workers(server))}
        load = Load(chosen, weights, port)
        events = Events()
        log(
            f"{settings.minutes:g} min at {settings.connections} connections; kill at "
            f"{settings.kill_at:.2f}, load at {settings.load_at:.2f} of the run"
        )
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:  # pragma: no cover - uvicorn[standard] brings it
            runner = asyncio.run
        runner(drive(load, server, events, db, settings))
        wait_idle(server.proc.pid, timeout_s=30)
        extra["rss_end"] = tree_memory(server.proc.pid).rss_mb
        extra["workers_end"] = _worker_rss(workers(server))
    result = figures(load, events, settings, extra)
    problems = verdict(result, settings)
    result["verdict"] = problems or "pass"
    settings.out.mkdir(parents=True, exist_ok=True)
    stem = settings.out / f"soak-{result['date_utc'][:10]}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    stem.with_suffix(".md").write_text(markdown(result, problems))
    print(markdown(result, problems))
    log(f"wrote {stem}.md and {stem}.json")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
