"""The hcpcs-tx command as a person uses it: exit codes a script can trust, hints where a
code was mistyped or lives in another release, a port in use said up front, plain help,
and messages in English rather than the wire format's."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from terminology.cli import app
from terminology.loader import store_files
from terminology.store import Store
from tests.conftest import shared_file

ZIP_2019 = "data/hcpcs/cms-2019-annual/2019-Alpha-Numeric-HCPCS-File.zip"
ZIP_2020 = "data/hcpcs/cms-2020-annual/2020-Alpha-Numeric-HCPCS-File.zip"

runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "store.sqlite3"
    with Store(path) as store:
        store_files(store, [shared_file(ZIP_2019), shared_file(ZIP_2020)])
    return path


def _cli(db: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--db", str(db), *args])
    return result.exit_code, result.output


def test_validate_exits_1_when_the_code_is_not_valid(db) -> None:
    # A9590 was added in 2020 (it replaces C9408): valid today, not on 2019-06-01
    code, output = _cli(db, "validate", "A9590")
    assert code == 0 and "result: true" in output and "version: 2020-01" in output
    code, output = _cli(db, "validate", "A9590", "--date", "2019-06-01")
    assert code == 1 and "result: false" in output
    code, output = _cli(db, "validate", "A9590", "--version", "2019-01")
    assert code == 1 and "result: false" in output
    code, output = _cli(db, "validate", "J0120", "--version", "2019-01")
    assert code == 0 and "version: 2019-01" in output


def test_messages_read_as_english(db) -> None:
    code, output = _cli(db, "validate", "J0120", "--display", "Tetracycline pill")
    assert code == 1
    assert "error: Wrong Display Name 'Tetracycline pill' for HCPCS J0120." in output
    assert "for the language(s)" not in output and "HCPCSReleaseCodeSets#" not in output
    code, output = _cli(db, "validate", "J0120", "--display", "Tetracycline pill", "--json")
    assert "(for the language(s) '--')" in output  # the FHIR answer itself is unchanged


def test_lookup_hints_at_the_right_case_and_the_releases_holding_a_code(db) -> None:
    code, output = _cli(db, "lookup", "j0120")
    assert code == 1
    assert "hint: codes are case-sensitive: did you mean J0120?" in output
    code, output = _cli(db, "lookup", "A9590", "--version", "2019-01")
    assert code == 1
    assert "hint: A9590 is in the stored release(s) 2020-01: try --version 2020-01" in output
    code, output = _cli(db, "lookup", "ZZZZZ")
    assert code == 1 and "hint:" not in output


def test_a_port_in_use_fails_before_serving(db) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = _cli(db, "serve", "--port", str(port))
    assert code == 2
    assert output.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert "serving" not in output


def test_help_shows_flags_as_flags() -> None:
    for command in ("lookup", "validate", "expand", "releases"):
        output = runner.invoke(app, [command, "--help"]).output
        assert "--json " in output and "<bool>" not in output
    output = runner.invoke(app, ["--help"]).output
    for command in ("load", "releases", "remove", "update", "serve", "lookup", "validate"):
        assert f"  {command}" in output
