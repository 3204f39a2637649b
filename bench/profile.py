"""Profile one scenario before optimising (issue 6): where does a request's time go?

    python -m bench.profile LK01                  # pyinstrument, the ASGI app called in-process
    python -m bench.profile LK01 --layer engine   # pyinstrument, Engine.run alone
    python -m bench.profile LK01 --py-spy         # py-spy on the live workers under wrk load
    python -m bench.profile startup               # what a worker does before its 1st answer

Uses the store ``python -m bench`` left in bench/.work (made from data/releases if absent).
In-process runs exclude uvicorn and sockets, so they show our code's share; py-spy shows
the whole server, uvicorn and httptools included. Needs ``pip install pyinstrument py-spy``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl

import httpx

from bench.asgi_client import Transport, call_request
from bench.corpus import ALL_CODES_VS, HCPCS_URL, fetch_corpus
from bench.lua import Request, lua_script
from bench.runner import ROOT, Settings, _cli, load_store, log
from bench.scenarios import Scenario, build
from bench.servers import Server, free_port
from bench.wrk import ensure_wrk, run_wrk

WORK = ROOT / "bench/.work"


def _store(db: Path) -> Path:
    if not db.exists():
        log(f"no store at {db}: loading data/releases/")
        load_store(Settings(), db)
    return db


def _scenario(client: httpx.Client, base: str, sid: str) -> Scenario:
    found = {s.id: s for s in build(fetch_corpus(client, base))}
    if sid not in found:
        raise SystemExit(f"unknown scenario {sid}: one of {', '.join(found)}")
    if found[sid].skip:
        raise SystemExit(f"{sid} is skipped: {found[sid].skip}")
    return found[sid]


def _engine_calls(engine, requests: list[Request]) -> list:
    """The OperationRequests the API would build (GET query or POST body), built up front."""
    import orjson

    from terminology.engine import OperationRequest
    from terminology.params import parameters_from_query
    from terminology.versions import to_r5

    out = []
    for r in requests:
        path, _, query = r.path.partition("?")
        base, rtype, op = path.strip("/").split("/")[-3:]
        if not op.startswith("$"):
            raise SystemExit("--layer engine profiles operations only; use --layer asgi")
        op = op[1:]
        params = (
            parameters_from_query(op, parse_qsl(query)) if r.body is None else orjson.loads(r.body)
        )
        if base == "r4" and (r.body is not None or op == "translate"):
            params = to_r5(params, op, in_place=True)
        out.append(OperationRequest(op, rtype, params))
    return out


def caller(layer: str, engine, app, loop, requests: list) -> Callable[[], None]:
    """One random request of the scenario per call, through the engine or the ASGI app."""
    rng = random.Random(6)
    if layer == "engine":
        calls = _engine_calls(engine, requests)

        def one() -> None:
            try:
                engine.run(rng.choice(calls))
            except Exception as error:  # a TerminologyError is LK05's right answer
                if not hasattr(error, "outcome"):
                    raise

        return one
    return lambda: loop.run_until_complete(call_request(app, rng.choice(requests)))


def in_process(sid: str, db: Path, base: str, seconds: float, layer: str) -> None:
    from pyinstrument import Profiler

    from terminology.api import create_app, engine_from_store

    engine = engine_from_store(_store(db))
    app = create_app(engine)
    with httpx.Client(transport=Transport(app), base_url="http://bench") as client:
        scenario = _scenario(client, base, sid)
    one = caller(layer, engine, app, asyncio.new_event_loop(), scenario.requests)

    def spin(secs: float) -> int:
        n, end = 0, time.perf_counter() + secs
        while time.perf_counter() < end:
            one()
            n += 1
        return n

    spin(0.5)  # warm caches
    n = spin(1.0)
    log(f"{sid} {layer}: {1e6 / n:,.1f} µs per request unprofiled ({n} in 1 s)")
    profiler = Profiler(interval=0.0002)
    profiler.start()
    n = spin(seconds)
    profiler.stop()
    out = WORK / f"profile-{sid}-{layer}.html"
    out.write_text(profiler.output_html())
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    log(f"{n} requests profiled; HTML: {out}")


def with_py_spy(sid: str, db: Path, base: str, seconds: float, workers: int) -> None:
    wrk = ensure_wrk(log)
    port = free_port()
    cmd = _cli() + ["--db", str(_store(db)), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with Server("profiled", cmd + ["--workers", str(workers)], port, WORK) as server:
        server.wait_answer(f"{base}/metadata", ok_only=True)
        with httpx.Client(base_url=server.base, timeout=60) as client:
            scenario = _scenario(client, base, sid)
        script = WORK / f"profile-{sid}.lua"
        script.write_text(lua_script(scenario.requests))
        run_wrk(wrk, server.base, script, connections=workers, threads=1, duration_s=2)  # warm
        raw = WORK / f"profile-{sid}.pyspy.txt"
        spy = subprocess.Popen(
            [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(server.proc.pid)]
            + ["--subprocesses", "--function", "--rate", "500", "--format", "raw", "--nonblocking"]
            + ["--duration", str(int(seconds)), "--output", str(raw)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.5)
        result = run_wrk(wrk, server.base, script, connections=50, threads=2, duration_s=seconds)
        _, err = spy.communicate(timeout=seconds + 30)
        if spy.returncode != 0:
            raise SystemExit(f"py-spy failed: {err.decode()[-600:]}")
    log(f"{sid} under wrk: {result.rps:,.0f} rps; py-spy stacks: {raw}")
    print(summarize(raw.read_text()))


def _package(frame: str) -> str:
    """The layer a frame belongs to, from its file: ours, the framework, the server, ..."""
    where = frame.rpartition("(")[2]
    if frame.startswith("Runner.run "):
        return "event loop (uvloop + httptools native, socket I/O)"
    for prefix in ("terminology/", "codesystem/", "starlette/", "fastapi/", "uvicorn/"):
        if where.startswith(prefix):
            return prefix.rstrip("/")
    return where.split("/", 1)[0].split(".py", 1)[0] or "other"


def summarize(collapsed: str, top: int = 20) -> str:
    """py-spy's collapsed stacks (workers only) -> self time by layer, top self frames, and
    inclusive time of our own functions.

    Self time of ``Runner.run`` is uvloop's and httptools' native code (socket I/O, HTTP
    parsing): py-spy charges it to the Python frame that entered the event loop.
    """
    own: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        every = stack.split(";")
        frames = [f for f in every if not f.startswith("process ")]
        if len(every) - len(frames) < 2 or not frames:  # the supervisor, not a worker
            continue
        total += n
        own[frames[-1]] += n
        layers[_package(frames[-1])] += n
        for f in set(frames):
            if _package(f) in ("terminology", "codesystem"):
                inclusive[f] += n
    if not total:
        return "no samples"

    def pct(counter: Counter[str], k: int) -> list[str]:
        return [f"  {100 * n / total:5.1f}%  {f}" for f, n in counter.most_common(k)]

    return "\n".join(
        [f"{total} samples of active workers (the supervisor left out)", "", "self time by layer:"]
        + pct(layers, 12)
        + ["", "self time, top functions:"]
        + pct(own, top)
        + ["", "inclusive time, our functions (terminology/, codesystem/):"]
        + pct(inclusive, top)
    )


def startup(db: Path, base: str) -> None:
    """Time (and profile) a worker's way to its first answers: imports, store, engine, and
    the first request of each kind (indexes and caches built lazily show up there)."""
    from pyinstrument import Profiler

    code = "A0021"
    firsts = [
        f"{base}/CodeSystem/$lookup?system={HCPCS_URL}&code={code}",
        f"{base}/ValueSet/$validate-code?url={ALL_CODES_VS[0]}&system={HCPCS_URL}&code={code}",
        f"{base}/ValueSet/$expand?url={ALL_CODES_VS[0]}&filter=ambulance&count=10",
    ]
    _store(db)
    profiler = Profiler(interval=0.001)
    profiler.start()
    t0 = time.perf_counter()
    from terminology.api import create_app, engine_from_store

    steps = [("import terminology.api", time.perf_counter() - t0)]
    t = time.perf_counter()
    app = create_app(engine_from_store(db))
    steps.append(("store -> Engine -> app", time.perf_counter() - t))
    loop = asyncio.new_event_loop()
    for target in firsts:
        t = time.perf_counter()
        status, _, _ = loop.run_until_complete(call_request(app, Request("GET", target)))
        steps.append((f"first {target.split('?')[0]} ({status})", time.perf_counter() - t))
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False))
    for name, secs in steps:
        print(f"{secs * 1000:9.1f} ms  {name}")
    print(f"{(time.perf_counter() - t0) * 1000:9.1f} ms  in all (one worker, no uvicorn)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    ap.add_argument("scenario", help="scenario id, e.g. LK01, VC02, EX03, BV01")
    ap.add_argument("--db", type=Path, default=WORK / "bench.db")
    ap.add_argument("--base", default="/r4")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--layer", choices=("asgi", "engine"), default="asgi")
    ap.add_argument("--py-spy", action="store_true", help="profile the live server under wrk")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    if a.scenario == "startup":
        startup(a.db, a.base)
    elif a.py_spy:
        with_py_spy(a.scenario, a.db, a.base, a.seconds, a.workers)
    else:
        in_process(a.scenario, a.db, a.base, a.seconds, a.layer)


if __name__ == "__main__":
    main()
