"""The whole run: load the store, start our server and the ceilings, drive every scenario.

Ours and both ceilings run side by side and each scenario is measured on all three back
to back, so a busy neighbour on this shared machine skews the ratios as little as possible.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bench import machine
from bench.ceiling import ENV, save_captures
from bench.corpus import HCPCS_URL, fetch_corpus
from bench.lua import lua_script
from bench.procfs import PeakSampler, cpu_seconds, wait_idle
from bench.scenarios import Scenario, build
from bench.servers import Server, free_port, uvicorn_cmd
from bench.verify import Checked, check
from bench.wrk import WrkResult, ensure_wrk, merge, run_wrk
from terminology.loader import shipped_releases

ROOT = Path(__file__).resolve().parents[1]
QUEUE_S = 0.5  # the most work (seconds) the throughput clients may queue in the server


@dataclass
class Settings:
    duration_s: float = 5.0
    warmup_s: float = 1.0
    connections: int = 50
    threads: int = 2
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    base: str = "/r4"
    releases: list[str] = field(default_factory=lambda: [str(p) for p in shipped_releases()])
    only: list[str] = field(default_factory=list)
    work: Path = ROOT / "bench/.work"
    out: Path = ROOT / "bench/results"
    readme: Path | None = ROOT / "README.md"
    command: str = "python -m bench"
    wait_cli_s: float = 0.0  # poll this long for `hcpcs-tx serve` (being written in parallel)
    first_code: str = "A0021"  # in every HCPCS release since the 1990s


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("hcpcs-tx")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "terminology.cli"]


def wait_for_cli(timeout_s: float) -> None:
    """The server CLI is being written in parallel: poll until ``hcpcs-tx serve`` exists."""
    deadline = time.monotonic() + timeout_s
    while True:
        proc = subprocess.run(_cli() + ["serve", "--help"], capture_output=True, text=True)
        if proc.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"`hcpcs-tx serve` is not available: {proc.stderr.strip()[-400:]}")
        log("waiting for `hcpcs-tx serve` to exist ...")
        time.sleep(15)


def load_store(s: Settings, db: Path) -> dict:
    """Fresh store: time loading the largest release alone, then load the others."""
    if not s.releases:
        raise SystemExit("no release files to load (data/releases/)")
    db.unlink(missing_ok=True)
    first = max(s.releases, key=os.path.getsize)
    rest = [r for r in s.releases if r != first]

    def timed_load(paths: list[str]) -> float:
        t0 = time.perf_counter()
        proc = subprocess.run(
            _cli() + ["--db", str(db), "load", *paths], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise SystemExit(f"hcpcs-tx load failed: {proc.stdout}{proc.stderr}")
        return round(time.perf_counter() - t0, 3)

    one = timed_load([first])
    log(f"loaded {Path(first).name} in {one} s")
    others = timed_load(rest) if rest else None
    return {
        "release": Path(first).name,
        "load_one_release_s": one,
        "load_rest_s": others,
        "releases": [_release_name(r) for r in s.releases],
        "store_mb": round(db.stat().st_size / 2**20, 1),
    }


def _release_name(path: str) -> str:
    """The file name, with its folder where the name alone says nothing (anweb.xlsx)."""
    file = Path(path)
    return f"{file.parent.name}/{file.name}" if file.name.lower() == "anweb.xlsx" else file.name


def ceilings(s: Settings, captures: Path) -> tuple[Server, Server]:
    """The minimal-FastAPI and bare-ASGI ceilings (not started), replaying ``captures``."""
    env = {ENV: str(captures), "PYTHONPATH": str(ROOT)}
    made = []
    for name in ("fastapi", "asgi"):
        port = free_port()
        cmd = uvicorn_cmd(f"bench.ceiling:{name}_app", port, s.workers)
        made.append(Server(name, cmd, port, s.work, env))
    return made[0], made[1]


def _errors(sc: Scenario, r: WrkResult) -> int:
    wrong = (r.requests - r.non_2xx) if sc.expect_error else r.non_2xx
    return wrong + r.socket_errors


@contextmanager
def exclusive(work: Path) -> Iterator[None]:
    """One run at a time per work folder: a second one would delete the first one's store."""
    work.mkdir(parents=True, exist_ok=True)
    with (work / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"another benchmark is running in {work}: waiting for it to finish ...")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def run(s: Settings) -> dict:
    with exclusive(s.work):
        return _run(s)


def _run(s: Settings) -> dict:
    wrk = ensure_wrk(log)
    wait_for_cli(timeout_s=s.wait_cli_s)
    results: dict = {"machine": machine.describe(wrk), "notes": []}
    db = s.work / "bench.db"
    results["store"] = load_store(s, db)
    port = free_port()
    serve = _cli() + ["--db", str(db), "serve", "--host", "127.0.0.1", "--port", str(port)]
    serve += ["--workers", str(s.workers)]
    results["settings"] = {
        **{k: v for k, v in vars(s).items() if k not in ("work", "out", "readme", "releases")},
        "releases": [Path(r).name for r in s.releases],
        "server_command": "hcpcs-tx --db <store> serve --host 127.0.0.1 --port <port> "
        f"--workers {s.workers}",
    }
    first = f"{s.base}/CodeSystem/$lookup?system={HCPCS_URL}&code={s.first_code}"
    with Server("ours", serve, port, s.work) as ours:
        cold = ours.wait_answer(first, ok_only=True)
        wait_idle(ours.proc.pid)  # every worker up, not only the first to answer
        srv = results["server"] = {
            "cold_start_s": round(cold, 3),
            "memory_idle": vars(ours.memory()),
        }
        log(f"our server answered in {cold:.3f} s; idle {srv['memory_idle']}")
        corpus = fetch_corpus(ours.base, s.base)
        log(
            f"corpus: {len(corpus.codes)} codes, {corpus.betos_total} in BETOS O1E, "
            f"versions {corpus.cs_versions}, {len(corpus.conceptmaps)} ConceptMaps"
        )
        scenarios = [sc for sc in build(corpus) if not s.only or sc.id in s.only]
        checked = [check(ours.base, sc) for sc in scenarios]
        captures = [c.capture for c in checked if c.capture]
        cap_file = s.work / "captures.json"
        save_captures(captures, cap_file)
        fa, asgi = ceilings(s, cap_file)
        with fa, asgi:
            probe = captures[0].route if captures else "/"
            fa.wait_answer(probe)
            asgi.wait_answer(probe)
            rows = []
            trees = [x.proc.pid for x in (ours, fa, asgi)]
            with (
                PeakSampler(ours.proc.pid) as peak,
                machine.OtherLoad(lambda: sum(cpu_seconds(p) for p in trees)) as other,
            ):
                for c in checked:
                    rows.append(_measure(s, wrk, c, ours, fa, asgi))
            srv["memory_under_load"] = vars(peak.peak)
            results["other_processes_cores"] = other.cores
            results["ceiling_latency"] = _ceiling_latency(s, wrk, checked, fa, asgi)
        wait_idle(ours.proc.pid)
        srv["memory_after"] = vars(ours.memory())
    results["scenarios"] = rows
    results["inprocess"] = _inprocess(db)
    results["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def _measure(s: Settings, wrk: str, c: Checked, ours: Server, fa: Server, asgi: Server) -> dict:
    """One scenario: warm-up, 1 client on ours, then 50 clients on ours and both ceilings.

    After every run the harness waits until the server is idle again, so requests still
    queued in a slow server do not leak into the next measurement.
    """
    sc = c.scenario
    row: dict = {"id": sc.id, "title": sc.title}
    if sc.skip:
        log(f"{sc.id} skipped: {sc.skip}")
        return {**row, "skip": sc.skip}
    mine, ceiling = s.work / f"{sc.id}.lua", s.work / f"{sc.id}-ceiling.lua"
    mine.write_text(lua_script(sc.requests))
    ceiling.write_text(lua_script(sc.requests, prefix=f"/{sc.id}"))
    many = {"connections": s.connections, "threads": s.threads, "duration_s": s.duration_s}
    drained: dict[str, float] = {}

    def load(server: Server, script: Path, label: str, **kw: float) -> WrkResult:
        result = run_wrk(wrk, server.base, script, **kw)
        waited = wait_idle(server.proc.pid)
        drained[label] = round(drained.get(label, 0.0) + waited, 2)
        return result

    # warm-up with as many clients as workers: enough to warm each, no queue on slow ones
    load(ours, mine, "warmup", connections=s.workers, threads=1, duration_s=s.warmup_s)
    one = load(ours, mine, "ours_1", connections=1, threads=1, duration_s=s.duration_s)
    # 50 clients: 1-second rounds, ours / FastAPI / ASGI in turn, so that load from other
    # processes on this shared machine falls on all three alike and the ratios hold
    conns = _connections(s, one)
    many = {**many, "connections": conns, "threads": min(s.threads, conns)}
    targets = [("fastapi_50", fa, ceiling), ("asgi_50", asgi, ceiling)]
    if one.requests:
        targets.insert(0, ("ours_50", ours, mine))
    else:
        row["note"] = f"no answer within {s.duration_s:g} s at 1 client: no throughput run"
    if conns < s.connections:
        row["note"] = (
            f"{one.p50_ms:,.0f} ms per answer: {s.connections} clients would queue over "
            f"{QUEUE_S:g} s of work, so the throughput rounds used {conns} connections (all three)"
        )
    rounds: dict[str, list[WrkResult]] = {label: [] for label, _, _ in targets}
    for _ in range(max(1, round(s.duration_s))):
        for label, server, script in targets:
            rounds[label].append(load(server, script, label, **{**many, "duration_s": 1}))
    merged = {label: merge(results) for label, results in rounds.items()}
    fifty, fa50, asgi50 = merged.get("ours_50"), merged["fastapi_50"], merged["asgi_50"]
    errors = _errors(sc, one) + (_errors(sc, fifty) if fifty else 0)

    def ratio(ceil: WrkResult) -> float | None:
        return round(fifty.rps / ceil.rps, 3) if fifty and ceil.rps else None

    row.update(
        requests_in_pool=len(sc.requests),
        expect_error=sc.expect_error,
        verify={
            "sampled": c.sampled,
            "wrong": c.wrong,
            "status": c.status,
            "mean_bytes": c.mean_bytes,
            "capture_bytes": len(c.capture.body) if c.capture else 0,
            "first_problem": c.first_problem,
        },
        ours_1=one.to_dict(),
        connections=conns,
        ours_50=fifty.to_dict() if fifty else None,
        fastapi_50=fa50.to_dict(),
        asgi_50=asgi50.to_dict(),
        errors=errors,
        ceiling_errors=_errors(sc, fa50) + _errors(sc, asgi50),
        ratio_fastapi=ratio(fa50),
        ratio_asgi=ratio(asgi50),
        drain_s=drained,
    )
    if sc.codes_per_request > 1:
        row["codes_per_s"] = round(fifty.rps * sc.codes_per_request) if fifty else None
        row["codes_per_s_1_client"] = round(one.rps * sc.codes_per_request)
    log(
        f"{sc.id}: p50 {one.p50_ms} ms, {fifty.rps if fifty else 0:,.0f} rps "
        f"(FastAPI {fa50.rps:,.0f}, ASGI {asgi50.rps:,.0f}), errors {errors}, drained {drained}"
    )
    return row


def _connections(s: Settings, one: WrkResult) -> int:
    """Clients for the throughput rounds: ``s.connections``, unless the queue they build
    would take the workers more than ``QUEUE_S`` to clear; then as many as clear in that.

    A slow scenario at 50 clients measures its own backlog, and the backlog spills into
    the next measurement; fewer clients still keep every worker busy.
    """
    p50_s = (one.p50_ms or 1000.0) / 1000
    if p50_s * s.connections / s.workers <= QUEUE_S:
        return s.connections
    return max(s.workers, int(s.workers * QUEUE_S / p50_s))


def _ceiling_latency(s: Settings, wrk: str, checked: list[Checked], *servers: Server) -> dict:
    """The ceilings at 1 client on LK01's bytes: the latency floor of the framework."""
    c = next((c for c in checked if c.capture and c.scenario.id == "LK01"), None)
    if c is None:
        return {}
    script = s.work / "LK01-ceiling.lua"
    return {
        srv.name: run_wrk(
            wrk, srv.base, script, connections=1, threads=1, duration_s=min(3, s.duration_s)
        ).to_dict()
        for srv in servers
    }


def _inprocess(db: Path) -> dict:
    log("BV01 in-process through Engine.run ...")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.inprocess", "--db", str(db)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-600:]}
    return orjson.loads(proc.stdout.strip().splitlines()[-1])


def command_line(argv: list[str]) -> str:
    return " ".join(["python -m bench", *map(shlex.quote, argv)])
