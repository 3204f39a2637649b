"""An in-memory index of one CodeSystem version: concepts by code, hierarchy, property
values, and a word-prefix text index. Built once per stored version (small per-request
tx-resources are indexed per request)."""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from codesystem.fhir_types import JSON, Resource
from terminology.caches import Local, Memo, estimate
from terminology.canonical import canonical_of

NOT_SELECTABLE = "http://hl7.org/fhir/concept-properties#notSelectable"
STATUS = "http://hl7.org/fhir/concept-properties#status"
INACTIVE = "http://hl7.org/fhir/concept-properties#inactive"
EFFECTIVE_DATE = "http://hl7.org/fhir/concept-properties#effectiveDate"
RETIREMENT_DATE = "http://hl7.org/fhir/concept-properties#retirementDate"
INACTIVE_STATUSES = {"retired", "inactive"}
STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-cased words of a text, for the text index and for queries."""
    return _WORD.findall(text.lower())


def property_value(prop: JSON) -> tuple[str, object]:
    """(value[x] key, value) of a concept property."""
    for key, value in prop.items():
        if key.startswith("value"):
            return key, value
    return "valueString", None


def value_text(value: object) -> str:
    """A property value as the text filters compare against."""
    if isinstance(value, dict):
        return str(value.get("code", ""))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def day(text: str) -> str:
    """YYYY-MM-DD of a FHIR date or dateTime (a partial date means its first day), so that
    dates compare as strings."""
    text = text[:10]
    return text + "-01-01"[len(text) - 4 :] if len(text) in (4, 7) else text


@dataclass(slots=True)
class Concept:
    code: str
    display: str | None
    definition: str | None
    designations: list[JSON]
    properties: list[JSON]
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    abstract: bool = False
    inactive: bool = False
    status: str | None = None
    deprecated: bool = False
    effective: str | None = None  # first day of use (effectiveDate property), YYYY-MM-DD
    retired: str | None = None  # last day of use (retirementDate property), YYYY-MM-DD
    # a designation with extensions (a status, possibly retired) repeats the display: then a
    # coding sent with the display needs the full display check (validate._own_display)
    display_designated: bool = False


class CodeSystemIndex:
    """One CodeSystem version, indexed for lookup, membership, filters and text search."""

    def __init__(self, resource: Resource, transient: bool = False) -> None:
        """transient: a code system one request brought (tx-resource), whose memos die with
        the request instead of counting against the shared budgets."""
        self.resource = resource
        self.url: str = resource.get("url", "")
        self.version: str | None = resource.get("version")
        self.content: str = resource.get("content", "complete")
        self.case_sensitive: bool = resource.get("caseSensitive", True) is not False
        self.language: str | None = resource.get("language")
        self.declared: dict[str, JSON] = {p["code"]: p for p in resource.get("property", [])}
        self._roles = self._property_roles()
        self.concepts: dict[str, Concept] = {}
        self.roots: list[str] = []
        self._walk(resource.get("concept", []), None)
        self._link_parent_properties()
        # filter text -> codes, best first
        self._ranked: Memo | Local = Local() if transient else Memo("search-results")
        # per code system tables the operations derive on first use (a fixed set of keys:
        # filter tables, extensions by code), and per concept output (bounded by bytes);
        # never mutated once built
        self.pieces: dict[tuple[object, ...], object] = {}
        self.concept_pieces: Memo | Local = Local() if transient else Memo("concept-pieces")
        self.lower: dict[str, str] = (
            {} if self.case_sensitive else {c.lower(): c for c in self.concepts}
        )

    # -- building -------------------------------------------------------------------
    def _property_roles(self) -> dict[str, str]:
        """Which declared property codes mean notSelectable / status / inactive."""
        roles = {"notSelectable": "notSelectable", "status": "status", "inactive": "inactive"}
        for code, decl in self.declared.items():
            uri = decl.get("uri")
            if uri == NOT_SELECTABLE:
                roles[code] = "notSelectable"
            elif uri == STATUS:
                roles[code] = "status"
            elif uri == INACTIVE:
                roles[code] = "inactive"
            elif uri in (EFFECTIVE_DATE, RETIREMENT_DATE):
                roles[code] = uri.rsplit("#", 1)[1]
        return roles

    def _walk(self, concepts: list[JSON], parent: str | None) -> None:
        for raw in concepts:
            concept = self._concept(raw)
            if concept.code in self.concepts:
                concept = self.concepts[concept.code]
            else:
                self.concepts[concept.code] = concept
            if parent is None:
                self.roots.append(concept.code)
            else:
                _add(concept.parents, parent)
                _add(self.concepts[parent].children, concept.code)
            self._walk(raw.get("concept", []), concept.code)

    def _concept(self, raw: JSON) -> Concept:
        concept = Concept(
            code=raw["code"],
            display=raw.get("display"),
            definition=raw.get("definition"),
            designations=raw.get("designation", []),
            properties=raw.get("property", []),
        )
        concept.display_designated = _display_designated(concept.display, concept.designations)
        for ext in raw.get("extension", ()):  # a concept flagged deprecated by extension
            if ext.get("url") == STANDARDS_STATUS and ext.get("valueCode") == "deprecated":
                concept.deprecated = True
                concept.status = concept.status or "deprecated"
        roles = self._roles
        for prop in concept.properties:
            code = prop.get("code")
            role = roles.get(code) if code is not None else None
            if role is None:  # most properties mean nothing to the engine
                continue
            _, value = property_value(prop)
            if role == "notSelectable" and value is True:
                concept.abstract = True
            elif role == "status":
                concept.status = value_text(value)
                concept.inactive = concept.inactive or concept.status in INACTIVE_STATUSES
                concept.deprecated = concept.status == "deprecated"
            elif role == "inactive" and value is True:
                concept.inactive = True
            elif role == "effectiveDate" and isinstance(value, str):
                concept.effective = day(value)
            elif role == "retirementDate" and isinstance(value, str):
                concept.retired = day(value)
        return concept

    def _link_parent_properties(self) -> None:
        """Hierarchy given by `parent` / `child` properties rather than nesting."""
        for concept in self.concepts.values():
            for prop in concept.properties:
                if prop.get("code") not in ("parent", "subsumedBy", "child"):
                    continue
                other = value_text(property_value(prop)[1])
                if other not in self.concepts:
                    continue
                parent, child = (
                    (other, concept.code) if prop["code"] != "child" else (concept.code, other)
                )
                _add(self.concepts[child].parents, parent)
                _add(self.concepts[parent].children, child)
        self.roots = [c for c in self.concepts if not self.concepts[c].parents]

    # -- access ---------------------------------------------------------------------
    @property
    def key(self) -> str:
        return canonical_of(self.url, self.version)

    def role(self, code: str) -> str | None:
        """What a property code means to the engine (status, inactive, effectiveDate, ...)."""
        return self._roles.get(code)

    def find(self, code: str) -> Concept | None:
        """The concept for code (case-insensitively where the code system says so)."""
        found = self.concepts.get(code)
        if found is None and not self.case_sensitive:
            exact = self.lower.get(code.lower())
            return self.concepts.get(exact) if exact else None
        return found

    def descendants(self, code: str) -> list[str]:
        """All codes below code, depth first, without duplicates."""
        seen: dict[str, None] = {}
        stack = list(reversed(self.concepts[code].children)) if code in self.concepts else []
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen[current] = None
            stack.extend(reversed(self.concepts[current].children))
        return list(seen)

    def ancestors(self, code: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.concepts[code].parents) if code in self.concepts else []
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(self.concepts[current].parents)
        return seen

    @cached_property
    def _ordered(self) -> list[str]:
        """Every code in hierarchy order (parents before children, document order)."""
        seen: dict[str, None] = {}
        for root in self.roots:
            seen[root] = None
            for code in self.descendants(root):
                seen[code] = None
        for code in self.concepts:
            seen[code] = None
        return list(seen)

    def ordered(self) -> list[str]:
        return self._ordered

    @cached_property
    def property_values(self) -> dict[str, dict[str, set[str]]]:
        """property code -> value text -> codes having it."""
        table: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for concept in self.concepts.values():
            for prop in concept.properties:
                value = value_text(property_value(prop)[1])
                table[prop.get("code", "")][value].add(concept.code)
        return table

    def display_of(self, code: str) -> str | None:
        concept = self.concepts.get(code)
        return concept.display if concept else None

    # -- text search ----------------------------------------------------------------
    @cached_property
    def _text_index(self) -> tuple[list[str], dict[str, set[str]]]:
        postings: dict[str, set[str]] = defaultdict(set)
        for concept in self.concepts.values():
            texts = [concept.code, concept.display or ""]
            texts += [d.get("value", "") for d in concept.designations]
            for text in texts:
                for word in words(text):
                    postings[word].add(concept.code)
        return sorted(postings), dict(postings)

    def _prefix(self, prefix: str) -> set[str]:
        vocabulary, postings = self._text_index
        start = bisect.bisect_left(vocabulary, prefix)
        found: set[str] = set()
        for word in vocabulary[start:]:
            if not word.startswith(prefix):
                break
            found |= postings[word]
        return found

    def search(self, text: str) -> set[str]:
        """Codes whose code, display or a designation has a word starting with every
        query word (typeahead matching)."""
        query = words(text)
        if not query:
            return set(self.concepts)
        result: set[str] | None = None
        for word in sorted(query, key=len, reverse=True):
            matched = self._prefix(word)
            result = matched if result is None else result & matched
            if not result:
                return set()
        assert result is not None  # query has a word, so the loop ran
        exact = self.find(text.strip())
        if exact is not None:
            result.add(exact.code)
        return result

    def ranked(self, text: str) -> list[str]:
        """Codes matching text, best first; memoised per query (typeahead repeats itself),
        bounded by bytes (terminology/caches.py)."""
        found = self._ranked.get(text)
        if found is None:
            query = text.strip().lower()
            query_words = words(query)
            found = sorted(self.search(text), key=lambda c: self.rank(query, query_words, c))
            self._ranked.put(text, found, estimate(text) + 8 * len(found) + 56)
        return found  # type: ignore[return-value]  # the memo holds what this method put

    @cached_property
    def _rank_data(self) -> dict[str, tuple[str, str, list[str]]]:
        """code -> (lower-cased code, lower-cased display, display words), for ranking."""
        data = {}
        for concept in self.concepts.values():
            display = (concept.display or "").lower()
            data[concept.code] = (concept.code.lower(), display, words(display))
        return data

    def rank(self, query: str, query_words: list[str], code: str) -> tuple[int, int, str]:
        """Sort key for a search hit (query lower-cased): exact code, then code prefix (in
        code order), then display starting with the query, display starting with the first
        word, every word in the display; shorter displays first within a tier."""
        code_lower, display, display_words = self._rank_data[code]
        if code_lower == query:
            return (0, 0, code)
        if code_lower.startswith(query):
            return (1, 0, code)
        if display.startswith(query):
            tier = 2
        elif display_words and query_words and display_words[0].startswith(query_words[0]):
            tier = 3
        elif all(any(w.startswith(q) for w in display_words) for q in query_words):
            tier = 4
        else:
            tier = 5
        return (tier, len(display), code)


def _display_designated(display: str | None, designations: object) -> bool:
    """Whether a designation with extensions repeats the display; True too when the
    designations are malformed, so that the full display check reads (and refuses) them
    when a coding asks, as it always has."""
    if not isinstance(designations, list):
        return True
    for designation in designations:
        if not isinstance(designation, dict):
            return True
        if designation.get("extension") and designation.get("value") == display:
            return True
    return False


def _add(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)
