"""The HCPCS releases held in a store: what is there, what a new one must be to be stored,
what each changed against the one before it, and taking one out.

Everything a release brought (its CodeSystem, value sets and code tables) is stored under
one source key, so removing it takes all of that; the history resources (the replacement
map, the change value sets) are derived from every stored release and rebuilt in the same
transaction by `history_resources`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import codesystem
from codesystem.fhir_types import Resource
from terminology.registry import preference_key, recency_key, version_key
from terminology.store import Store, StoreError

MIN_SHARE_OF_PREDECESSOR = 0.8
"""A release with fewer codes than this share of the release before it is not complete.
CMS releases keep terminated codes listed, so a quarter never loses a fifth of its codes:
such a drop is a fragment or a truncated download."""
MIN_COMPLETE_CODES = 2000
"""With no release to compare with: every complete HCPCS Level II release has far more
(2019: 6,800 codes; 2025: 8,846)."""
FRAGMENT = "fragment"


class IncompleteRelease(Exception):
    """A release too small to be complete, loaded without `partial`."""


@dataclass(frozen=True)
class StoredRelease:
    """One stored HCPCS release, as `hcpcs-tx releases` lists it."""

    version: str
    codes: int
    partial: bool
    file: str
    sha256: str
    loaded_at: str
    previous: str | None
    changes: dict[str, int]  # kind -> codes, against `previous` (empty for the first)
    default: bool = False  # the one answering when no version is asked for


def source_key(version: str, url: str = codesystem.HCPCS_URL) -> str:
    """The store's source key of a release: everything it brought is stored under it."""
    return f"CodeSystem|{url}|{version}"


def codes(codesystem_resource: Resource) -> int:
    return codesystem_resource.get("count") or len(codesystem_resource.get("concept", []))


def is_partial(codesystem_resource: Resource) -> bool:
    return codesystem_resource.get("content") == FRAGMENT


def check_complete(new: Resource, held: Iterable[Resource]) -> None:
    """Raise IncompleteRelease when `new` has far fewer codes than the complete release
    before it (else the earliest after it; with none, than any complete release has)."""
    others = sorted(
        (r for r in held if r.get("version") != new.get("version") and not is_partial(r)),
        key=recency_key,
    )
    before = [r for r in others if recency_key(r) < recency_key(new)]
    reference = before[-1] if before else (others[0] if others else None)
    found = codes(new)
    if reference is None:
        if found < MIN_COMPLETE_CODES:
            raise IncompleteRelease(
                f"release {new.get('version')} has {found:,} codes, fewer than any complete "
                f"HCPCS release ({MIN_COMPLETE_CODES:,}+): a fragment or a truncated file? "
                "Load it with --partial to store it as a fragment (never the default version)"
            )
        return
    expected = codes(reference)
    if found < MIN_SHARE_OF_PREDECESSOR * expected:
        raise IncompleteRelease(
            f"release {new.get('version')} has {found:,} codes, far fewer than the "
            f"{expected:,} of release {reference.get('version')}: a fragment or a truncated "
            "file? Load it with --partial to store it as a fragment (never the default version)"
        )


def mark_partial(resources: list[Resource]) -> None:
    """A partial release's CodeSystem says so (content = fragment), in place."""
    for resource in resources:
        if resource.get("resourceType") == "CodeSystem" and resource.get("url") == (
            codesystem.HCPCS_URL
        ):
            resource["content"] = FRAGMENT


def history_resources(store: Store) -> list[Resource]:
    """The replacements ConceptMap over all stored HCPCS releases, and the change ValueSets
    (added / terminated / re-described) of each release against the one before it."""
    releases = sorted(store.by_url("CodeSystem", codesystem.HCPCS_URL), key=recency_key)
    if not releases:
        return []
    derived = [codesystem.replacements_conceptmap(releases)]
    for old, new in zip(releases, releases[1:], strict=False):
        derived += codesystem.change_valuesets(old, new)
    return derived


def stored_releases(store: Store) -> list[StoredRelease]:
    """Every stored HCPCS release, oldest first, with what it changed against the one
    before it."""
    held = sorted(store.by_url("CodeSystem", codesystem.HCPCS_URL), key=recency_key)
    sources = {s.key: s for s in store.sources()}
    default = max(held, key=preference_key) if held else None
    listed = []
    for position, resource in enumerate(held):
        previous = held[position - 1] if position else None
        source = sources.get(source_key(resource["version"]))
        listed.append(
            StoredRelease(
                version=resource["version"],
                codes=codes(resource),
                partial=is_partial(resource),
                file=source.file if source else "",
                sha256=source.sha256 if source else "",
                loaded_at=source.loaded_at if source else "",
                previous=previous["version"] if previous else None,
                changes=(
                    codesystem.compare_releases(previous, resource).counts() if previous else {}
                ),
                default=resource is default,
            )
        )
    return listed


def remove_release(store: Store, version: str) -> int:
    """Take one release out with everything it brought; the history follows. Returns how
    many resources went; an unknown version is a StoreError naming the stored ones."""
    key = source_key(version)
    if store.source(key) is None:
        held = sorted(
            (r["version"] for r in store.by_url("CodeSystem", codesystem.HCPCS_URL)),
            key=version_key,
        )
        listed = ", ".join(held) or "none"
        raise StoreError(f"HCPCS release {version} is not stored (stored: {listed})")
    return store.remove(key, derive=history_resources)
