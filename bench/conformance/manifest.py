"""The tx-ecosystem manifest (test-cases.json): which tests run, and the files they name.

Selection follows the official Java runner (fhir-core ``TxTester``): a suite or test that
declares a ``mode`` runs only when that mode is on; a suite or test that declares a FHIR
``version`` runs only against a server of that version ("4.0"), or of any other ("!4.0").
The default run turns on ``general`` only, which gives the ``metadata`` suite plus every
``general`` suite: 597 tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

DEFAULT_MODES: frozenset[str] = frozenset({"general"})
MANIFEST = "test-cases.json"
DEFAULT_PROFILE = "parameters-default.json"


class MissingFile(Exception):
    """A file the manifest names is absent (two are, upstream): that test fails, the run goes on."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"missing file {path.name} ({path})")
        self.path = path


def read_json(path: Path, exact: bool = True) -> Any:
    """One JSON file of the suite. utf-8-sig because 54 files start with a BOM. exact: decimals
    keep their written form (1.0 is not 1.00) since comparison is textual, as in Java; request
    bodies are read with floats so that they serialise as JSON numbers."""
    if not path.is_file():
        raise MissingFile(path)
    text = path.read_text(encoding="utf-8-sig")
    return json.loads(text, parse_float=Decimal) if exact else json.loads(text)


@dataclass(frozen=True)
class TestCase:
    """One test of one suite, with what the runner needs to build and judge the request."""

    __test__ = False  # not a pytest test class

    suite: str
    name: str
    operation: str
    test: dict[str, Any]
    setup: tuple[str, ...]
    modes: frozenset[str] = field(default=DEFAULT_MODES)

    @property
    def key(self) -> str:
        """``suite/test``: how results, reports and the pass list name a test."""
        return f"{self.suite}/{self.name}"

    def file_for(self, name: str) -> str | None:
        """``request`` / ``response`` file, preferring ``name:mode`` variants for modes on
        (``response:flat`` when the flat mode is on), as TxTester.chooseParam does."""
        for mode in sorted(self.modes):
            if f"{name}:{mode}" in self.test:
                return str(self.test[f"{name}:{mode}"])
        found = self.test.get(name)
        return None if found is None else str(found)

    @property
    def request_file(self) -> str | None:
        return self.file_for("request")

    @property
    def response_file(self) -> str:
        return self.file_for("response") or ""

    @property
    def alternate_response_file(self) -> str | None:
        """``response2``: a second acceptable answer (regex-bad: servers may reject or accept)."""
        return self.test.get("response2")

    @property
    def profile_file(self) -> str:
        return str(self.test.get("profile", DEFAULT_PROFILE))

    @property
    def http_code(self) -> str:
        return str(self.test.get("http-code", "2xx"))

    @property
    def lenient_display(self) -> bool | None:
        """``lenient-display``: sent as the ``lenient-display-validation`` parameter of a
        validate-code / cs-validate-code request (None: not set, or another operation)."""
        value = self.test.get("lenient-display")
        if value is None or self.operation not in ("validate-code", "cs-validate-code"):
            return None
        return value is True or str(value).lower() == "true"

    @property
    def accept_language(self) -> str | None:
        return self.test.get("Accept-Language")

    @property
    def header(self) -> tuple[str, str] | None:
        """The test's extra header when its mode (if any) is on.

        The issue (#5) asks for the manifest header to be sent; the Java runner sends it only
        when the header names a mode that is on. A header with no mode is sent here."""
        header = self.test.get("header")
        if not header or (header.get("mode") and header["mode"] not in self.modes):
            return None
        return header["name"], header["value"]


@dataclass(frozen=True)
class Manifest:
    """test-cases.json plus the folder its file names are relative to."""

    root: Path
    data: dict[str, Any]

    @classmethod
    def load(cls, root: Path) -> Manifest:
        return cls(root, read_json(root / MANIFEST))

    @property
    def suites(self) -> list[dict[str, Any]]:
        suites: list[dict[str, Any]] = self.data.get("suites", [])
        return suites

    def path(self, name: str) -> Path:
        return self.root / name

    def read(self, name: str, exact: bool = True) -> Any:
        return read_json(self.root / name, exact)

    def select(
        self,
        modes: frozenset[str] = DEFAULT_MODES,
        suites: list[str] | None = None,
        fhir_version: str | None = None,
    ) -> list[TestCase]:
        """The tests a run executes, in manifest order.

        suites: only these suite names (any mode they declare is then turned on, so naming
        ``snomed`` runs it); fhir_version: "4.0.1" / "5.0.0" / "r4" / "r5", filters tests
        that declare a ``version``."""
        wanted = set(suites or [])
        unknown = wanted - {s["name"] for s in self.suites}
        if unknown:
            raise ValueError(f"unknown suite(s): {', '.join(sorted(unknown))}")
        out: list[TestCase] = []
        for suite in self.suites:
            if wanted and suite["name"] not in wanted:
                continue
            active = modes | {suite["mode"]} if wanted and suite.get("mode") else modes
            if not _mode_on(suite, active) or suite.get("disabled"):
                continue
            if not version_passes(suite.get("version"), fhir_version):
                continue
            for test in suite.get("tests", []):
                if not _mode_on(test, active) or test.get("disabled"):
                    continue
                if not version_passes(test.get("version"), fhir_version):
                    continue
                out.append(
                    TestCase(
                        suite=suite["name"],
                        name=test["name"],
                        operation=test["operation"],
                        test=test,
                        setup=tuple(suite.get("setup", [])),
                        modes=frozenset(active),
                    )
                )
        return out

    def referenced_files(self) -> list[str]:
        """Every request/response/profile/setup file the manifest names (for self-tests)."""
        names: list[str] = []
        for suite in self.suites:
            names += suite.get("setup", [])
            for test in suite.get("tests", []):
                for value in test.values():
                    if isinstance(value, str) and value.endswith(".json"):
                        names.append(value)
        return list(dict.fromkeys(names))


def _mode_on(item: dict[str, Any], modes: frozenset[str]) -> bool:
    if "modes" in item:
        return any(m in modes for m in item["modes"])
    return "mode" not in item or item["mode"] in modes


FHIR_RELEASES = {"r4": "4.0.1", "r5": "5.0.0"}


def version_passes(declared: str | None, fhir_version: str | None) -> bool:
    """A suite's or test's ``version`` against the server's FHIR version, as the official
    runner reads it: "4.0" runs only against a server whose version is 4.0 or starts
    "4.0." (4.0.1), "!4.0" against any other; no ``version`` (or an unknown server): run."""
    if not declared or not fhir_version:
        return True
    negated = declared.startswith("!")
    wanted = declared[1:] if negated else declared
    server = FHIR_RELEASES.get(fhir_version.lower(), fhir_version)
    matches = server == wanted or server.startswith(wanted + ".")
    return matches != negated


def major(version: str) -> str:
    """The major version: r4, 4.0.1 and 4.0 all give 4."""
    return version.lower().lstrip("r").split(".")[0]
