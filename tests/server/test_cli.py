"""The hcpcs-tx command: load, lookup, validate, expand (CliRunner), and serve (a real
process on a free loopback port, from an empty store as a fresh install starts)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from terminology.cli import app
from terminology.store import Store

from .conftest import HCPCS
from .test_versions import CM_R4

runner = CliRunner()


def _run(db: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--db", str(db), *args])
    return result.exit_code, result.output


def test_load_fhir_json_and_a_failed_load_changes_nothing(tmp_path) -> None:
    good, bad = tmp_path / "map.json", tmp_path / "bad.json"
    good.write_text(json.dumps(CM_R4))
    bad.write_text('{"resourceType": "Patient"}')
    db = tmp_path / "s.sqlite3"
    code, output = _run(db, "load", str(good))
    assert code == 0 and output.startswith("stored ") and " resources in " in output
    with Store(db) as store:  # a new store also gets the FHIR core code systems
        stored = [r["url"] for r in store.resources()]
    assert stored[0] == CM_R4["url"]
    assert "http://hl7.org/fhir/administrative-gender" in stored
    code, output = _run(db, "load", str(good), str(bad))
    assert code == 2 and f"{bad}: resourceType 'Patient'" in output
    with Store(db) as store:
        assert [r["url"] for r in store.resources()] == stored


def test_lookup(filled_db) -> None:
    code, output = _run(filled_db, "lookup", "J0120")
    assert code == 0
    assert "display: Injection, tetracycline, up to 250 mg" in output
    assert "  property betos: O1E (Other drugs)" in output
    code, output = _run(filled_db, "lookup", "J0120", "--json")
    result = json.loads(output)
    assert result["resourceType"] == "Parameters"
    code, output = _run(filled_db, "lookup", "ZZZZZ")
    assert code == 1 and "Unable to find code 'ZZZZZ'" in output


def test_validate(filled_db) -> None:
    code, output = _run(filled_db, "validate", "J0120", "--display", "Tetracyclin injection")
    assert code == 0 and "result: true" in output
    code, output = _run(filled_db, "validate", "J0120", "--display", "aspirin")
    assert "result: false" in output and "Wrong Display Name 'aspirin'" in output
    betos = "https://hcpcs-tx.org/fhir/ValueSet/hcpcs-betos-O1E"
    code, output = _run(filled_db, "validate", "AA", "--valueset", betos, "--json")
    found = {p["name"]: p for p in json.loads(output)["parameter"]}
    assert found["result"]["valueBoolean"] is False


def test_expand(filled_db) -> None:
    code, output = _run(filled_db, "expand", "--filter", "skin sub", "--count", "3")
    lines = output.splitlines()
    assert code == 0 and lines[0] == "12 codes; showing 3"
    assert len(lines) == 4 and all("skin sub" in line.lower() for line in lines[1:])
    code, output = _run(filled_db, "expand", "--count", "1", "--json")
    assert json.loads(output)["expansion"]["total"] == 7079


def test_colleague_commands_are_registered() -> None:
    output = runner.invoke(app, ["--help"]).output
    for command in ("load", "serve", "lookup", "validate", "expand", "convert", "conformance"):
        assert command in output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CURRENT_CODES = ("Q4390", "Q4386", "Q4311", "Q4293", "Q4257", "AB", "J0120")
"""Codes billed today (skin substitutes added 2022-2025, modifier AB) and an old one."""


def test_serve_fills_an_empty_store_and_answers(tmp_path) -> None:
    """The README's first command on a fresh machine: every shipped release side by side,
    the newest complete one (2025-10) answering by default, `date` picking the one in force."""
    db, port = tmp_path / "fresh.sqlite3", _free_port()
    command = shutil.which("hcpcs-tx") or str(Path(sys.executable).with_name("hcpcs-tx"))
    env = {**os.environ, "HCPCS_TX_DB": str(db)}
    server = subprocess.Popen(
        [command, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        statement = _wait_for(f"{base}/r4/metadata", server, seconds=180)
        assert statement["fhirVersion"] == "4.0.1"
        systems = {
            cs["uri"]: cs
            for cs in httpx.get(f"{base}/r5/metadata?mode=terminology").json()["codeSystem"]
        }
        versions = systems[HCPCS]["version"]
        assert [v["code"] for v in versions] == [
            "2019-01",
            "2020-01",
            "2020-04",
            "2020-07",
            "2020-10",
            "2025-01",
            "2025-10",
        ]
        assert [v["code"] for v in versions if v.get("isDefault")] == ["2025-10"]
        for code in CURRENT_CODES:
            answer = httpx.get(
                f"{base}/r4/CodeSystem/$lookup", params={"system": HCPCS, "code": code}
            ).json()
            found = {p["name"]: p for p in answer["parameter"]}
            assert found["version"]["valueString"] == "2025-10", code
            properties = [p for p in answer["parameter"] if p["name"] == "property"]
            assert len(properties) >= 8, code  # every CMS field the code carries
        answer = httpx.get(
            f"{base}/r4/CodeSystem/$validate-code",
            params={"url": HCPCS, "code": "J0120", "date": "2020-08-15"},
        ).json()
        found = {p["name"]: p for p in answer["parameter"]}
        assert found["result"]["valueBoolean"] is True
        assert found["version"]["valueString"] == "2020-07"
    finally:
        server.terminate()
        server.wait(timeout=10)
    code, output = _run(db, "changes", "2025-01", "2025-10")
    assert code == 0
    added = output.split("Added (")[1].split("\n\n")[0]
    assert "  Q4386  " in added and "  Q4390  " in added


def _wait_for(url: str, server: subprocess.Popen, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"server exited: {server.stderr.read().decode()}")
        try:
            return httpx.get(url, timeout=1).raise_for_status().json()
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"no answer from {url} in {seconds} s")
