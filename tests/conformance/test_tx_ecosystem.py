"""CI: the real server against the HL7 tx-ecosystem suite, R5 and R4; no regression allowed.

Starts ``hcpcs-tx --db <tmp> serve`` on a free loopback port (one server per FHIR version,
so a request that hangs one cannot starve the other run), runs the default set (597 tests)
through the conformance runner, prints the per-suite table, and fails if a test listed in
passing.txt fails now, or if a passing test's answer does not parse with fhir.resources
(R4B models on /r4). The one harness is bench/conformance's runner (what `hcpcs-tx
conformance` runs), the one pass list passing.txt. ``HCPCS_TX_WRITE_PASSING=1`` adds the
tests that pass to the list (it only ever grows), as ``hcpcs-tx conformance --check-passing
FILE --write-passing`` does.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bench.conformance import Manifest, Result, Runner, RunOptions, TestCase
from bench.conformance import passing as passlist
from bench.conformance.report import failure_line, suite_table, summary_line
from bench.conformance.runner import Json
from tests.conftest import shared_file

HERE = Path(__file__).parent
PASSING = HERE / "passing.txt"
ENTRY = Path(sys.executable).with_name("hcpcs-tx")
STARTUP_SECONDS = 180
REQUEST_SECONDS = 10.0  # a hung request fails its test (regex-bad has hung servers before)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def tests_dir() -> Path:
    return shared_file("tx-ecosystem/test-cases.json").parent


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not ENTRY.exists():
        pytest.skip(f"server entry point {ENTRY} not installed (pip install -e .)")
    return tmp_path_factory.mktemp("tx-ecosystem") / "store.db"


@contextmanager
def serve(store: Path) -> Iterator[str]:
    """A server on a free port for the duration of the with-block; yields its base URL."""
    port = _free_port()
    log = store.with_name(f"server-{port}.log")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(ENTRY), "--db", str(store), "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_up(process, f"{base}/r5/metadata", log)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"server not up after {STARTUP_SECONDS}s:\n{log.read_text()[-3000:]}")


@pytest.mark.parametrize("fhir_version", ["r5", "r4"])
def test_tx_ecosystem_default_run_keeps_every_listed_test_passing(
    fhir_version: str, tests_dir: Path, store: Path, capsys: pytest.CaptureFixture
) -> None:
    manifest = Manifest.load(tests_dir)
    cases = manifest.select(fhir_version=fhir_version)
    assert len(cases) == 597
    with serve(store) as base:
        options = RunOptions(f"{base}/{fhir_version}", fhir_version, REQUEST_SECONDS)
        options.check = lambda case, body: _check(manifest, case, body, fhir_version)
        with Runner(manifest, options) as runner:
            results = runner.run(cases)
    listed = passlist.read_passing(PASSING, fhir_version)
    broken = passlist.regressions(results, listed)
    with capsys.disabled():
        print(f"\n{fhir_version}: {summary_line(results)}\n{suite_table(results)}")
        if os.environ.get("HCPCS_TX_WRITE_PASSING"):
            for line in passlist.add_passing(PASSING, results, fhir_version):
                print(f"added to passing.txt: {line}")
    assert not broken, _regression_report(broken, fhir_version)
    assert not passlist.missing(results, listed), "pass list names tests the run did not execute"
    invalid = [f"{r.key}: {r.invalid}" for r in results if r.passed and r.invalid]
    assert not invalid, "\n".join(["answers that are not valid FHIR:", *invalid])


def _check(manifest: Manifest, case: TestCase, body: Json, fhir_version: str) -> str | None:
    """Why the answer is not valid FHIR, unless the test gave an invalid resource of the
    answer's type to start from (other/dual-filter's value set has no `status`, and its
    expansion echoes that: garbage in, garbage out)."""
    given = [manifest.read(name, exact=False) for name in case.setup]
    kind = body.get("resourceType")
    if any(r.get("resourceType") == kind and _invalid(r, "r5") for r in given):
        return None
    return _invalid(body, fhir_version)


def _invalid(body: Json, fhir_version: str) -> str | None:
    """Why the answer is not a valid resource of its FHIR version (None: it is)."""
    if fhir_version == "r4":
        from fhir.resources.R4B import get_fhir_model_class
    else:
        from fhir.resources import get_fhir_model_class
    try:
        get_fhir_model_class(str(body.get("resourceType"))).model_validate(body)
    except (KeyError, ValueError) as error:
        return str(error).splitlines()[0][:300]
    return None


def _regression_report(broken: list[Result], fhir_version: str) -> str:
    lines = [f"{len(broken)} test(s) on passing.txt fail now ({fhir_version}):"]
    return "\n".join(lines + [failure_line(r) for r in broken])
