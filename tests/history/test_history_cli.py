"""`hcpcs-tx changes FROM TO [--json]` from the store."""

from __future__ import annotations

import json

from fhir.resources.parameters import Parameters
from typer.testing import CliRunner

from terminology.cli import app


def test_changes_text_and_json(history_db) -> None:
    runner, db = CliRunner(), ["--db", str(history_db)]
    text = runner.invoke(app, [*db, "changes", "2019-01", "2020-01"])
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0] == (
        "HCPCS 2019-01 -> 2020-01: 279 added, 0 removed, 89 terminated, 70 redescribed, "
        "656 property-changed"
    )
    assert (
        "  C9408  [last day 2019-12-31, XREF A9590] Iodine i-131 iobenguane, therapeutic, "
        "1 millicurie" in lines
    )
    as_json = runner.invoke(app, [*db, "changes", "2019-01", "2020-01", "--json"])
    assert as_json.exit_code == 0, as_json.output
    parameters = json.loads(as_json.stdout)
    Parameters.model_validate(parameters)
    assert {"name": "added", "valueInteger": 279} in parameters["parameter"]


def test_changes_refuses_unknown_and_reversed_releases(history_db) -> None:
    runner, db = CliRunner(), ["--db", str(history_db)]
    unknown = runner.invoke(app, [*db, "changes", "2019-01", "2031-01"])
    assert unknown.exit_code == 1
    assert "version 2031-01 is not stored (stored: 2019-01, 2020-01)" in unknown.stderr
    reversed_ = runner.invoke(app, [*db, "changes", "2020-01", "2019-01"])
    assert reversed_.exit_code == 2 and "give the older release first" in reversed_.stderr
