"""Body of `hcpcs-tx convert`: a CMS release in, the HCPCS CodeSystem as FHIR JSON out.

A plain function with typer annotations; terminology/cli.py registers it on the app.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import orjson
import typer

from .errors import ReleaseError
from .fhir import FHIR_VERSIONS, to_fhir
from .reader import read_release


def _check_fhir_version(value: str) -> str:
    if value not in FHIR_VERSIONS:
        raise typer.BadParameter(f"must be one of {', '.join(FHIR_VERSIONS)}")
    return value


def convert(
    release: Annotated[
        Path, typer.Argument(help="CMS release: the zip as published, or its .txt/.xlsx/.xls")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="FHIR JSON file to write")],
    fhir_version: Annotated[
        str,
        typer.Option("--fhir-version", callback=_check_fhir_version, help="r4 or r5"),
    ] = "r5",
    release_version: Annotated[
        str | None,
        typer.Option(
            "--release",
            help="Release as YYYY-MM (default: from the file name, else from the data)",
        ),
    ] = None,
) -> None:
    """Convert a CMS HCPCS Level II release to a FHIR CodeSystem (JSON)."""
    try:
        hcpcs = read_release(release, release_version)
    except ReleaseError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for warning in hcpcs.warnings:
        typer.echo(f"warning: {warning}", err=True)
    data = orjson.dumps(to_fhir(hcpcs, fhir_version), option=orjson.OPT_INDENT_2)
    _write_atomically(output, data)
    typer.echo(
        f"{output}: HCPCS {hcpcs.version} (from the {hcpcs.version_source}), "
        f"{len(hcpcs.concepts)} concepts ({fhir_version})"
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_atomically(path: Path, data: bytes) -> None:
    """Write beside the target, then rename: a failure never leaves a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual mode
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
