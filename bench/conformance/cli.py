"""``hcpcs-tx conformance``: run the HL7 tx-ecosystem suite against any FHIR terminology server.

terminology/cli.py registers :func:`conformance` as a command (``app.command()(conformance)``);
it is an ordinary typer-annotated function so it can also be mounted on any typer app.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from . import passing as passlist
from .manifest import DEFAULT_MODES, Manifest
from .report import failure_line, render, suite_table, summary_line, write_json

if TYPE_CHECKING:  # the runner pulls in httpx: imported when the command runs, so that
    from .runner import Result  # `hcpcs-tx serve` does not pay for it at start-up

PROJECT = Path(__file__).resolve().parents[2]
ENV_TESTS = "HCPCS_TX_TESTS"


def default_tests_dir() -> Path:
    """$HCPCS_TX_TESTS, else ../shared/tx-ecosystem beside the project."""
    return Path(os.environ.get(ENV_TESTS) or PROJECT.parent / "shared" / "tx-ecosystem")


def conformance(
    server: Annotated[
        str, typer.Option("--server", help="FHIR base URL, e.g. http://127.0.0.1:8080/r5")
    ],
    suite: Annotated[
        list[str] | None, typer.Option("--suite", help="Only this suite (repeatable).")
    ] = None,
    tests: Annotated[
        Path | None,
        typer.Option(
            "--tests", help=f"tx-ecosystem tests folder [default: ${ENV_TESTS} or ../shared]"
        ),
    ] = None,
    fhir_version: Annotated[
        str, typer.Option("--fhir-version", help="r4 | r5: what the server speaks.")
    ] = "r5",
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write every result to this JSON file.")
    ] = None,
    passing: Annotated[
        Path | None,
        typer.Option("--check-passing", help="Fail only if a test listed in FILE fails."),
    ] = None,
    write_passing: Annotated[
        bool,
        typer.Option("--write-passing", help="Add newly passing tests to --check-passing FILE."),
    ] = False,
    mode: Annotated[
        list[str] | None,
        typer.Option("--mode", help="Turn on a mode besides 'general' (flat, tx.fhir.org, ...)."),
    ] = None,
    externals: Annotated[
        Path | None,
        typer.Option("--externals", help="Server-specific messages for $external$ placeholders."),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per request.")] = 60.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="A line per test.")] = False,
) -> None:
    """Run the HL7 terminology ecosystem tests (tx-ecosystem) against SERVER.

    Prints one line per failing test with its first difference, a per-suite table and
    `tx-ecosystem: P passed, F failed`. Exit status: 1 when a test fails, or with
    --check-passing only when a listed test fails."""
    from .runner import Runner, RunOptions

    folder = tests or default_tests_dir()
    if not (folder / "test-cases.json").is_file():
        raise typer.BadParameter(f"no test-cases.json in {folder}", param_hint="--tests")
    if write_passing and passing is None:
        raise typer.BadParameter("needs --check-passing FILE", param_hint="--write-passing")
    manifest = Manifest.load(folder)
    try:
        cases = manifest.select(DEFAULT_MODES | set(mode or []), suite, fhir_version)
        options = RunOptions(server, fhir_version.lower(), timeout, _externals(externals))
        runner = Runner(manifest, options)
    except (ValueError, RuntimeError) as error:
        raise typer.BadParameter(str(error)) from error

    def progress(result: Result) -> None:
        if verbose:
            typer.echo(("ok   " + result.key) if result.passed else failure_line(result))

    with runner:
        results = runner.run(cases, progress)
    typer.echo(
        render(results) if not verbose else suite_table(results) + "\n" + summary_line(results)
    )
    if json_out:
        meta = {"server": server, "fhirVersion": fhir_version, "tests": str(folder)}
        write_json(json_out, results, meta)
    if passing is None:
        raise typer.Exit(0 if all(r.passed for r in results) else 1)
    raise typer.Exit(_check(passing, results, fhir_version, write_passing))


def _check(path: Path, results: list[Result], fhir_version: str, write: bool) -> int:
    """Report regressions against the pass list (and grow it when asked); the exit status."""
    listed = passlist.read_passing(path, fhir_version)
    broken = passlist.regressions(results, listed)
    for result in broken:
        typer.echo(f"REGRESSION {failure_line(result)}", err=True)
    if write:
        for line in passlist.add_passing(path, results, fhir_version):
            typer.echo(f"added to {path.name}: {line}")
    typer.echo(f"pass list {path.name}: {len(listed)} listed, {len(broken)} now failing")
    return 1 if broken else 0


def _externals(path: Path | None) -> dict[str, dict[str, str]]:
    if path is None:
        return {}
    found: dict[str, dict[str, str]] = orjson.loads(path.read_bytes())
    return found


def main() -> None:
    """`python -m bench.conformance`: the command without the server's CLI."""
    app = typer.Typer(add_completion=False, rich_markup_mode=None)
    app.command()(conformance)
    app(prog_name="python -m bench.conformance")
