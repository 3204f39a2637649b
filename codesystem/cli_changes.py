"""Body of `hcpcs-tx changes`: what changed between two CMS releases, as text or FHIR JSON.

A plain function with typer annotations, like `convert`. For now it takes two release files;
the lead wires the versions form (`hcpcs-tx changes 2019-01 2020-01`) against the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from .errors import ReleaseError
from .fhir import to_fhir
from .history import changes_to_parameters, compare_releases, format_changes
from .reader import read_release

_RELEASE_HELP = "CMS release: the zip as published, or its .txt/.xlsx/.xls"


def changes(
    old: Annotated[Path, typer.Argument(help=f"Older {_RELEASE_HELP}")],
    new: Annotated[Path, typer.Argument(help=f"Newer {_RELEASE_HELP}")],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the CodeSystem/$changes Parameters (R5 JSON)")
    ] = False,
) -> None:
    """Codes added, removed, terminated, re-described and with changed properties."""
    before, after = _codesystem(old), _codesystem(new)
    if before["version"] > after["version"]:
        typer.echo(
            f"error: {old.name} ({before['version']}) is newer than {new.name} "
            f"({after['version']}): give the older release first",
            err=True,
        )
        raise typer.Exit(2)
    found = compare_releases(before, after)
    if json_output:
        payload = orjson.dumps(changes_to_parameters(found), option=orjson.OPT_INDENT_2)
        typer.echo(payload.decode())
    else:
        typer.echo(format_changes(found))


def _codesystem(path: Path) -> dict:
    try:
        release = read_release(path)
    except ReleaseError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for warning in release.warnings:
        typer.echo(f"warning: {warning}", err=True)
    return to_fhir(release)
