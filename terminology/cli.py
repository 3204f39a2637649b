"""The `hcpcs-tx` command: load releases, serve them, and ask the engine from a shell.

lookup / validate / expand run the Engine in-process (no HTTP); a fresh store is first
filled with the releases shipped in data/releases, as `serve` does.
"""

from __future__ import annotations

import enum
import os
import re
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, NoReturn

import orjson
import typer

import codesystem
import codesystem.cli
from codesystem.fhir_types import JSON, Resource
from terminology import logs
from terminology.engine import Engine, OperationRequest
from terminology.loader import (
    LoadError,
    ReleaseLoaded,
    shipped_fhir_core,
    shipped_releases,
    store_files,
)
from terminology.operations.changes import changes as changes_operation
from terminology.outcome import TerminologyError
from terminology.registry import recency_key, version_key
from terminology.releases import remove_release, stored_releases
from terminology.store import ENV_VAR, Store, StoreError, default_path


def _register_conformance(app: typer.Typer) -> None:
    """The tx-ecosystem runner's command: a dev tool in the source checkout's
    bench/conformance (not in the installed package), so from a checkout it runs as ever,
    and elsewhere the command says where to get it, whatever options it is given."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "bench" / "conformance").is_dir() and str(checkout) not in sys.path:
        sys.path.append(str(checkout))  # the console script does not see the checkout
    try:
        from bench.conformance.cli import conformance
    except ImportError:
        anything = {"allow_extra_args": True, "ignore_unknown_options": True}
        app.command("conformance", context_settings=anything)(_conformance_missing)
    else:
        app.command("conformance")(conformance)


def _conformance_missing() -> None:
    """Run the HL7 tx-ecosystem suite (a dev tool: needs a source checkout of hcpcs-tx)."""
    text = "The conformance runner is a development tool in a source checkout of hcpcs-tx"
    text += " (bench/conformance): install the checkout (pip install -e .) and run"
    text += " `hcpcs-tx conformance` again, or `python -m bench.conformance` in the checkout."
    typer.echo(text, err=True)
    raise typer.Exit(2)


# plain help (click's): flags read as flags, not `--json <bool>`
app = typer.Typer(
    help="HCPCS Level II FHIR terminology server.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)
app.command("convert")(codesystem.cli.convert)
_register_conformance(app)

_state: dict[str, Path] = {}
# its members are logs.LEVELS (the one list of levels), which mypy cannot read from a call
LogLevel = enum.Enum("LogLevel", {name: name for name in logs.LEVELS}, type=str)  # type: ignore[misc]
DEFAULT_LOG_LEVEL = LogLevel(logs.DEFAULT_LEVEL)
JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print the FHIR resource (R5 JSON) instead.")
]


@app.callback()
def main(
    db: Annotated[
        Path | None,
        typer.Option("--db", envvar=ENV_VAR, help="Store file (default: user data dir)."),
    ] = None,
) -> None:
    """Global options."""
    _state["db"] = db or default_path()


@app.command()
def load(
    releases: Annotated[list[Path], typer.Argument(help="CMS release zip/txt/xlsx/xls or JSON.")],
    release: Annotated[
        str | None,
        typer.Option(
            help="The release (YYYY-MM) of the one CMS file given, if its name and "
            "data do not tell it right."
        ),
    ] = None,
    partial: Annotated[
        bool,
        typer.Option(
            "--partial",
            help="Store a release with far fewer codes than the one "
            "before it (a fragment); it never becomes the default version.",
        ),
    ] = False,
) -> None:
    """Store CMS releases or FHIR CodeSystem/ValueSet/ConceptMap/Bundle JSON, atomically
    (a bad file stores nothing); running servers pick the change up within seconds."""
    try:
        with _open_store() as store:
            report = store_files(store, releases, release=release, partial=partial)
    except (LoadError, StoreError) as error:
        _fail(str(error), 2)
    for loaded in report.releases:
        typer.echo(_describe_loaded(loaded))
        for warning in loaded.warnings:
            typer.echo(f"  warning: {warning}", err=True)
    typer.echo(f"stored {report.resources} resources in {_state['db']}")


@app.command()
def update(
    page: Annotated[
        str | None,
        typer.Option(help="Page linking the release zips (default: CMS's quarterly-update page)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Skip releases before this one (YYYY-MM).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be downloaded; store nothing.")
    ] = False,
) -> None:
    """Download the CMS releases linked from the quarterly-update page that the store lacks,
    verify each, store them in one transaction. Exit 1 when a link was refused (the good
    ones are stored), 2 when the page cannot be read."""
    from terminology import update as updater

    try:
        report = updater.update(
            _state["db"],
            page or updater.DEFAULT_PAGE,
            since,
            dry_run=dry_run,
            progress=updater.progress_for(sys.stderr),
            on_event=lambda event: typer.echo(event.line()),
        )
    except updater.UpdateError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(report.summary())
    raise typer.Exit(0 if report.ok else 1)


def _describe_loaded(loaded: ReleaseLoaded) -> str:
    kind = "partial release (content: fragment)" if loaded.partial else "release"
    text = (
        f"stored HCPCS {kind} {loaded.version} (from the {loaded.version_from}): "
        f"{loaded.codes:,} codes = {loaded.procedures:,} procedures + {loaded.modifiers:,} "
        f"modifiers, from {loaded.file} (sha256 {loaded.sha256[:12]}…)"
    )
    if loaded.previous:
        changed = ", ".join(f"{n:,} {kind}" for kind, n in loaded.changes.items())
        text += f"\n  against {loaded.previous}: {changed}"
    return text


@app.command("releases")
def list_releases(json: JsonFlag = False) -> None:
    """The HCPCS releases stored: version, codes, what changed against the release before,
    source file and sha256, when loaded."""
    with _open_store() as store:
        held = stored_releases(store)
    if json:
        typer.echo(orjson.dumps([asdict(r) for r in held], option=orjson.OPT_INDENT_2))
        return
    if not held:
        typer.echo(f"no HCPCS release stored in {_state['db']}")
        return
    typer.echo(
        f"{'version':9} {'codes':>6} {'added':>6} {'terminated':>10}  loaded at"
        "                  file (sha256)"
    )
    for r in held:
        added = f"{r.changes.get('added', 0):,}" if r.previous else "-"
        ended = f"{r.changes.get('terminated', 0):,}" if r.previous else "-"
        mark = " (default)" if r.default else " (partial)" if r.partial else ""
        typer.echo(
            f"{r.version:9} {r.codes:>6,} {added:>6} {ended:>10}  {r.loaded_at or '-':25}"
            f"  {r.file or '-'} ({r.sha256[:12] or '-'}){mark}"
        )


@app.command()
def remove(
    version: Annotated[str, typer.Argument(help="The release to take out, e.g. 2020-04.")],
) -> None:
    """Take one HCPCS release out of the store, with its value sets and code tables; the
    history (replacement map, change value sets) is rebuilt without it."""
    try:
        with _open_store() as store:
            count = remove_release(store, version)
    except StoreError as error:
        _fail(str(error), 1)
    typer.echo(f"removed HCPCS release {version} ({count} resources) from {_state['db']}")


def _open_store() -> Store:
    """The --db store, or a one-line error (exit 2) when it cannot be opened."""
    try:
        return Store(_state["db"])
    except StoreError as error:
        _fail(str(error), 2)


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(envvar="HCPCS_TX_HOST", help="Interface to listen on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="HCPCS_TX_PORT", help="TCP port.")] = 8080,
    workers: Annotated[
        int, typer.Option(envvar="HCPCS_TX_WORKERS", help="Worker processes (use the core count).")
    ] = 1,
    log_level: Annotated[
        LogLevel,
        typer.Option(envvar=logs.LEVEL_ENV, help="Server log level (worker start, reloads)."),
    ] = DEFAULT_LOG_LEVEL,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            envvar=logs.ACCESS_ENV,
            help="Log every request (method, path, status, ms) at info level.",
        ),
    ] = False,
) -> None:
    """Serve everything stored on /r4, /r5 and /fhir (an empty store gets the shipped
    releases); `load`, `update` and `remove` show up within seconds, without a restart."""
    _check_port_free(host, port)
    _ensure_loaded()
    _compile_sources()
    os.environ[ENV_VAR] = str(_state["db"])  # each worker opens the same store
    os.environ[logs.LEVEL_ENV] = log_level.value  # and logs at the same level
    os.environ[logs.ACCESS_ENV] = "1" if access_log else ""
    typer.echo(f"serving {_state['db']} on http://{host}:{port}/r4 /r5 /fhir", err=True)
    from terminology import workers as uvicorn_workers

    if workers > 1:  # become the small workers module: see its docstring
        sys.stderr.flush()
        argv = uvicorn_workers.command(host, port, workers, log_level.value)
        os.execv(argv[0], argv)
    uvicorn_workers.run(host, port, workers, log_level.value)


@app.command()
def lookup(
    code: Annotated[str, typer.Argument(help="The code, e.g. Q4257.")],
    system: Annotated[str, typer.Option(help="Code system URL.")] = codesystem.HCPCS_URL,
    version: Annotated[str | None, typer.Option(help="Code system version (release).")] = None,
    json: JsonFlag = False,
) -> None:
    """$lookup: a code's display, designations and properties."""
    params = _parameters(code=("valueCode", code), system=("valueUri", system))
    params["parameter"] += _optional(version=("valueString", version))
    engine = _engine()
    try:
        _run("lookup", "CodeSystem", params, json, _print_parameters, engine)
    except typer.Exit:
        if not json:
            for hint in _code_hints(engine, system, code, version):
                typer.echo(f"hint: {hint}", err=True)
        raise


@app.command()
def validate(
    code: Annotated[str, typer.Argument(help="The code to check.")],
    display: Annotated[str | None, typer.Option(help="A display to check too.")] = None,
    valueset: Annotated[str | None, typer.Option(help="ValueSet URL (else the system).")] = None,
    system: Annotated[str, typer.Option(help="Code system URL.")] = codesystem.HCPCS_URL,
    version: Annotated[
        str | None, typer.Option(help="Code system version (release), e.g. 2020-07.")
    ] = None,
    date: Annotated[
        str | None,
        typer.Option(help="Validate as of this day (YYYY-MM-DD): the release then in force."),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """$validate-code against the code system, or a value set with --valueset; exits 1
    when the code is not valid."""
    params = _parameters(code=("valueCode", code), system=("valueUri", system))
    kind = "ValueSet" if valueset else "CodeSystem"
    params["parameter"] += _optional(
        display=("valueString", display),
        url=("valueUri", valueset),
        date=("valueDateTime", date),
    )
    # the code system's version is `version` on CodeSystem/$validate-code, `systemVersion`
    # on ValueSet/$validate-code
    version_name = "systemVersion" if valueset else "version"
    params["parameter"] += _optional(**{version_name: ("valueString", version)})
    result = _run("validate-code", kind, params, json, _print_parameters)
    valid = any(
        p.get("name") == "result" and p.get("valueBoolean") is True
        for p in result.get("parameter", [])
    )
    if not valid:
        raise typer.Exit(1)


def _code_hints(engine: Engine, system: str, code: str, version: str | None) -> list[str]:
    """What the user may have meant: the code in another case, or the stored versions that
    hold it (a terminated code dropped by later releases, a code newer than --version)."""
    held = [
        r
        for r in engine.resources("CodeSystem")
        if r.get("url") == engine.registry.canonical(system) and r.get("version")
    ]
    hints = []
    for candidate in dict.fromkeys((code.upper(), code.lower())):
        if candidate != code and any(engine.registry.index(r).find(candidate) for r in held):
            hints.append(f"codes are case-sensitive: did you mean {candidate}?")
    having = sorted(
        (r["version"] for r in held if engine.registry.index(r).find(code)), key=version_key
    )
    if having and version not in having:
        hint = f"{code} is in the stored release(s) {', '.join(having)}: "
        hints.append(hint + f"try --version {having[-1]}")
    return hints


@app.command()
def expand(
    filter: Annotated[str | None, typer.Option(help="Text filter (word prefixes).")] = None,
    valueset: Annotated[str | None, typer.Option(help="ValueSet URL (default: all codes).")] = None,
    count: Annotated[int, typer.Option(help="How many codes to show.")] = 20,
    json: JsonFlag = False,
) -> None:
    """$expand a value set, optionally filtered: a typeahead from the shell."""
    url = valueset or codesystem.HCPCS_URL + "?fhir_vs"
    params = _parameters(url=("valueUri", url), count=("valueInteger", count))
    params["parameter"] += _optional(filter=("valueString", filter))
    _run("expand", "ValueSet", params, json, _print_expansion)


@app.command()
def changes(
    from_version: Annotated[str, typer.Argument(help="The older release, e.g. 2019-01.")],
    to_version: Annotated[str, typer.Argument(help="The newer release, e.g. 2020-01.")],
    system: Annotated[str, typer.Option(help="Code system URL.")] = codesystem.HCPCS_URL,
    json: Annotated[
        bool, typer.Option("--json", help="Print the CodeSystem/$changes Parameters (R5 JSON).")
    ] = False,
) -> None:
    """What changed between two stored releases: added, removed, terminated, re-described
    codes and property changes (read from the store, no engine start-up)."""
    _ensure_loaded()
    with _open_store() as store:
        held = {r.get("version"): r for r in store.by_url("CodeSystem", system)}
    old, new = (_stored_version(held, system, v) for v in (from_version, to_version))
    if recency_key(old) > recency_key(new):
        text = f"error: {from_version} is newer than {to_version}: give the older release first"
        typer.echo(text, err=True)
        raise typer.Exit(2)
    if json:
        typer.echo(orjson.dumps(changes_operation(old, new), option=orjson.OPT_INDENT_2))
    else:
        typer.echo(codesystem.format_changes(codesystem.compare_releases(old, new)))


def _stored_version(held: dict[str | None, Resource], system: str, version: str) -> Resource:
    if version not in held:
        known = ", ".join(sorted((v for v in held if v), key=version_key)) or "none"
        typer.echo(f"error: {system} version {version} is not stored (stored: {known})", err=True)
        raise typer.Exit(1)
    return held[version]


def _check_port_free(host: str, port: int) -> None:
    """Fail with one line before anything else when the address is taken (uvicorn would
    only say so after the workers loaded the store)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        _fail(f"cannot listen on {host}:{port}: {error.strerror or error}", 2)


def _compile_sources() -> None:
    """Byte-compile our packages once (a no-op while up to date). With
    PYTHONDONTWRITEBYTECODE set (our Dockerfile sets it) nothing else writes .pyc files, so
    every worker would compile the sources again at each start (about 0.2 s of a cold
    start). Best effort: a read-only install is served all the same."""
    import compileall
    import contextlib

    for package in (Path(codesystem.__file__).parent, Path(__file__).parent):
        with contextlib.suppress(OSError):
            compileall.compile_dir(package, quiet=2)


def _ensure_loaded() -> None:
    """Fill an empty store with the shipped CMS releases and FHIR core resources, so a fresh
    install serves data."""
    with _open_store() as store:
        if not store.is_empty():
            return
        releases, core = shipped_releases(), shipped_fhir_core()
        if not releases:
            typer.echo("warning: empty store and no shipped releases (see `load`)", err=True)
        if not releases and not core:
            return
        typer.echo(
            f"empty store {_state['db']}: loading the {len(releases)} shipped CMS releases and "
            "the FHIR core code systems (once; about 2 s per release)",
            err=True,
        )
        try:
            report = store_files(store, [*releases, *core])
        except (LoadError, StoreError) as error:
            _fail(str(error), 2)
        for loaded in report.releases:
            typer.echo(_describe_loaded(loaded).split("\n")[0], err=True)


def _engine() -> Engine:
    from terminology.api import engine_from_store  # the HTTP layer: imported when needed

    _ensure_loaded()
    return engine_from_store(_state["db"])


def _parameters(**values: tuple[str, object]) -> Resource:
    parameter = [{"name": name, key: value} for name, (key, value) in values.items()]
    return {"resourceType": "Parameters", "parameter": parameter}


def _optional(**values: tuple[str, object | None]) -> list[JSON]:
    return [{"name": n, key: v} for n, (key, v) in values.items() if v is not None]


def _run(
    operation: str,
    kind: str,
    params: Resource,
    as_json: bool,
    show: Callable[[Resource], None],
    engine: Engine | None = None,
) -> Resource:
    try:
        result = (engine or _engine()).run(OperationRequest(operation, kind, params))
    except TerminologyError as error:
        if as_json:
            typer.echo(orjson.dumps(error.outcome, option=orjson.OPT_INDENT_2))
        typer.echo(f"error: {readable(error.text)}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    else:
        show(result)
    return result


_SUITE_PHRASES = (
    # the wording the FHIR validator and the conformance suite expect on the wire,
    # which reads as noise in a terminal
    (re.compile(r" \(for the language\(s\) '[^']*'\)"), ""),
    (re.compile(re.escape(codesystem.HCPCS_URL) + "#"), "HCPCS "),
    (re.compile(re.escape(codesystem.HCPCS_URL)), "HCPCS"),
)


def readable(text: str) -> str:
    """A message of the FHIR wire format, as a person reads it in a terminal."""
    for pattern, replacement in _SUITE_PHRASES:
        text = pattern.sub(replacement, text)
    return text


def _value(item: JSON) -> str:
    for key, value in item.items():
        if key.startswith("value"):
            if isinstance(value, dict):  # a Coding
                shown = value.get("code", "")
                return f"{shown} ({value['display']})" if value.get("display") else shown
            return str(value).lower() if isinstance(value, bool) else str(value)
    return ""


def _print_parameters(result: Resource) -> None:
    """One line per output parameter; parts (property, designation) indented under it,
    and the issues of a validation as `severity: text`."""
    for parameter in result.get("parameter", []):
        name = parameter["name"]
        if "part" in parameter:
            parts = {p["name"]: p for p in parameter["part"]}
            label = _value(parts.get("code", parts.get("use", {}))) or name
            text = " ".join(_value(p) for n, p in parts.items() if n.startswith("value"))
            description = _value(parts.get("description", {}))
            extra = f"  [{description}]" if description and f"({description})" not in text else ""
            typer.echo(f"  {name} {label}: {text}{extra}")
        elif "resource" in parameter:
            for issue in parameter["resource"].get("issue", []):
                text = readable(issue.get("details", {}).get("text", ""))
                typer.echo(f"{issue.get('severity')}: {text}")
        elif name != "message":  # the same text as the issues, printed above
            typer.echo(f"{name}: {_value(parameter)}")


def _print_expansion(result: Resource) -> None:
    expansion = result.get("expansion", {})
    contains = expansion.get("contains", [])
    typer.echo(f"{expansion.get('total', len(contains))} codes; showing {len(contains)}")
    for item in contains:
        typer.echo(f"{item.get('code', ''):8} {item.get('display', '')}")
