"""Releases managed as a user does: `load` reports, `releases` lists, `remove` takes out,
fragments are refused unless --partial (and never become the default), and a running server
follows every change without a restart and without a failed request."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from terminology.api import engine_from_store
from terminology.cli import app
from terminology.loader import store_files
from terminology.store import Store
from tests.conftest import shared_file

from .conftest import HCPCS
from .test_cli import _free_port, _wait_for

ZIP_2019 = "data/hcpcs/cms-2019-annual/2019-Alpha-Numeric-HCPCS-File.zip"
ZIP_2020 = "data/hcpcs/cms-2020-annual/2020-Alpha-Numeric-HCPCS-File.zip"
EXCERPT_2026 = "data/hcpcs/cms-2026-jan-excerpt/HCPC2026_JAN_ANWEB_excerpt.txt"
VS = "https://hcpcs-tx.org/fhir/ValueSet/"

runner = CliRunner()


def _cli(db: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--db", str(db), *args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> tuple[Path, str]:
    """2019-01 and 2020-01 loaded with `hcpcs-tx load`, and what it printed."""
    db = tmp_path_factory.mktemp("releases") / "store.sqlite3"
    code, output = _cli(db, "load", str(shared_file(ZIP_2019)), str(shared_file(ZIP_2020)))
    assert code == 0, output
    return db, output


@pytest.fixture(scope="module")
def both_db(loaded) -> Path:
    """The store holding 2019-01 and 2020-01 (copy it before changing it)."""
    return loaded[0]


@pytest.fixture
def db(both_db, tmp_path) -> Path:
    copy = tmp_path / "store.sqlite3"
    shutil.copy(both_db, copy)
    return copy


def test_load_reports_each_release_and_what_it_changed(loaded) -> None:
    lines = [line for line in loaded[1].splitlines() if not line.startswith("  warning: ")]
    assert lines[0].startswith(
        "stored HCPCS release 2019-01 (from the file name): "
        "6,800 codes = 6,440 procedures + 360 modifiers, "
        "from 2019-Alpha-Numeric-HCPCS-File.zip (sha256 61c0ba424005"
    )
    assert lines[1].startswith(
        "stored HCPCS release 2020-01 (from the file name): "
        "7,079 codes = 6,710 procedures + 369 modifiers, from 2020-Alpha-Numeric-HCPCS-File.zip"
    )
    # the same counts `hcpcs-tx changes 2019-01 2020-01` gives (tests/history)
    assert lines[2] == (
        "  against 2019-01: 279 added, 0 removed, 89 terminated, 70 redescribed, "
        "656 property-changed"
    )


def test_releases_lists_what_is_stored(both_db) -> None:
    code, output = _cli(both_db, "releases")
    assert code == 0
    header, first, second = output.splitlines()
    assert header.split()[:4] == ["version", "codes", "added", "terminated"]
    assert first.split()[:4] == ["2019-01", "6,800", "-", "-"]
    assert second.split()[:4] == ["2020-01", "7,079", "279", "89"]
    digest = hashlib.sha256(shared_file(ZIP_2020).read_bytes()).hexdigest()
    assert f"2020-Alpha-Numeric-HCPCS-File.zip ({digest[:12]}) (default)" in second
    code, output = _cli(both_db, "releases", "--json")
    listed = {r["version"]: r for r in json.loads(output)}
    assert listed["2020-01"]["sha256"] == digest and listed["2020-01"]["previous"] == "2019-01"
    assert listed["2020-01"]["loaded_at"] and listed["2019-01"]["changes"] == {}


def test_a_fragment_is_refused_unless_partial_and_never_the_default(db) -> None:
    excerpt = shared_file(EXCERPT_2026)
    code, output = _cli(db, "load", str(excerpt))
    assert code == 2
    assert "release 2026-01 has 14 codes, far fewer than the 7,079 of release 2020-01" in output
    assert "--partial" in output
    with Store(db) as store:
        assert {r["version"] for r in store.by_url("CodeSystem", HCPCS)} == {"2019-01", "2020-01"}

    code, output = _cli(db, "load", "--partial", str(excerpt))
    assert code == 0 and "stored HCPCS partial release (content: fragment) 2026-01" in output
    engine = engine_from_store(db)
    fragment = engine.registry.resolve("CodeSystem", HCPCS, "2026-01")
    assert fragment is not None and fragment["content"] == "fragment"
    assert engine.registry.resolve("CodeSystem", HCPCS)["version"] == "2020-01"  # default
    assert engine.registry.version_at("CodeSystem", HCPCS, "2026-06-01") == "2020-01"
    code, output = _cli(db, "lookup", "J0120")
    assert code == 0 and "version: 2020-01" in output
    code, output = _cli(db, "lookup", "M1371", "--version", "2026-01")  # only in the excerpt
    assert code == 0 and "version: 2026-01" in output
    code, output = _cli(db, "releases")
    assert "(partial)" in output.splitlines()[-1] and "(default)" in output.splitlines()[-2]


def test_a_fragment_alone_in_an_empty_store_is_refused(tmp_path) -> None:
    code, output = _cli(tmp_path / "new.db", "load", str(shared_file(EXCERPT_2026)))
    assert code == 2 and "fewer than any complete HCPCS release (2,000+)" in output


def test_remove_takes_a_release_out_with_what_it_brought(db) -> None:
    code, output = _cli(db, "remove", "2019-01")
    assert code == 0 and output.startswith("removed HCPCS release 2019-01 (")
    with Store(db) as store:
        assert [r["version"] for r in store.by_url("CodeSystem", HCPCS)] == ["2020-01"]
        versions = {r.get("version") for r in store.resources("ValueSet")}
        tables = store.by_url("CodeSystem", "https://hcpcs-tx.org/fhir/CodeSystem/betos")
        # the change value sets need two releases: none is left
        assert not [
            r for r in store.resources("ValueSet") if r["url"].startswith(f"{VS}hcpcs-added")
        ]
    assert "2019-01" not in versions
    assert tables  # 2020-01's code tables stay
    code, output = _cli(db, "remove", "2019-01")
    assert code == 1
    assert output.strip() == "error: HCPCS release 2019-01 is not stored (stored: 2020-01)"


def test_load_with_a_given_release_and_a_bad_db(tmp_path) -> None:
    db = tmp_path / "s.db"
    code, output = _cli(db, "load", "--release", "2019-04", str(shared_file(ZIP_2019)))
    assert code == 0 and "stored HCPCS release 2019-04 (from the given --release)" in output
    code, output = _cli(
        db, "load", "--release", "2019-04", str(shared_file(ZIP_2019)), str(shared_file(ZIP_2020))
    )
    assert code == 2 and "exactly one release file" in output
    (tmp_path / "dir.db").mkdir()
    for bad in (tmp_path / "dir.db", Path("/proc/no/such/store.db")):
        code, output = _cli(bad, "releases")
        assert code == 2
        assert output.startswith(f"error: {bad}: not a usable store") and output.count("\n") == 1


def test_store_files_reports_the_version_source(tmp_path) -> None:
    with Store(tmp_path / "s.db") as store:
        report = store_files(store, [shared_file(ZIP_2019)])
    (loaded,) = report.releases
    assert (loaded.version, loaded.codes, loaded.previous) == ("2019-01", 6800, None)


# --- a running server follows the store ---------------------------------------------------


class _Looper(threading.Thread):
    """Asks $lookup J0120 (no version: the default) in a loop; counts failures and
    remembers which versions answered."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.failures = url, threading.Event(), []
        self.versions: list[str] = []
        self.requests = 0

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                try:
                    answer = client.get(self.url, params={"system": HCPCS, "code": "J0120"})
                    self.requests += 1
                    if answer.status_code != 200:
                        self.failures.append(f"{answer.status_code}: {answer.text[:200]}")
                        continue
                    params = {p["name"]: p for p in answer.json()["parameter"]}
                    self.versions.append(params["version"]["valueString"])
                except httpx.HTTPError as error:
                    self.failures.append(repr(error))


def _default_version(port: int) -> str:
    """The default version as a new connection sees it (any worker)."""
    url = f"http://127.0.0.1:{port}/r4/CodeSystem/$lookup"
    answer = httpx.get(url, params={"system": HCPCS, "code": "J0120"}, timeout=10)
    return {p["name"]: p for p in answer.json()["parameter"]}["version"]["valueString"]


def test_a_running_server_follows_load_and_remove_without_a_failed_request(tmp_path) -> None:
    db, port = tmp_path / "live.sqlite3", _free_port()
    code, output = _cli(db, "load", str(shared_file(ZIP_2019)))
    assert code == 0, output
    command = shutil.which("hcpcs-tx") or str(Path(sys.executable).with_name("hcpcs-tx"))
    env = {**os.environ, "HCPCS_TX_DB": str(db), "HCPCS_TX_RELOAD_SECONDS": "0.5"}
    server = subprocess.Popen(
        [command, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    looper = _Looper(f"http://127.0.0.1:{port}/r4/CodeSystem/$lookup")
    try:
        _wait_for(f"http://127.0.0.1:{port}/r4/metadata", server, seconds=60)
        looper.start()
        time.sleep(0.5)
        code, output = _cli(db, "load", str(shared_file(ZIP_2020)))
        assert code == 0, output
        # every worker switches by itself (within _until's bound, a liveness limit, not a
        # speed measure): 30 new connections (spread over both) all see 2020-01
        _until(lambda: _all_see(port, "2020-01"), "every worker answers from 2020-01")
        assert looper.versions[-1] == "2020-01"
        code, output = _cli(db, "remove", "2020-01")
        assert code == 0, output
        _until(lambda: _all_see(port, "2019-01"), "every worker answers from 2019-01 again")
    finally:
        looper.stop.set()
        looper.join(timeout=10)
        server.terminate()
        server.wait(timeout=10)
    assert looper.failures == [] and looper.requests > 100
    order = [v for i, v in enumerate(looper.versions) if i == 0 or looper.versions[i - 1] != v]
    assert order[0] == "2019-01" and "2020-01" in order


def _all_see(port: int, version: str) -> bool:
    return {_default_version(port) for _ in range(30)} == {version}


def _until(check, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")
