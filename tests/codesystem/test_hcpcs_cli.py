"""`convert`: the CLI body, run through typer as terminology/cli.py registers it."""

from __future__ import annotations

import json

import pytest
import typer
from fhir.resources.R4B.codesystem import CodeSystem as CodeSystemR4
from typer.testing import CliRunner

from codesystem.cli import convert

app = typer.Typer()
app.command("convert")(convert)


@app.callback()
def _group() -> None:
    """Keep `convert` a subcommand, as in `hcpcs-tx convert`."""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_convert_writes_r5_by_default(runner, tmp_path, excerpt_path) -> None:
    out = tmp_path / "out" / "hcpcs.json"
    result = runner.invoke(app, ["convert", str(excerpt_path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    cs = json.loads(out.read_text())
    assert (cs["version"], cs["count"], "versionAlgorithmCoding" in cs) == ("2026-01", 14, True)
    assert "warning:" in result.stderr and "14 concepts" in result.stdout
    assert "HCPCS 2026-01 (from the file name), 14 concepts (r5)" in result.stdout


def test_convert_says_when_the_data_gave_the_release(runner, tmp_path, excerpt_path) -> None:
    bare = tmp_path / "anweb.txt"
    bare.write_bytes(excerpt_path.read_bytes())
    result = runner.invoke(app, ["convert", str(bare), "-o", str(tmp_path / "out.json")])
    assert result.exit_code == 0, result.output
    assert "HCPCS 2026-01 (from the data: latest action-effective date 2026-01-01)" in (
        result.stdout
    )


def test_convert_r4_with_release_override(runner, tmp_path, excerpt_path) -> None:
    out = tmp_path / "hcpcs.json"
    args = ["convert", str(excerpt_path), "--output", str(out), "--fhir-version", "r4"]
    result = runner.invoke(app, [*args, "--release", "2026-04"])
    assert result.exit_code == 0, result.output
    cs = json.loads(out.read_text())
    assert cs["version"] == "2026-04" and "versionAlgorithmCoding" not in cs
    CodeSystemR4.model_validate(cs)


def test_bad_release_exits_1_naming_file_line_field_and_writes_nothing(
    runner, tmp_path, excerpt_path
) -> None:
    lines = excerpt_path.read_text(encoding="latin-1").splitlines()
    lines[7] = lines[7][:268] + "1988XX01" + lines[7][276:]
    bad = tmp_path / "HCPC2026_JAN_ANWEB.txt"
    bad.write_text("\n".join(lines), encoding="latin-1")
    out = tmp_path / "hcpcs.json"
    result = runner.invoke(app, ["convert", str(bad), "-o", str(out)])
    assert result.exit_code == 1
    assert "HCPC2026_JAN_ANWEB.txt, line 8, field ADD DT" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_existing_output_survives_a_failed_conversion(runner, tmp_path) -> None:
    out = tmp_path / "hcpcs.json"
    out.write_text("previous")
    empty = tmp_path / "HCPC2026_ANWEB.txt"
    empty.write_text("")
    assert runner.invoke(app, ["convert", str(empty), "-o", str(out)]).exit_code == 1
    assert out.read_text() == "previous"


def test_unknown_fhir_version_is_a_usage_error(runner, tmp_path, excerpt_path) -> None:
    args = ["convert", str(excerpt_path), "-o", str(tmp_path / "x.json"), "--fhir-version", "r3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and not (tmp_path / "x.json").exists()
