"""How `hcpcs-tx serve` runs its workers (issue 11's tails, issue 12's robustness): a worker
that dies is logged with its pid and exit and replaced; each worker tells its pid and the
requests it took (/health), and several workers all take connections; a heavy request runs
off the event loop, so a $lookup on the same worker is answered meanwhile; long-lived
objects built after the worker started are frozen out of the collector's reach; and a
`load` that meets another writer is a one-line error. Real processes on loopback ports."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from typer.testing import CliRunner

from terminology import store as store_module
from terminology.cli import app
from tests.attacks.harness import cpu_seconds
from tests.conftest import shared_file

from .test_cli import _free_port

ZIP_2019 = "data/hcpcs/cms-2019-annual/2019-Alpha-Numeric-HCPCS-File.zip"
ZIP_2020 = "data/hcpcs/cms-2020-annual/2020-Alpha-Numeric-HCPCS-File.zip"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ALL_CODES = "https://hcpcs-tx.org/fhir/ValueSet/hcpcs-all"
ENTRY = Path(sys.executable).with_name("hcpcs-tx")
WAIT_S = 90.0  # how long to wait for a server to come up or a log line to appear


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("serving") / "store.sqlite3"
    files = [str(shared_file(name)) for name in (ZIP_2019, ZIP_2020)]
    result = CliRunner().invoke(app, ["--db", str(db), "load", *files])
    assert result.exit_code == 0, result.output
    return db


class Served:
    def __init__(self, port: int, log: Path, process: subprocess.Popen) -> None:
        self.port, self.log, self.process = port, log, process
        self.base = f"http://127.0.0.1:{port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def health(self) -> dict:
        """/health on a fresh connection (which worker answers is the kernel's choice)."""
        with httpx.Client(base_url=self.base, timeout=10) as client:
            return client.get("/health").raise_for_status().json()

    def worker_pids(self, count: int) -> set[int]:
        """The pids of `count` workers, asking /health on fresh connections."""
        found: set[int] = set()
        deadline = time.monotonic() + WAIT_S
        while len(found) < count and time.monotonic() < deadline:
            found.add(self.health()["pid"])
        return found


@contextmanager
def serving(db: Path, tmp: Path, workers: int = 1, **env: str) -> Iterator[Served]:
    port = _free_port()
    log = tmp / f"serve-{port}.log"
    settings = {**os.environ, "HCPCS_TX_RELOAD_SECONDS": "0", **env}
    command = [str(ENTRY), "--db", str(db), "serve", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            env=settings,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    served = Served(port, log, process)
    try:
        _wait_ready(served)
        if workers > 1:  # every worker up, not only the first
            assert len(served.worker_pids(workers)) == workers, served.log_text()
        yield served
    finally:
        with_signal(process, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with_signal(process, signal.SIGKILL)
            process.wait()


def with_signal(process: subprocess.Popen, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _wait_ready(served: Served) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise AssertionError(f"server exited:\n{served.log_text()}")
        try:
            if httpx.get(served.base + "/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server not ready in {WAIT_S} s:\n{served.log_text()}")


def _wait_for_log(served: Served, text: str) -> str:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if text in (found := served.log_text()):
            return found
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not logged in {WAIT_S} s:\n{served.log_text()}")


# --- workers ---------------------------------------------------------------------------------


def test_a_killed_worker_is_logged_and_replaced(store: Path, tmp_path: Path) -> None:
    with serving(store, tmp_path, workers=2) as served:
        first = served.worker_pids(2)
        assert "supervisor started: 2 workers" in served.log_text()
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        logged = _wait_for_log(served, f"worker {victim} died (killed by SIGKILL)")
        after_death = logged.split(f"worker {victim} died", 1)[1]
        assert " started" in after_death  # the replacement, logged with its pid
        now = served.worker_pids(2)
        assert victim not in now and len(now) == 2
        lookup = f"{served.base}/r4/CodeSystem/$lookup?system={HCPCS}&code=J0120"
        assert httpx.get(lookup, timeout=10).status_code == 200
    assert "supervisor stopped" in served.log_text()
    assert "worker stopping" in served.log_text()


def test_every_worker_takes_connections(store: Path, tmp_path: Path) -> None:
    """/health tells the worker and the requests it took; 16 keep-alive connections opened
    at once are spread over both workers (a socket each, SO_REUSEPORT)."""
    lookup = f"/r4/CodeSystem/$lookup?system={HCPCS}&code=J0120"
    with serving(store, tmp_path, workers=2) as served:
        barrier = threading.Barrier(16)
        statuses: list[int] = []

        def client() -> None:
            with httpx.Client(base_url=served.base, timeout=30) as http:
                barrier.wait()
                statuses.extend(http.get(lookup).status_code for _ in range(20))

        threads = [threading.Thread(target=client) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        taken: dict[int, int] = {}
        deadline = time.monotonic() + WAIT_S
        while len(taken) < 2 and time.monotonic() < deadline:
            found = served.health()
            taken[found["pid"]] = found["requests"]
    assert statuses == [200] * 16 * 20
    assert len(taken) == 2
    assert sum(taken.values()) >= 16 * 20
    # a worker that took no connection would have answered only a few /health requests
    assert min(taken.values()) > 20, taken


# --- heavy requests --------------------------------------------------------------------------


def _batch_body(codes: list[str], repeat: int) -> bytes:
    """A batch no memo shortens: each validation gives a display of its own (a wrong one,
    so each answer is worked out and carries a message)."""
    items = [
        {
            "name": "validation",
            "resource": {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "url", "valueUri": ALL_CODES},
                    {
                        "name": "coding",
                        "valueCoding": {"system": HCPCS, "code": code, "display": f"#{n}"},
                    },
                ],
            },
        }
        for n in range(repeat)
        for code in codes
    ]
    return json.dumps({"resourceType": "Parameters", "parameter": items}).encode()


def test_a_lookup_is_answered_while_a_heavy_batch_runs(store: Path, tmp_path: Path) -> None:
    """One worker, one $batch-validate-code of about 30,000 validations: three $lookups sent
    while it runs are all answered before its answer starts (on the event loop, they would
    wait for the whole batch)."""
    env = {"HCPCS_TX_BATCH_MAX": "100000", "HCPCS_TX_REQUEST_SECONDS": "120"}
    with serving(store, tmp_path, workers=1, **env) as served:
        expanded = httpx.get(
            f"{served.base}/r4/ValueSet/$expand?url={quote(ALL_CODES, safe='')}&count=6000",
            timeout=60,
        ).json()
        codes = [c["code"] for c in expanded["expansion"]["contains"]]
        body = _batch_body(codes, 30_000 // len(codes))
        heavy: dict[str, object] = {}
        worker = served.health()["pid"]
        idle = cpu_seconds(worker) or 0.0

        def send_heavy() -> None:
            with httpx.stream(
                "POST",
                served.base + "/r4/ValueSet/$batch-validate-code",
                content=body,
                headers={"Content-Type": "application/fhir+json"},
                timeout=300,
            ) as answer:
                heavy["done"] = time.monotonic()  # its head: the work is over
                heavy["status"] = answer.status_code
                answer.read()

        runner = threading.Thread(target=send_heavy)
        runner.start()
        while (cpu_seconds(worker) or 0.0) - idle < 1.0 and "done" not in heavy:
            time.sleep(0.05)  # until the worker has spent a second on the batch
        lookup = f"{served.base}/r4/CodeSystem/$lookup?system={HCPCS}&code=J0120"
        answered = []
        with httpx.Client(timeout=300) as http:
            for _ in range(3):
                assert http.get(lookup).status_code == 200
                answered.append(time.monotonic())
        still_running = "done" not in heavy
        runner.join()
    assert heavy["status"] == 200
    assert still_running, "the $lookups waited for the heavy batch"
    assert all(at < heavy["done"] for at in answered)  # type: ignore[operator]


# --- the collector ---------------------------------------------------------------------------


def test_indexes_built_after_start_are_frozen(store: Path, tmp_path: Path) -> None:
    """Typeaheads build each version's text index, $lookups their per-concept pieces, after
    the worker froze its state: the full collections that follow freeze them too (/health:
    frozen objects grow). HCPCS_TX_GC_REFREEZE_MS=0.001 makes any full collection slow."""
    with serving(store, tmp_path, HCPCS_TX_GC_REFREEZE_MS="0.001") as served:
        before = served.health()["gc"]
        implicit = quote(HCPCS + "?fhir_vs", safe="")
        with httpx.Client(base_url=served.base, timeout=60) as http:
            every = http.get(f"/r4/ValueSet/$expand?url={implicit}&count=3000").json()
            for version in ("2019-01", "2020-01"):
                pinned = quote(f"{HCPCS}|{version}", safe="")
                for word in ("wheel", "oxygen", "inj"):
                    asked = f"/r4/ValueSet/$expand?url={implicit}&filter={word}&count=10"
                    assert http.get(f"{asked}&system-version={pinned}").status_code == 200
            for concept in every["expansion"]["contains"]:
                asked = f"/r4/CodeSystem/$lookup?system={HCPCS}&code={concept['code']}"
                assert http.get(asked).status_code == 200
        after = served.health()["gc"]
    assert after["refreezes"] > before["refreezes"]
    assert after["frozen_objects"] > before["frozen_objects"]


# --- load against another writer -------------------------------------------------------------


def test_two_loads_at_once_both_store(tmp_path: Path) -> None:
    """The second waits for the first's transaction, then stores: no error, no traceback."""
    db = tmp_path / "store.sqlite3"
    loads = [
        subprocess.Popen(
            [str(ENTRY), "--db", str(db), "load", str(shared_file(name))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in (ZIP_2019, ZIP_2020)
    ]
    outputs = [process.communicate(timeout=300) for process in loads]
    for process, (out, err) in zip(loads, outputs, strict=True):
        assert process.returncode == 0, err
        assert "Traceback" not in out + err
    listed = CliRunner().invoke(app, ["--db", str(db), "releases"]).output
    assert "2019-01" in listed and "2020-01" in listed


def test_load_into_a_store_held_by_another_writer_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the write lock past the wait: `load` says so in one line."""
    db = tmp_path / "store.sqlite3"
    runner = CliRunner()
    assert runner.invoke(app, ["--db", str(db), "releases"]).exit_code == 0  # a store
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.2)  # not the 30 s a user waits
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        result = runner.invoke(app, ["--db", str(db), "load", str(shared_file(ZIP_2019))])
    finally:
        writer.close()
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "busy" in lines[0], lines
    assert "Traceback" not in result.output
