"""``python -m bench.tails``: tail latency and the spread of connections over workers.

Two things issue 11 measured that the server's setup decides (not the engine's speed), each
measured the old way and the new way on fresh servers, alternated:

- **tails** (one worker, so that nothing but the worker decides): after a typeahead on every
  stored HCPCS version (which builds the text indexes a worker otherwise builds on first
  use), 4 keep-alive clients send $lookup, $validate-code and 100-code $batch-validate-code
  requests; p50 / p99 / max per kind. Full garbage-collector passes over long-lived objects
  show as a p99 far above the p50. Old: HCPCS_TX_GC_REFREEZE_MS=0.
- **balance** (two workers): bursts of 8 keep-alive connections opened at once, then 200
  $lookups each; the requests each worker took (its /health `pid` and `requests`) per burst.
  A burst where one worker took every connection halves the throughput. Old:
  HCPCS_TX_REUSE_PORT=0 (one listening socket shared by the workers).

The server is `hcpcs-tx serve` over a store holding the shipped releases (data/releases),
built once in bench/.work/tails. The machine is shared: figures are medians over rounds.
Results go to bench/results/tails-YYYY-MM-DD.{json,md}.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from bench.servers import Server, free_port
from terminology.loader import shipped_releases

ROOT = Path(__file__).resolve().parents[1]
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ALL_CODES = "https://hcpcs-tx.org/fhir/ValueSet/hcpcs-all"
JSON_TYPE = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
TYPEAHEAD_WORDS = ("wheel", "inj", "oxygen", "cath", "ambul", "test")
BATCH_CODES = 100
IDLE_SHARE = 0.05  # a worker taking less than this share of a burst's requests sat it out
KINDS = ("lookup", "validate", "batch")
# The server as it was before issue 11's tails work: nothing frozen after a worker started
# (tails), one listening socket shared by the workers (balance).
OLD_TAILS = {"HCPCS_TX_GC_REFREEZE_MS": "0"}
OLD_BALANCE = {"HCPCS_TX_REUSE_PORT": "0"}


def log(message: str) -> None:
    print(f"[tails {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass(frozen=True)
class Ask:
    kind: str
    method: str
    path: str
    body: bytes | None = None


@dataclass
class Latencies:
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0

    def add(self, kind: str, seconds: float) -> None:
        self.by_kind.setdefault(kind, []).append(seconds)

    def summary(self) -> dict[str, dict[str, float]]:
        return {kind: _percentiles(values) for kind, values in sorted(self.by_kind.items())}


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 2)

    return {"requests": len(ordered), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1.0)}


# --- the server ------------------------------------------------------------------------------


def _cli() -> list[str]:
    return [str(Path(sys.executable).with_name("hcpcs-tx"))]


def ensure_store(store: Path) -> None:
    if store.exists():
        return
    store.parent.mkdir(parents=True, exist_ok=True)
    files = [str(p) for p in shipped_releases()]
    log(f"loading {len(files)} releases into {store}")
    done = subprocess.run(_cli() + ["--db", str(store), "load", *files], capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"load failed: {done.stdout.decode()}{done.stderr.decode()}")


@contextmanager
def serving(store: Path, workers: int, work: Path, env: dict[str, str]) -> Iterator[Server]:
    """`hcpcs-tx serve` on a free port, ready, stopped (its whole process group) after."""
    port = free_port()
    command = _cli() + ["--db", str(store), "serve", "--port", str(port)]
    server = Server("tails", command + ["--workers", str(workers)], port, work)
    server.env.update({"HCPCS_TX_RELOAD_SECONDS": "0", **env})
    with server:
        server.wait_answer("/ready", timeout_s=180, ok_only=True)
        yield server


def _request(conn: http.client.HTTPConnection, ask: Ask) -> tuple[int, bytes]:
    conn.request(ask.method, ask.path, body=ask.body, headers=JSON_TYPE)
    response = conn.getresponse()
    return response.status, response.read()


def _get_json(port: int, path: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        status, body = _request(conn, Ask("get", "GET", path))
    finally:
        conn.close()
    if status != 200:
        raise RuntimeError(f"GET {path}: HTTP {status}: {body[:300]!r}")
    return json.loads(body)


# --- what the clients ask --------------------------------------------------------------------


def versions(port: int) -> list[str]:
    return list(_get_json(port, "/ready")["hcpcs"]["versions"])


def codes(port: int) -> list[str]:
    path = f"/r4/ValueSet/$expand?url={quote(ALL_CODES, safe='')}&count=2000"
    found = _get_json(port, path)["expansion"].get("contains", [])
    return [c["code"] for c in found]


def typeaheads(hcpcs_versions: list[str]) -> list[Ask]:
    """A filtered $expand of every HCPCS version: builds each version's text index."""
    asks = []
    implicit = quote(HCPCS + "?fhir_vs", safe="")
    for version in hcpcs_versions:
        pinned = quote(f"{HCPCS}|{version}", safe="")
        for word in TYPEAHEAD_WORDS:
            path = f"/r4/ValueSet/$expand?url={implicit}&filter={word}&count=10"
            asks.append(Ask("typeahead", "GET", f"{path}&system-version={pinned}"))
    return asks


def mixed(known: list[str], rng: random.Random, count: int) -> list[Ask]:
    asks = []
    for _ in range(count):
        code = rng.choice(known)
        roll = rng.random()
        if roll < 0.45:
            asks.append(Ask("lookup", "GET", f"/r4/CodeSystem/$lookup?system={HCPCS}&code={code}"))
        elif roll < 0.9:
            path = f"/r4/ValueSet/$validate-code?url={ALL_CODES}&system={HCPCS}&code={code}"
            asks.append(Ask("validate", "GET", path))
        else:
            path = "/r4/ValueSet/$batch-validate-code"
            asks.append(Ask("batch", "POST", path, _batch(known, rng)))
    return asks


def _batch(known: list[str], rng: random.Random) -> bytes:
    items = [
        {
            "name": "validation",
            "resource": {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "url", "valueUri": ALL_CODES},
                    {"name": "coding", "valueCoding": {"system": HCPCS, "code": code}},
                ],
            },
        }
        for code in rng.sample(known, BATCH_CODES)
    ]
    return json.dumps({"resourceType": "Parameters", "parameter": items}).encode()


# --- the clients -----------------------------------------------------------------------------


def fresh_connections(port: int, asks: list[Ask], per_ask: int) -> None:
    """Each ask on `per_ask` new connections (so that every worker gets it)."""
    for ask in asks:
        for _ in range(per_ask):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                _request(conn, ask)
            finally:
                conn.close()


def keep_alive_clients(
    port: int, plans: list[list[Ask]], record: Callable[[str, float, int], None]
) -> None:
    """One thread and one kept-alive connection per plan, all opened at the same moment."""
    go = threading.Barrier(len(plans))

    def client(plan: list[Ask]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        go.wait()
        try:
            for ask in plan:
                started = time.perf_counter()
                status, _ = _request(conn, ask)
                record(ask.kind, time.perf_counter() - started, status)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(plan,)) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def worker_counts(port: int, workers: int, asked: Counter[int], tries: int = 400) -> dict[int, int]:
    """Requests each worker has taken, from /health on fresh connections until every worker
    answered; `asked` counts the /health requests sent so far, per worker (taken off)."""
    seen: dict[int, int] = {}
    for _ in range(tries):
        found = _get_json(port, "/health")
        asked[found["pid"]] += 1
        seen[found["pid"]] = found["requests"]
        if len(seen) >= workers:
            break
    return {pid: taken - asked[pid] for pid, taken in seen.items()}


# --- the two measures ------------------------------------------------------------------------


def measure_tails(port: int, clients: int, per_client: int, seed: int) -> dict:
    fresh_connections(port, typeaheads(versions(port)), per_ask=2)
    rng = random.Random(seed)
    known = codes(port)
    latencies = Latencies()
    lock = threading.Lock()

    def record(kind: str, seconds: float, status: int) -> None:
        with lock:
            latencies.add(kind, seconds)
            latencies.errors += status != 200

    plans = [mixed(known, rng, per_client) for _ in range(clients)]
    keep_alive_clients(port, plans, record)
    collector = _get_json(port, "/health").get("gc", {})  # the one worker's collections
    return {"errors": latencies.errors, "gc": collector, **latencies.summary()}


def measure_balance(port: int, workers: int, bursts: int, clients: int, per_client: int) -> dict:
    ask = Ask("lookup", "GET", f"/r4/CodeSystem/$lookup?system={HCPCS}&code=J0120")
    shares = []
    asked: Counter[int] = Counter()
    for _ in range(bursts):
        before = worker_counts(port, workers, asked)
        keep_alive_clients(port, [[ask] * per_client] * clients, lambda *_: None)
        after = worker_counts(port, workers, asked)
        served = {pid: after.get(pid, 0) - before.get(pid, 0) for pid in after | before}
        shares.append(served)
    total = clients * per_client
    lowest = [round(min(s.values()) / total, 3) if len(s) >= workers else 0.0 for s in shares]
    return {
        "bursts": [{str(pid): n for pid, n in sorted(s.items())} for s in shares],
        "lowest_worker_share": lowest,
    }


# --- the run ---------------------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.tails", description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2, help="workers for the balance (2)")
    ap.add_argument("--clients", type=int, default=4, help="keep-alive clients (4)")
    ap.add_argument("--requests", type=int, default=1500, help="requests per client (1500)")
    ap.add_argument("--bursts", type=int, default=16, help="connection bursts per server (16)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of old and new (3)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / ".work" / "tails")
    return ap.parse_args(argv)


def one_round(settings: argparse.Namespace, store: Path, label: str) -> dict:
    old = label == "old"
    with serving(store, 1, settings.work, OLD_TAILS if old else {}) as server:
        tails = measure_tails(server.port, settings.clients, settings.requests, settings.seed)
        log(f"{label}: tails {tails}")
    with serving(store, settings.workers, settings.work, OLD_BALANCE if old else {}) as server:
        balance = measure_balance(server.port, settings.workers, settings.bursts, 8, 200)
        log(f"{label}: balance {balance['lowest_worker_share']}")
    return {"label": label, "tails": tails, "balance": balance}


def summary(runs: list[dict]) -> dict[str, dict]:
    """Per way: the median over its rounds of each kind's p50 / p99 / max, and the bursts in
    all where a worker sat out."""
    found: dict[str, dict] = {}
    for label in ("old", "new"):
        mine = [r for r in runs if r["label"] == label]
        if not mine:
            continue
        way: dict[str, object] = {
            kind: {
                figure: statistics.median(r["tails"][kind][figure] for r in mine)
                for figure in ("p50_ms", "p99_ms", "max_ms")
            }
            for kind in KINDS
        }
        way["gc"] = {
            figure: statistics.median(r["tails"]["gc"].get(figure, 0) for r in mine)
            for figure in ("full_collections", "full_ms_total", "slowest_full_ms", "refreezes")
        }
        shares = [share for r in mine for share in r["balance"]["lowest_worker_share"]]
        way["bursts"] = len(shares)
        way["bursts_with_an_idle_worker"] = sum(1 for share in shares if share < IDLE_SHARE)
        way["median_lowest_share"] = statistics.median(shares)
        way["errors"] = sum(r["tails"]["errors"] for r in mine)
        found[label] = way
    return found


def markdown(result: dict) -> str:
    ways = result["summary"]
    lines = [
        f"# Tails and worker balance {result['date_utc'][:10]}",
        "",
        f"`{result['command']}`: `hcpcs-tx serve` over the shipped releases;"
        f" {result['rounds']} rounds, old and new alternated, each on fresh servers. **old**:"
        " nothing frozen after a worker started (`HCPCS_TX_GC_REFREEZE_MS=0`), one listening"
        " socket shared by the workers (`HCPCS_TX_REUSE_PORT=0`); **new**: the defaults (what"
        " survives a slow full collection is frozen; a socket per worker, SO_REUSEPORT)."
        " Latency figures are medians over the rounds. The machine is shared (2 cores, other"
        " sessions running tests at the same time): single runs are noisy.",
        "",
        "## Latency after a typeahead on every version (1 worker, 4 keep-alive clients)",
        "",
        "| kind | old p50 ms | new p50 ms | old p99 ms | new p99 ms | p99 new/old |"
        " old max ms | new max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    old, new = ways.get("old"), ways.get("new")
    for kind in KINDS if old and new else ():
        o, n = old[kind], new[kind]
        ratio = n["p99_ms"] / o["p99_ms"] if o["p99_ms"] else float("nan")
        lines.append(
            f"| {kind} | {o['p50_ms']} | {n['p50_ms']} | {o['p99_ms']} | {n['p99_ms']} |"
            f" {ratio:.2f} | {o['max_ms']} | {n['max_ms']} |"
        )
    lines += [
        "",
        "The worker's full garbage collections over the same run (its /health `gc`):",
        "",
        "| way | full collections | total ms | slowest ms | refreezes |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, way in ways.items():
        g = way["gc"]
        lines.append(
            f"| {label} | {g['full_collections']} | {g['full_ms_total']} |"
            f" {g['slowest_full_ms']} | {g['refreezes']} |"
        )
    lines += [
        "",
        f"## Balance ({result['workers']} workers): bursts of 8 keep-alive connections ×"
        " 200 $lookups",
        "",
        "| way | bursts | bursts where a worker took < 5 % | median share of the less busy"
        " worker (fair: 0.5) |",
        "|---|---:|---:|---:|",
    ]
    for label, way in ways.items():
        lines.append(
            f"| {label} | {way['bursts']} | {way['bursts_with_an_idle_worker']} |"
            f" {way['median_lowest_share']} |"
        )
    lines += ["", "Requests each worker took, per burst:", ""]
    for run in result["runs"]:
        bursts = ", ".join("/".join(str(n) for n in b.values()) for b in run["balance"]["bursts"])
        lines.append(f"- {run['label']}: {bursts}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    settings = parse(args)
    store = settings.work / "store.sqlite3"
    ensure_store(store)
    runs = []
    for _ in range(settings.rounds):
        runs.append(one_round(settings, store, "old"))
        runs.append(one_round(settings, store, "new"))
    result = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "command": " ".join(["python -m bench.tails", *args]),
        "workers": settings.workers,
        "rounds": settings.rounds,
        "summary": summary(runs),
        "runs": runs,
    }
    settings.out.mkdir(parents=True, exist_ok=True)
    stem = settings.out / f"tails-{result['date_utc'][:10]}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    log(f"wrote {stem}.md and {stem}.json")
    print(markdown(result))
    return 0 if all(way["errors"] == 0 for way in result["summary"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
