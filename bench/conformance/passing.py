"""The pass list: tests known to pass, which must keep passing (CI fails on a regression).

One test per line, ``<fhir version> <suite>/<test>`` (``r5 simple-cases/simple-expand-all``);
a line without a version prefix holds for both. ``#`` starts a comment. The list only grows:
writing it adds the newly passing tests and never removes a line.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only (the runner imports httpx)
    from .runner import Result

VERSIONS = ("r4", "r5")


def read_passing(path: Path, fhir_version: str) -> set[str]:
    """``suite/test`` keys listed for fhir_version (or for every version)."""
    keys: set[str] = set()
    if not path.exists():
        return keys
    for line in path.read_text(encoding="utf-8").splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) == 1:
            keys.add(words[0])
        elif len(words) == 2 and words[0] == fhir_version:
            keys.add(words[1])
    return keys


def passing_keys(results: Iterable[Result]) -> set[str]:
    """Keys whose every run passed (the manifest repeats two test names in ``version``)."""
    status: dict[str, bool] = {}
    for result in results:
        status[result.key] = status.get(result.key, True) and result.passed
    return {key for key, ok in status.items() if ok}


def regressions(results: Iterable[Result], listed: set[str]) -> list[Result]:
    """Listed tests that failed this time."""
    return [r for r in results if r.key in listed and not r.passed]


def missing(results: Iterable[Result], listed: set[str]) -> set[str]:
    """Listed tests this run did not execute (renamed or deselected: worth a look)."""
    return listed - {r.key for r in results}


def add_passing(path: Path, results: Iterable[Result], fhir_version: str) -> list[str]:
    """Add the passing tests not yet listed, keeping every existing line (the header comment
    first, entries sorted); returns the lines added."""
    listed = read_passing(path, fhir_version)
    added = [f"{fhir_version} {key}" for key in sorted(passing_keys(results) - listed)]
    if not added:
        return []
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    header_end = next((i for i, line in enumerate(lines) if not _is_comment(line)), len(lines))
    entries = sorted({*(line for line in lines[header_end:] if line.strip()), *added})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*lines[:header_end], *entries]) + "\n", encoding="utf-8")
    return added


def _is_comment(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")
