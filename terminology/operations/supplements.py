"""CodeSystem supplements: extra designations, concept extensions and properties for another
code system's concepts, applied when a request or a value set asks for them.

They are applied behind the provider interface: `supplemented` wraps a provider in a
`SupplementedProvider` that answers as the code system and also says what the supplements
add to it (`applied`), so any provider gets supplements the same way. The usual request asks
for none, and then gets the provider itself: no wrapper on the per-coding path."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from codesystem.fhir_types import JSON, Resource
from terminology.canonical import canonical_of
from terminology.operations import Context, requested_supplements
from terminology.outcome import TerminologyError, finding, operation_outcome
from terminology.providers import CodeSystemProvider

if TYPE_CHECKING:
    from terminology.caches import Local, Memo
    from terminology.index import Concept

Sourced: TypeAlias = tuple[JSON, str]
"""A designation and the canonical (url|version) of the supplement that adds it."""


@dataclass(frozen=True, slots=True)
class Applied:
    """What the supplements applied to one code system version add to its concepts."""

    supplements: tuple[tuple[str, Resource], ...] = ()  # (url|version, resource), as asked
    by_code: Mapping[str, tuple[tuple[str, JSON], ...]] = field(default_factory=dict)

    @property
    def used(self) -> list[str]:
        """The canonicals of the supplements applied (reported as used-supplement)."""
        return [key for key, _ in self.supplements]

    @property
    def declarations(self) -> list[JSON]:
        """The supplements' property declarations (CodeSystem.property), in order."""
        return [p for _, supplement in self.supplements for p in supplement.get("property", [])]

    def concepts(self, code: str) -> list[JSON]:
        """The supplements' entries for code (designations, extensions, properties)."""
        return [concept for _, concept in self.by_code.get(code, ())]

    def designations(self, code: str) -> list[Sourced]:
        """The designations the supplements add to code, each with its supplement."""
        return [
            (designation, key)
            for key, concept in self.by_code.get(code, ())
            for designation in concept.get("designation", [])
        ]


NOTHING = Applied()


def _applied(supplements: list[tuple[str, Resource]]) -> Applied:
    by_code: dict[str, list[tuple[str, JSON]]] = {}

    def walk(key: str, concepts: list[JSON]) -> None:
        for concept in concepts:
            by_code.setdefault(concept["code"], []).append((key, concept))
            walk(key, concept.get("concept", []))

    for key, supplement in supplements:
        walk(key, supplement.get("concept", []))
    return Applied(tuple(supplements), {code: tuple(found) for code, found in by_code.items()})


class SupplementedProvider:
    """A code system provider with supplements applied. Its concepts, hierarchy, filters and
    derived pieces are the wrapped provider's own (so shared with it); `applied` holds what
    the supplements add. Built per request, and only when a supplement of it is asked for."""

    __slots__ = ("base", "applied")

    def __init__(self, base: CodeSystemProvider, applied: Applied) -> None:
        self.base, self.applied = base, applied

    @property
    def url(self) -> str:
        return self.base.url

    @property
    def version(self) -> str | None:
        return self.base.version

    @property
    def content(self) -> str:
        return self.base.content

    @property
    def language(self) -> str | None:
        return self.base.language

    @property
    def resource(self) -> dict[str, Any]:
        return self.base.resource

    @property
    def declared(self) -> Mapping[str, dict[str, Any]]:
        return self.base.declared

    @property
    def key(self) -> str:
        return self.base.key

    def role(self, code: str) -> str | None:
        return self.base.role(code)

    @property
    def concepts(self) -> Mapping[str, Concept]:
        return self.base.concepts

    def find(self, code: str) -> Concept | None:
        return self.base.find(code)

    def display_of(self, code: str) -> str | None:
        return self.base.display_of(code)

    def ancestors(self, code: str) -> set[str]:
        return self.base.ancestors(code)

    def descendants(self, code: str) -> list[str]:
        return self.base.descendants(code)

    def ordered(self) -> list[str]:
        return self.base.ordered()

    @property
    def property_values(self) -> Mapping[str, Mapping[str, set[str]]]:
        return self.base.property_values

    def ranked(self, text: str) -> list[str]:
        return self.base.ranked(text)

    @property
    def pieces(self) -> MutableMapping[tuple[object, ...], object]:
        return self.base.pieces

    @property
    def concept_pieces(self) -> Memo | Local:
        return self.base.concept_pieces


def requested(context: Context, vs: Resource | None = None) -> list[str]:
    """Supplement canonicals asked for by the request or by the value set's extension."""
    return requested_supplements(context.params, vs)


def missing_error(url: str) -> TerminologyError:
    found = finding("VALUESET_SUPPLEMENT_MISSING", url)
    return TerminologyError(404, operation_outcome([found]))


def supplemented(
    context: Context, cs: CodeSystemProvider, vs: Resource | None = None
) -> CodeSystemProvider:
    """cs with the supplements of it that the request (or vs) asks for applied; cs itself
    when none of them is of cs. An asked-for supplement that does not exist is an error."""
    if isinstance(cs, SupplementedProvider):  # applied already, for this request
        return cs
    found: list[tuple[str, Resource]] = []
    for url in requested(context, vs):
        supplement = context.registry.supplement(url)
        if supplement is None:
            raise missing_error(url)
        if (supplement.get("supplements") or "").split("|")[0] == cs.url:
            found.append((canonical_of(supplement["url"], supplement.get("version")), supplement))
    return SupplementedProvider(cs, _applied(found)) if found else cs


def applied(cs: CodeSystemProvider) -> Applied:
    """What supplements add to cs's concepts: nothing unless cs was `supplemented`."""
    return cs.applied if isinstance(cs, SupplementedProvider) else NOTHING


__all__ = [
    "NOTHING",
    "Applied",
    "Sourced",
    "SupplementedProvider",
    "applied",
    "missing_error",
    "requested",
    "supplemented",
]
