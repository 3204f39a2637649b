"""The code system provider interface: what the operations ask of one code system version.

The operations ($lookup, $validate-code, $expand, $subsumes, $closure, $translate) talk to
a `CodeSystemProvider`, never to a storage format: the in-memory index of a FHIR CodeSystem
resource (index.CodeSystemIndex) is one provider, and another terminology (a database, an
external service, a grammar such as MIME types) is a new provider, not an edit across the
engine. The method list is what the operations actually call, so a provider is complete
when the engine's tests pass through it.

A provider holds only its own code system. Supplements are applied behind this interface:
when a request or its value set asks for supplements of a code system, the operation takes
`supplements.supplemented(context, cs, vs)`, a SupplementedProvider that answers as cs and
also holds what they add (`supplements.applied(cs)`: designations with the supplement as
their source, concept extensions and properties, property declarations, the supplements
used). So any provider gets supplements for free; with none asked for, cs itself is used.

Concepts are index.Concept values (code, display, definition, designations, properties,
parents / children, and the flags the engine reads: abstract, inactive, status,
deprecated, effective / retired days), whatever the provider reads them from.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from terminology.caches import Local, Memo
    from terminology.index import Concept


@runtime_checkable
class CodeSystemProvider(Protocol):
    """One version of one code system, as the operations read it."""

    # -- identity and metadata ----------------------------------------------------------
    @property
    def url(self) -> str: ...

    @property
    def version(self) -> str | None: ...

    @property
    def content(self) -> str:
        """complete | fragment | example | not-present (a supplement is never a provider)."""
        ...

    @property
    def language(self) -> str | None:
        """The language of displays without one of their own."""
        ...

    @property
    def resource(self) -> dict[str, Any]:
        """The CodeSystem resource (name, status flags, extensions)."""
        ...

    @property
    def declared(self) -> Mapping[str, dict[str, Any]]:
        """Declared property code -> its CodeSystem.property entry."""
        ...

    @property
    def key(self) -> str:
        """url|version (url alone without a version): how answers name it."""
        ...

    def role(self, code: str) -> str | None:
        """What a property code means to the engine, from its declared standard URI
        (status, inactive, notSelectable, effectiveDate, retirementDate), else None."""
        ...

    # -- concepts ----------------------------------------------------------------------
    @property
    def concepts(self) -> Mapping[str, Concept]:
        """Every concept by its code (the hot path reads it)."""
        ...

    def find(self, code: str) -> Concept | None:
        """The concept for code (case-insensitively where the code system says so)."""
        ...

    def display_of(self, code: str) -> str | None: ...

    # -- hierarchy (is-a, subsumption, expansion order) -------------------------------
    def ancestors(self, code: str) -> set[str]: ...

    def descendants(self, code: str) -> list[str]:
        """Every code below code, depth first, without duplicates."""
        ...

    def ordered(self) -> list[str]:
        """Every code in expansion order (parents before children)."""
        ...

    # -- filters and text search ------------------------------------------------------
    @property
    def property_values(self) -> Mapping[str, Mapping[str, set[str]]]:
        """property code -> value text -> the codes having it (compose filters)."""
        ...

    def ranked(self, text: str) -> list[str]:
        """Codes matching a text filter, best first (typeahead)."""
        ...

    # -- derived data, kept as long as the provider ------------------------------------
    @property
    def pieces(self) -> MutableMapping[tuple[object, ...], object]:
        """Per code system tables the operations derive once (filter tables, extensions by
        code): a fixed set of keys per provider, so bounded by what the provider holds."""
        ...

    @property
    def concept_pieces(self) -> Memo | Local:
        """Per concept output the operations derive once ($lookup's sorted properties, a
        concept's retired designations): bounded by bytes (caches.py, concept-pieces)."""
        ...
