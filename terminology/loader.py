"""Files -> R5 resources for the store: CMS releases and FHIR JSON, R4 or R5.

Every file is read and converted before anything is stored, so a bad file fails the whole
load (the store keeps what it had) with an error naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import orjson

import codesystem
from terminology.registry import TYPES, recency_key
from terminology.store import Store
from terminology.versions import to_r5

RELEASE_SUFFIXES = (".zip", ".txt", ".xlsx", ".xls")
# The releases a fresh install serves: the source tree's data/releases (an editable install),
# or $HCPCS_TX_RELEASES where the package is installed elsewhere (the Docker image).
SHIPPED_RELEASES = Path(__file__).resolve().parents[1] / "data" / "releases"
RELEASES_ENV = "HCPCS_TX_RELEASES"
# FHIR core code systems / value sets every FHIR terminology server is expected to know
# (administrative-gender ...), per FHIR release; provenance in that folder's PROVENANCE.md.
SHIPPED_FHIR_CORE = Path(__file__).resolve().parent / "data" / "fhir-core"


class LoadError(Exception):
    """A file that cannot be loaded; the message starts with the file's path."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def load_files(paths: Iterable[Path | str]) -> list[dict]:
    """R5 resources from release files, FHIR JSON files, or folders of them, in order.

    The code-table CodeSystems of CMS releases are added once, whatever the release count.
    """
    resources: list[dict] = []
    releases = 0
    for path in _expand(Path(p) for p in paths):
        if path.suffix.lower() == ".json":
            resources.extend(read_fhir_json(path))
        else:
            resources.extend(read_release(path))
            releases += 1
    if releases:
        resources.extend(codesystem.code_table_codesystems())
    return resources


def store_files(store: Store, paths: Iterable[Path | str]) -> int:
    """Load files into the store in one transaction; when HCPCS releases are among them, the
    history resources are rebuilt in that transaction from every stored release."""
    resources = load_files(paths)
    hcpcs = any(_is_hcpcs(r) for r in resources)
    return store.load(resources, derive=history_resources if hcpcs else None)


def history_resources(store: Store) -> list[dict]:
    """The replacements ConceptMap over all stored HCPCS releases, and the change ValueSets
    (added / terminated / re-described) of each release against the one before it."""
    releases = sorted(store.by_url("CodeSystem", codesystem.HCPCS_URL), key=recency_key)
    if not releases:
        return []
    derived = [codesystem.replacements_conceptmap(releases)]
    for old, new in zip(releases, releases[1:], strict=False):
        derived += codesystem.change_valuesets(old, new)
    return derived


def _is_hcpcs(resource: dict) -> bool:
    kind, url = resource.get("resourceType"), resource.get("url")
    return kind == "CodeSystem" and url == codesystem.HCPCS_URL


def read_release(path: Path) -> list[dict]:
    """A CMS release file -> its HCPCS CodeSystem and the HCPCS ValueSets of that release
    (in effect from the release's start, so that a `date` picks them like the release)."""
    try:
        release = codesystem.read_release(path)
        hcpcs = codesystem.to_fhir(release)
        valuesets = codesystem.hcpcs_valuesets(release)
        for vs in valuesets:
            vs["effectivePeriod"] = dict(hcpcs["effectivePeriod"])
        return [hcpcs, *valuesets]
    except codesystem.ReleaseError as error:
        message = str(error)
        raise LoadError(path, message.removeprefix(f"{path}: ")) from error


def read_fhir_json(path: Path) -> list[dict]:
    """A CodeSystem / ValueSet / ConceptMap / Bundle of them, R4 or R5 -> R5 resources."""
    try:
        resource = orjson.loads(path.read_bytes().removeprefix(b"\xef\xbb\xbf"))
    except (OSError, orjson.JSONDecodeError) as error:
        raise LoadError(path, f"not readable JSON ({error})") from error
    if not isinstance(resource, dict):
        raise LoadError(path, "not a FHIR resource (a JSON object with a resourceType)")
    kind = resource.get("resourceType")
    if kind == "Bundle":
        found = [e.get("resource") or {} for e in resource.get("entry", [])]
        found = [r for r in found if r.get("resourceType") in TYPES]
    elif kind in TYPES:
        found = [resource]
    else:
        expected = ", ".join(TYPES)
        raise LoadError(path, f"resourceType {kind!r} is not one of {expected} or Bundle")
    for item in found:
        if not item.get("url"):
            raise LoadError(path, f"the {item['resourceType']} {item.get('id', '')} has no url")
    return [to_r5(r, in_place=True) for r in found]


def shipped_releases() -> list[Path]:
    """The CMS releases shipped with the project (served by a fresh install)."""
    return sorted(Path(os.environ.get(RELEASES_ENV) or SHIPPED_RELEASES).glob("*.zip"))


def shipped_fhir_core() -> list[Path]:
    """The FHIR core resources shipped with the package (stored by a fresh install too)."""
    return sorted(SHIPPED_FHIR_CORE.glob("*.json"))


def _expand(paths: Iterable[Path]) -> Iterable[Path]:
    for path in paths:
        if path.is_dir():
            suffixes = (*RELEASE_SUFFIXES, ".json")
            yield from sorted(p for p in path.iterdir() if p.suffix.lower() in suffixes)
        elif not path.exists():
            raise LoadError(path, "no such file")
        else:
            yield path
