"""Files -> R5 resources for the store: CMS releases and FHIR JSON, R4 or R5.

Every file is read and converted before anything is stored, so a bad file fails the whole
load (the store keeps what it had) with an error naming the file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import orjson

import codesystem
from codesystem.fhir_types import Resource
from terminology import releases
from terminology.registry import TYPES, recency_key, version_key
from terminology.store import Batch, Source, Store
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


@dataclass(frozen=True)
class ReleaseLoaded:
    """What a load did with one CMS release (the CLI prints it)."""

    version: str
    version_from: str
    procedures: int
    modifiers: int
    file: str
    sha256: str
    partial: bool
    warnings: tuple[str, ...]
    previous: str | None = None
    changes: dict[str, int] = field(default_factory=dict)

    @property
    def codes(self) -> int:
        return self.procedures + self.modifiers


@dataclass(frozen=True)
class LoadReport:
    releases: tuple[ReleaseLoaded, ...]
    resources: int  # rows written, derived history resources included


def load_files(
    paths: Iterable[Path | str], *, release: str | None = None, partial: bool = False
) -> list[Resource]:
    """R5 resources from release files, FHIR JSON files, or folders of them, in order."""
    return [
        r
        for batch, _ in read_files(paths, release=release, partial=partial)
        for r in batch.resources
    ]


def read_files(
    paths: Iterable[Path | str], *, release: str | None = None, partial: bool = False
) -> list[tuple[Batch, ReleaseLoaded | None]]:
    """One Batch per file (its resources and where they came from) and, for a CMS release,
    what was read. `release` (YYYY-MM) names the version of the one release file given."""
    files = list(_expand(Path(p) for p in paths))
    release_files = [f for f in files if f.suffix.lower() != ".json"]
    if release and len(release_files) != 1:
        raise LoadError(Path(release), "--release names the version of exactly one release file")
    return [
        _read_json(path)
        if path.suffix.lower() == ".json"
        else _read_release(path, release, partial)
        for path in files
    ]


def store_files(
    store: Store,
    paths: Iterable[Path | str],
    *,
    release: str | None = None,
    partial: bool = False,
) -> LoadReport:
    """Load files into the store in one transaction. A CMS release far smaller than the
    release before it is refused unless `partial` (then stored as a fragment); when
    releases are among the files, the history resources are rebuilt in that transaction.
    A new store also gets the FHIR core code systems every terminology server is expected
    to know, whatever filled it first (`serve`, `load`, `update`)."""
    files = list(paths)
    if store.is_empty():
        files += [p for p in shipped_fhir_core() if p not in {Path(f) for f in files}]
    read = read_files(files, release=release, partial=partial)
    loaded = [info for _, info in read if info is not None]
    if loaded and not partial:
        _check_complete([b for b, info in read if info is not None], store)
    derive = releases.history_resources if loaded else None
    written = store.load([batch for batch, _ in read], derive=derive)
    held = sorted(store.by_url("CodeSystem", codesystem.HCPCS_URL), key=recency_key)
    before = {new["version"]: (old, new) for old, new in zip(held, held[1:], strict=False)}
    in_order = sorted(loaded, key=lambda info: version_key(info.version))
    return LoadReport(
        tuple(_with_changes(info, before.get(info.version)) for info in in_order), written
    )


def _check_complete(batches: list[Batch], store: Store) -> None:
    held = {r["version"]: r for r in store.by_url("CodeSystem", codesystem.HCPCS_URL)}
    new = [_hcpcs(b) for b in batches]
    held.update({r["version"]: r for r in new})
    for resource in new:
        try:
            releases.check_complete(resource, held.values())
        except releases.IncompleteRelease as error:
            file = next(b.source.file for b in batches if b.source and _hcpcs(b) is resource)
            raise LoadError(Path(file), str(error)) from None


def _hcpcs(batch: Batch) -> Resource:
    return next(r for r in batch.resources if _is_hcpcs(r))


def _with_changes(info: ReleaseLoaded, pair: tuple[Resource, Resource] | None) -> ReleaseLoaded:
    """The loaded release with what changed against the stored release before it (pair:
    that release and this one, None for the first)."""
    if pair is None:
        return info
    previous, new = pair
    counts = codesystem.compare_releases(previous, new).counts()
    return replace(info, previous=previous["version"], changes=counts)


def _is_hcpcs(resource: Resource) -> bool:
    kind, url = resource.get("resourceType"), resource.get("url")
    return kind == "CodeSystem" and url == codesystem.HCPCS_URL


def _read_release(path: Path, version: str | None, partial: bool) -> tuple[Batch, ReleaseLoaded]:
    """A CMS release file -> its HCPCS CodeSystem, the HCPCS ValueSets of that release (in
    effect from the release's start, so that a `date` picks them like the release) and the
    code-table CodeSystems its values point at, as one batch."""
    try:
        release = codesystem.read_release(path, version)
        hcpcs = codesystem.to_fhir(release)
        valuesets = codesystem.hcpcs_valuesets(release)
        tables = codesystem.code_table_codesystems(release=release)
    except codesystem.ReleaseError as error:
        message = str(error)
        raise LoadError(path, message.removeprefix(f"{path}: ")) from error
    for vs in valuesets:
        vs["effectivePeriod"] = dict(hcpcs["effectivePeriod"])
    resources = [hcpcs, *valuesets, *tables]
    if partial:
        releases.mark_partial(resources)
    digest = _sha256(path)
    source = Source(releases.source_key(release.version), path.name, digest)
    kinds = [c.kind for c in release.concepts]
    info = ReleaseLoaded(
        version=release.version,
        version_from="given --release" if version else release.version_source,
        procedures=kinds.count("procedure"),
        modifiers=kinds.count("modifier"),
        file=path.name,
        sha256=digest,
        partial=partial,
        warnings=release.warnings,
    )
    return Batch(resources, source), info


def _read_json(path: Path) -> tuple[Batch, None]:
    digest = _sha256(path)
    return Batch(
        read_fhir_json(path), Source(f"file|{path.name}|{digest}", path.name, digest)
    ), None


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def read_fhir_json(path: Path) -> list[Resource]:
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
    """The CMS releases shipped with the project (served by a fresh install): every
    release file in the folder and its subfolders (CMS names some files only `anweb.xlsx`)."""
    folder = Path(os.environ.get(RELEASES_ENV) or SHIPPED_RELEASES)
    return [p for p in _expand([folder]) if p.suffix.lower() in RELEASE_SUFFIXES]


def shipped_fhir_core() -> list[Path]:
    """The FHIR core resources shipped with the package (stored by a fresh install too)."""
    return sorted(SHIPPED_FHIR_CORE.glob("*.json"))


def _expand(paths: Iterable[Path]) -> Iterable[Path]:
    """Files as given; a folder gives its release and JSON files, subfolders included
    (data/releases keeps each quarterly `anweb.xlsx` in a folder of its own)."""
    for path in paths:
        if path.is_dir():
            suffixes = (*RELEASE_SUFFIXES, ".json")
            found = (p for p in path.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
            yield from sorted(found)
        elif not path.exists():
            raise LoadError(path, "no such file")
        else:
            yield path
