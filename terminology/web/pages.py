"""What each web page shows, worked out from the Engine: no HTTP here (routes.py), no markup
(templates/).

Every answer about codes comes from the engine's own operations ($expand, $lookup,
$validate-code, $translate), built as the FHIR request a client would send, so each page can
show that request as a curl line. What the operations do not give (a code's life across
releases, the release picker) is read from the stored CodeSystem versions the engine holds,
once per engine (`Catalog`): the engine is replaced whole when the store changes, and its
catalog goes with it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypedDict
from urllib.parse import quote, urlencode
from weakref import WeakKeyDictionary

import orjson

import codesystem
from codesystem.fhir_types import JSON, Resource
from codesystem.layout import table_url
from terminology.engine import Engine, OperationRequest
from terminology.outcome import TerminologyError
from terminology.params import parameters_from_query
from terminology.registry import preference_key, recency_key
from terminology.web.render import code_href

HCPCS = codesystem.HCPCS_URL
ALL_CODES = HCPCS + "?fhir_vs"
FHIR_BASE = "r4"  # the FHIR endpoint the curl lines name (/fhir is the same R4)
PAGE_SIZE = 25
MAX_COUNT = 100  # codes per page at most
MAX_PAGE = 10_000
MAX_TEXT = 200  # characters of search text
SUGGESTIONS = 8
RELEASE_PREVIEW = 20  # codes per kind of change on a release's overview
CHANGE_PAGE = 100  # codes per page when one kind of change is listed
SEARCH_FILTERS = (  # query parameter, HCPCS property, label
    ("section", "section", "Section"),
    ("betos", "betos", "BETOS category"),
    ("coverage", "coverage", "Medicare coverage"),
    ("asc", "asc-payment-group", "ASC payment group"),
)
STATUSES = {"": "Any status", "active": "Active", "terminated": "Terminated"}
NO_ASC_GROUP = "none"
CHANGE_TITLES = {
    "added": "Added",
    "removed": "Removed",
    "terminated": "Terminated",
    "redescribed": "Re-described",
    "property-changed": "Property changes",
}
_WORD = re.compile(r"\w")


class PageError(Exception):
    """A request the pages cannot answer: the HTTP status, a title, what went wrong and
    where to go instead (links as (href, text))."""

    def __init__(
        self, status: int, title: str, detail: str, links: Iterable[tuple[str, str]] = ()
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.links = status, title, detail, list(links)


# --- FHIR requests ------------------------------------------------------------------------


@dataclass(frozen=True)
class FhirRequest:
    """One engine call, kept in the form a client sends it (GET query, or a POST body when
    a resource is passed), so the page can show it as curl."""

    operation: str
    resource_type: str
    query: tuple[tuple[str, str], ...]
    resource: tuple[str, Resource] | None = None  # (parameter name, resource)

    def parameters(self) -> Resource:
        parameters = parameters_from_query(self.operation, list(self.query))
        if self.resource is not None:
            name, resource = self.resource
            parameters["parameter"].append({"name": name, "resource": resource})
        return parameters

    def path(self) -> str:
        return f"/{FHIR_BASE}/{self.resource_type}/${self.operation}"

    def url(self, base_url: str) -> str:
        """The GET URL (the body's parameters left out when there is a resource)."""
        query = urlencode(self.query, safe=":/|", quote_via=quote) if self.query else ""
        return base_url.rstrip("/") + self.path() + (f"?{query}" if query else "")

    def curl(self, base_url: str) -> str:
        if self.resource is None:
            return f"curl -s {shlex.quote(self.url(base_url))}"
        body = orjson.dumps(self.parameters()).decode()
        target = base_url.rstrip("/") + self.path()
        return (
            f"curl -s -X POST -H 'Content-Type: application/fhir+json' "
            f"--data {shlex.quote(body)} {shlex.quote(target)}"
        )


def run(engine: Engine, request: FhirRequest) -> Resource:
    return engine.run(
        OperationRequest(request.operation, request.resource_type, request.parameters())
    )


def _parts(parameter: JSON) -> dict[str, object]:
    """name -> value[x] of a parameter's parts (the first of each name)."""
    found: dict[str, object] = {}
    for part in parameter.get("part", []):
        for key, value in part.items():
            if key.startswith("value"):
                found.setdefault(part["name"], value)
    return found


# --- the catalog: what the pages need from one engine, worked out once --------------------


@dataclass(frozen=True)
class Option:
    value: str
    label: str


class Catalog:
    """The stored HCPCS releases of one engine and what is derived from them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        held = [
            cs
            for cs in engine.resources("CodeSystem")
            if cs.get("url") == HCPCS and cs.get("version")  # a release has a version
        ]
        self.releases: list[Resource] = sorted(held, key=recency_key)  # oldest first
        self.by_version: dict[str, Resource] = {cs["version"]: cs for cs in self.releases}
        self.versions: list[str] = [cs["version"] for cs in self.releases]
        self.default: str | None = max(held, key=preference_key)["version"] if held else None
        self._concepts: dict[str, dict[str, JSON]] = {}
        self._changes: dict[str, codesystem.ReleaseChanges] = {}
        self._candidates: dict[str, list[tuple[Resource, list[_Include]]]] = {}

    def version(self, asked: str | None) -> str:
        """The release asked for (the default when none is), or a 404 naming those held."""
        if not asked:
            if self.default is None:
                raise PageError(404, "No HCPCS release", "The store holds no HCPCS release.")
            return self.default
        if asked not in self.by_version:
            links = [(f"/release/{quote(v)}", f"HCPCS {v}") for v in self.versions]
            text = f"There is no stored HCPCS release '{_clip(asked)}'."
            raise PageError(404, "Unknown release", text, links)
        return asked

    def concepts(self, version: str) -> dict[str, JSON]:
        """Code -> concept of one stored release."""
        found = self._concepts.get(version)
        if found is None:
            found = self._concepts[version] = {
                c["code"]: c for c in _flat(self.by_version[version].get("concept", []))
            }
        return found

    def holder(self, code: str, prefer: str | None = None) -> str | None:
        """The release to show a code in: prefer's when it holds the code, else the newest
        release holding it (None when no stored release does)."""
        if prefer is not None and code in self.concepts(prefer):
            return prefer
        return next((v for v in reversed(self.versions) if code in self.concepts(v)), None)

    def previous(self, version: str) -> str | None:
        at = self.versions.index(version)
        return self.versions[at - 1] if at > 0 else None

    def changes(self, version: str) -> codesystem.ReleaseChanges | None:
        """What changed from the previous stored release (None for the first)."""
        previous = self.previous(version)
        if previous is None:
            return None
        found = self._changes.get(version)
        if found is None:
            old, new = self.by_version[previous], self.by_version[version]
            found = self._changes[version] = codesystem.compare_releases(old, new)
        return found

    @cached_property
    def tables(self) -> dict[str, dict[str, str]]:
        """Property -> {code: display} of the CMS code tables the search filters use
        (the latest stored version of each table)."""
        tables: dict[str, dict[str, str]] = {}
        for _, prop, _ in SEARCH_FILTERS:
            held = [
                cs for cs in self.engine.resources("CodeSystem") if cs.get("url") == table_url(prop)
            ]
            latest = max(held, key=recency_key) if held else {}
            concepts = _flat(latest.get("concept", []))
            tables[prop] = {c["code"]: c.get("display", "") for c in concepts}
        return tables

    def options(self, prop: str) -> list[Option]:
        found = [Option(code, f"{code}: {text}") for code, text in self.tables[prop].items()]
        if prop == "asc-payment-group":
            found.append(Option(NO_ASC_GROUP, "No ASC group (not approved for ASC)"))
        return found

    def property_meanings(self, version: str) -> dict[str, str]:
        """Property code -> its declared description, in declaration order."""
        declared = self.by_version[version].get("property", [])
        return {p["code"]: p.get("description", "") for p in declared}

    def candidates(self, version: str) -> list[tuple[Resource, list[_Include]]]:
        """Stored value sets that can hold codes of this release, each with its HCPCS
        includes pre-digested (for a quick "might it hold this code?")."""
        found = self._candidates.get(version)
        if found is None:
            found = []
            for vs in self.engine.resources("ValueSet"):
                includes = [
                    _Include.of(inc)
                    for inc in (vs.get("compose") or {}).get("include", [])
                    if inc.get("system") == HCPCS and inc.get("version") in (None, version)
                ]
                if includes:
                    found.append((vs, includes))
            found.sort(key=lambda item: item[0].get("title") or item[0].get("id") or "")
            self._candidates[version] = found
        return found


_CATALOGS: WeakKeyDictionary[Engine, Catalog] = WeakKeyDictionary()


def catalog(engine: Engine) -> Catalog:
    """The catalog of an engine (built on first use, dropped with the engine)."""
    found = _CATALOGS.get(engine)
    if found is None:
        found = _CATALOGS[engine] = Catalog(engine)
    return found


@dataclass(frozen=True)
class _Include:
    """One HCPCS include of a value set, reduced to what decides membership quickly."""

    codes: frozenset[str] | None  # listed concepts, None when the include has no list
    filters: tuple[tuple[str, str, str], ...]  # (property, op, value)
    decided_elsewhere: bool  # imports other value sets: the engine decides

    @classmethod
    def of(cls, include: JSON) -> _Include:
        listed = include.get("concept")
        filters = tuple(
            (str(f.get("property")), str(f.get("op")), str(f.get("value")))
            for f in include.get("filter", [])
        )
        codes = frozenset(c.get("code") for c in listed) if listed else None
        return cls(codes, filters, bool(include.get("valueSet")))

    def may_hold(self, code: str, values: Mapping[str, set[str]], declared: Set[str]) -> bool:
        """False when the include cannot hold the code (values: the concept's property
        values; declared: the code system's properties); True leaves it to the engine."""
        if self.decided_elsewhere:
            return True
        if self.codes is not None and code not in self.codes:
            return False
        return all(_filter_may_match(f, code, values, declared) for f in self.filters)


def _filter_may_match(
    spec: tuple[str, str, str], code: str, values: Mapping[str, set[str]], declared: Set[str]
) -> bool:
    prop, op, value = spec
    if op == "=" and prop in ("code", "concept"):
        return code == value
    if op == "=" and prop in declared:
        return value in values.get(prop, ())
    if op == "exists" and prop in declared:
        return (prop in values) == (value == "true")
    return True  # other operators and properties: the engine decides


def _property_values(concept: JSON) -> dict[str, set[str]]:
    values: dict[str, set[str]] = {}
    for prop in concept.get("property", []):
        values.setdefault(prop["code"], set()).add(_raw_text(prop))
    return values


def _raw_text(value: Mapping[str, object]) -> str:
    for key, raw in value.items():
        if key.startswith("value"):
            if isinstance(raw, dict):
                return str(raw.get("code", ""))
            return str(raw).lower() if isinstance(raw, bool) else str(raw)
    return ""


def _flat(concepts: list[JSON]) -> Iterable[JSON]:
    for concept in concepts:
        yield concept
        if concept.get("concept"):
            yield from _flat(concept["concept"])


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --- query parsing ------------------------------------------------------------------------


def integer(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    """A whole number query parameter within [low, high], or a 400."""
    if raw is None or raw == "":
        return default
    if not raw.strip().isdigit() or len(raw.strip()) > 9:
        raise PageError(400, "Bad request", f"'{name}' must be a whole number, not '{_clip(raw)}'.")
    value = int(raw)
    if not low <= value <= high:
        raise PageError(400, "Bad request", f"'{name}' must be from {low} to {high}, not {value}.")
    return value


def search_text(raw: str | None) -> str:
    text = " ".join((raw or "").split())
    if len(text) > MAX_TEXT:
        raise PageError(400, "Search text too long", f"Search with {MAX_TEXT} characters at most.")
    if text and not _WORD.search(text):
        raise PageError(400, "Nothing to search for", "The search text has no letters or digits.")
    return text


@dataclass(frozen=True)
class Paging:
    page: int
    count: int
    total: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.count

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.count))

    @property
    def first(self) -> int:
        return self.offset + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.offset + self.count, self.total)


def _check_page(paging: Paging) -> None:
    if paging.page > paging.pages:
        text = f"Page {paging.page} does not exist: there are {paging.pages} pages of results."
        raise PageError(404, "No such page", text)


# --- search -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Search:
    """The search form's values (every one optional)."""

    text: str = ""
    version: str = ""
    filters: tuple[tuple[str, str], ...] = ()  # (query parameter, value), as asked
    status: str = ""
    page: int = 1
    count: int = PAGE_SIZE
    pinned: bool = False  # the release was asked for (else the default answered)

    @classmethod
    def parse(cls, query: Mapping[str, str], cat: Catalog) -> Search:
        text = search_text(query.get("q"))
        version = cat.version(query.get("version") or None)
        filters = []
        for name, prop, label in SEARCH_FILTERS:
            value = (query.get(name) or "").strip()
            if value:
                if value not in {o.value for o in cat.options(prop)}:
                    text_ = f"'{_clip(value)}' is not a {label} value."
                    raise PageError(400, "Unknown filter value", text_)
                filters.append((name, value))
        status = query.get("status") or ""
        if status not in STATUSES:
            raise PageError(400, "Unknown status", "Status must be active or terminated.")
        page = integer(query.get("page"), "page", 1, 1, MAX_PAGE)
        count = integer(query.get("count"), "count", PAGE_SIZE, 1, MAX_COUNT)
        pinned = bool(query.get("version"))
        return cls(text, version, tuple(filters), status, page, count, pinned)

    def value(self, name: str) -> str:
        return dict(self.filters).get(name, "")

    def link(self, **changes: object) -> str:
        """The URL of this search with some values changed (empty values left out)."""
        values: dict[str, object] = {
            "q": self.text,
            "version": self.version if self.pinned else "",
            **dict(self.filters),
            "status": self.status,
            "count": self.count if self.count != PAGE_SIZE else "",
            "page": self.page if self.page != 1 else "",
        }
        values.update(changes)
        kept = [(k, str(v)) for k, v in values.items() if v not in ("", None)]
        return "/" + (f"?{urlencode(kept)}" if kept else "")


@dataclass(frozen=True)
class Row:
    code: str
    display: str
    inactive: bool = False


class Suggestion(TypedDict):
    """One typeahead entry, as /suggest sends it (JSON)."""

    code: str
    display: str
    inactive: bool


@dataclass(frozen=True)
class SearchResult:
    search: Search
    rows: list[Row]
    paging: Paging
    request: FhirRequest


def search_request(search: Search, offset: int, count: int) -> FhirRequest:
    """The $expand that answers a search: the implicit all-codes value set when only text
    and status narrow it (cached by the engine), else an inline compose with one property
    filter per search filter."""
    filters = [
        {"property": prop, "op": "exists", "value": "false"}
        if value == NO_ASC_GROUP and prop == "asc-payment-group"
        else {"property": prop, "op": "=", "value": value}
        for name, prop, _ in SEARCH_FILTERS
        if (value := search.value(name))
    ]
    if search.status == "terminated":
        filters.append({"property": "inactive", "op": "=", "value": "true"})
    query: list[tuple[str, str]] = []
    resource = None
    if filters:
        include = {"system": HCPCS, "version": search.version, "filter": filters}
        compose = {"inactive": True, "include": [include]}
        inline = {"resourceType": "ValueSet", "status": "active", "compose": compose}
        resource = ("valueSet", inline)
    else:
        query += [("url", ALL_CODES), ("system-version", f"{HCPCS}|{search.version}")]
    if search.text:
        query.append(("filter", search.text))
    if search.status == "active":
        query.append(("activeOnly", "true"))
    if offset:
        query.append(("offset", str(offset)))
    query.append(("count", str(count)))
    return FhirRequest("expand", "ValueSet", tuple(query), resource)


def search(cat: Catalog, search: Search) -> SearchResult:
    request = search_request(search, (search.page - 1) * search.count, search.count)
    expansion = run(cat.engine, request)["expansion"]
    rows = [_row(item) for item in expansion.get("contains", [])]
    paging = Paging(search.page, search.count, int(expansion.get("total", len(rows))))
    _check_page(paging)
    return SearchResult(search, rows, paging, request)


def _row(item: JSON) -> Row:
    return Row(item.get("code", ""), item.get("display", ""), bool(item.get("inactive")))


def suggest(cat: Catalog, text: str, version: str | None) -> list[Suggestion]:
    """Typeahead: the best few codes for the text (codes, displays, short descriptions)."""
    text = search_text(text)
    if not text:
        return []
    chosen = cat.version(version)
    request = search_request(Search(text, chosen), 0, SUGGESTIONS)
    expansion = run(cat.engine, request)["expansion"]
    return [
        Suggestion(code=row.code, display=row.display, inactive=row.inactive)
        for row in map(_row, expansion.get("contains", []))
    ]


# --- a code -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    text: str
    display: str = ""
    href: str = ""


@dataclass(frozen=True)
class PropertyRow:
    code: str
    meaning: str
    values: list[Value]


@dataclass(frozen=True)
class Change:
    """One line of a code's life: what changed (kind), and the values before and after."""

    kind: str
    label: str
    old: list[Value] = field(default_factory=list)
    new: list[Value] = field(default_factory=list)


@dataclass(frozen=True)
class LifeRow:
    version: str
    start: str
    present: bool
    changes: list[Change]


@dataclass(frozen=True)
class Link:
    href: str
    text: str
    note: str = ""


@dataclass(frozen=True)
class CodePage:
    code: str
    version: str
    is_default: bool
    display: str
    short: str
    status: str  # active | terminated
    last_day: str
    replaced_by: list[Link]
    replaces: list[Link]
    properties: list[PropertyRow]
    life: list[LifeRow]
    value_sets: list[Link]
    versions: list[str]  # the stored releases holding the code
    request: FhirRequest


def code_page(cat: Catalog, code: str, asked_version: str | None) -> CodePage:
    version = cat.version(asked_version)
    concept = cat.concepts(version).get(code)
    if concept is None:
        raise _unknown_code(cat, code, version, asked_version)
    request = FhirRequest(
        "lookup", "CodeSystem", (("system", HCPCS), ("code", code), ("version", version))
    )
    lookup = run(cat.engine, request)
    display = ""
    short = ""
    grouped: dict[str, list[Value]] = {}
    for parameter in lookup.get("parameter", []):
        if parameter["name"] == "display":
            display = parameter.get("valueString", "")
        elif parameter["name"] == "property":
            parts = _parts(parameter)
            grouped.setdefault(str(parts.get("code")), []).append(
                _value(parts.get("value"), parts.get("code"), cat, version)
            )
    short = grouped.get("short-description", [Value("")])[0].text
    meanings = cat.property_meanings(version)
    order = {name: at for at, name in enumerate(meanings)}
    properties = [
        PropertyRow(name, meanings.get(name, ""), values)
        for name, values in sorted(grouped.items(), key=lambda item: order.get(item[0], 999))
    ]
    values = _property_values(concept)
    last_day = next(iter(values.get("termination-date", ())), "")
    terminated = "retired" in values.get("status", ()) or "true" in values.get("inactive", ())
    return CodePage(
        code=code,
        version=version,
        is_default=version == cat.default,
        display=display,
        short=short,
        status="terminated" if terminated else "active",
        last_day=last_day[:10],
        replaced_by=_translations(cat, code, version, forward=True) if last_day else [],
        replaces=_translations(cat, code, version, forward=False),
        properties=properties,
        life=life(cat, code),
        value_sets=_value_sets(cat, code, version, values),
        versions=[v for v in cat.versions if code in cat.concepts(v)],
        request=request,
    )


def _value(raw: object, prop: object, cat: Catalog, version: str) -> Value:
    if isinstance(raw, dict):  # a Coding
        return Value(str(raw.get("code", "")), str(raw.get("display", "")))
    if isinstance(raw, bool):
        return Value("true" if raw else "false")
    text = str(raw)
    if prop == "cross-reference":
        holder = cat.holder(text)
        if holder is not None:
            display = cat.concepts(holder)[text].get("display", "")
            return Value(text, display, code_href(text, holder, cat.default))
        return Value(text, "not an HCPCS code (CPT)" if text[:1].isdigit() else "")
    if prop in ("added-date", "termination-date", "action-effective-date"):
        return Value(text[:10])
    return Value(text)


def _translations(cat: Catalog, code: str, version: str, forward: bool) -> list[Link]:
    """Replacement codes (forward: what replaces this code; else: what it replaces), from
    the stored replacement ConceptMap through $translate."""
    query = (
        (("sourceCode", code), ("system", HCPCS))
        if forward
        else (("targetCode", code), ("targetSystem", HCPCS))
    )
    try:
        result = run(cat.engine, FhirRequest("translate", "ConceptMap", query))
    except TerminologyError:
        return []
    links = []
    for parameter in result.get("parameter", []):
        if parameter["name"] != "match":
            continue
        parts = _parts(parameter)
        coding = parts.get("concept" if forward else "source")
        if not isinstance(coding, dict) or not coding.get("code"):
            continue
        other = str(coding["code"])
        if coding.get("system", HCPCS) != HCPCS:
            links.append(Link("", other, f"{coding.get('system')}"))
            continue
        holder = cat.holder(other, version)
        href = code_href(other, holder, cat.default) if holder else ""
        links.append(Link(href, other, str(coding.get("display", ""))))
    return links


def life(cat: Catalog, code: str) -> list[LifeRow]:
    """The code in each stored release, oldest first: when it appeared, and what changed
    from one release to the next (compare_releases on the code alone)."""
    rows = []
    before: JSON | None = None
    for at, cs in enumerate(cat.releases):
        version = cs["version"]
        concept = cat.concepts(version).get(code)
        start = str((cs.get("effectivePeriod") or {}).get("start", ""))[:10]
        changes: list[Change] = []
        if concept is not None and before is None:
            added = next(iter(_property_values(concept).get("added-date", ())), "")[:10]
            label = (
                f"In the first stored release (CMS added it on {added})"
                if at == 0
                else f"Added in this release (CMS added-date {added})"
            )
            changes.append(Change("added" if at else "first", label))
        elif concept is None and before is not None:
            changes.append(Change("removed", "Removed: absent from this release"))
        elif concept is not None and before is not None:
            changes += _code_changes(cat, code, before, concept, cat.releases[at - 1], cs)
        if concept is not None or before is not None:
            rows.append(LifeRow(version, start, concept is not None, changes))
        before = concept
    return rows


def _code_changes(
    cat: Catalog, code: str, old: JSON, new: JSON, old_cs: Resource, new_cs: Resource
) -> list[Change]:
    if old is new or old == new:
        return []
    old_release, new_release = _with_only(old_cs, old), _with_only(new_cs, new)
    found = codesystem.compare_releases(old_release, new_release).change(code)
    if found is None:
        return []
    changes = []
    props = {p.property: p for p in found.properties}
    if "terminated" in found.kinds:
        last = props.get("termination-date")
        day = _raw_text(last.new[0])[:10] if last and last.new else ""
        label = f"Terminated: last day of use {day}" if day else "Terminated"
        changes.append(Change("terminated", label))
    if "redescribed" in found.kinds:
        changes.append(
            Change(
                "redescribed",
                "description changed",
                [Value(found.old_display or "")],
                [Value(found.display or "")],
            )
        )
    version = str(new_cs.get("version"))
    for change in found.properties:
        changes.append(
            Change(
                "property",
                change.property,
                [_value(_first_value(v), change.property, cat, version) for v in change.old],
                [_value(_first_value(v), change.property, cat, version) for v in change.new],
            )
        )
    return changes


def _with_only(release: Resource, concept: JSON) -> Resource:
    """The release reduced to one concept, its property declarations kept (compare_releases
    finds the termination date and status by their declared URIs)."""
    reduced: Resource = {
        key: release[key] for key in ("url", "version", "property") if key in release
    }
    reduced["concept"] = [concept]
    return reduced


def _first_value(value: JSON) -> object:
    return next((raw for key, raw in value.items() if key.startswith("value")), "")


def _value_sets(cat: Catalog, code: str, version: str, values: dict[str, set[str]]) -> list[Link]:
    """Stored value sets whose expansion holds the code: the candidates whose HCPCS
    includes could hold it, each confirmed by $validate-code."""
    found = []
    declared = cat.property_meanings(version).keys()
    for vs, includes in cat.candidates(version):
        if not any(include.may_hold(code, values, declared) for include in includes):
            continue
        query = [("url", vs["url"]), ("system", HCPCS), ("code", code), ("systemVersion", version)]
        if vs.get("version"):
            query.insert(1, ("valueSetVersion", vs["version"]))
        try:
            result = run(cat.engine, FhirRequest("validate-code", "ValueSet", tuple(query)))
        except TerminologyError:
            continue
        held = any(
            p["name"] == "result" and p.get("valueBoolean") for p in result.get("parameter", [])
        )
        if held:
            title = vs.get("title") or vs.get("name") or vs.get("id", "")
            found.append(Link(f"/ValueSet/{quote(vs.get('id', ''), safe='')}", title, vs["url"]))
    return found


def _unknown_code(cat: Catalog, code: str, version: str, asked: str | None) -> PageError:
    """A 404 that points to the right code: another release holding it, the same code in
    another case (j0120 -> J0120), or close matches from the text search."""
    shown = _clip(code, 40)
    links: list[tuple[str, str]] = []
    seen: set[str] = set()

    def offer(candidate: str, note: str) -> None:
        holder = cat.holder(candidate, version)
        if holder is None or candidate in seen:
            return
        seen.add(candidate)
        text = f"{candidate}: {cat.concepts(holder)[candidate].get('display', '')}"
        links.append((code_href(candidate, holder, cat.default), f"{note}{text}"))

    held_in = [v for v in cat.versions if code in cat.concepts(v)]
    for other in held_in:
        href = code_href(code, other, cat.default)
        links.append((href, f"{code} in HCPCS {other}"))
    seen.add(code)
    for variant in (code.strip().upper(), code.strip().lower()):
        if variant != code:
            offer(variant, "Did you mean ")
    text = code.strip()[:20]
    if _WORD.search(text) and not links:
        for probe in (text, text[:-1], text[:3]):
            if not probe or not _WORD.search(probe):
                continue
            request = search_request(Search(probe, version), 0, 5)
            for item in run(cat.engine, request)["expansion"].get("contains", []):
                offer(str(item.get("code")), "")
            if links:
                break
    where = f"release {version}" if asked else f"the current release ({version})"
    detail = f"There is no code '{shown}' in HCPCS {where}."
    if held_in:
        detail += f" It is in {', '.join(held_in)}."
    return PageError(404, "Unknown code", detail, links)


# --- value sets and code systems -----------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One include or exclude of a compose, as text."""

    kind: str  # include | exclude
    system: str
    system_href: str
    version: str
    filters: list[str]
    concepts: int
    value_sets: list[str]


@dataclass(frozen=True)
class ResourcePage:
    """A ValueSet or CodeSystem with a page of its codes."""

    kind: str  # ValueSet | CodeSystem
    resource: Resource
    facts: list[tuple[str, str]]
    rules: list[Rule]
    properties: list[tuple[str, str, str]]  # CodeSystem: code, type, description
    rows: list[Row]
    paging: Paging | None
    text: str
    error: str
    request: FhirRequest | None
    code_version: str | None  # the HCPCS release codes link to (None: no links)
    release: str | None  # a HCPCS CodeSystem's version (link to its release page)


def value_set_page(cat: Catalog, id: str, text: str, page: int, count: int) -> ResourcePage:
    vs = cat.engine.resource("ValueSet", id)
    if vs is None:
        links = [("/ValueSet", "All value sets")]
        raise PageError(404, "Unknown value set", f"There is no value set '{_clip(id)}'.", links)
    query = [("url", str(vs.get("url", "")))]
    if vs.get("version"):
        query.append(("valueSetVersion", str(vs["version"])))
    rules = [
        _rule(kind, item, cat)
        for kind in ("include", "exclude")
        for item in (vs.get("compose") or {}).get(kind, [])
    ]
    versions = {r.version for r in rules if r.system == HCPCS and r.version}
    code_version = next(iter(versions)) if len(versions) == 1 else cat.default
    facts = _facts(vs)
    return _with_codes(
        cat, "ValueSet", vs, facts, rules, [], query, text, page, count, code_version
    )


def code_system_page(cat: Catalog, id: str, text: str, page: int, count: int) -> ResourcePage:
    cs = cat.engine.resource("CodeSystem", id)
    if cs is None:
        links = [("/CodeSystem", "All code systems")]
        text_ = f"There is no code system '{_clip(id)}'."
        raise PageError(404, "Unknown code system", text_, links)
    url = str(cs.get("url", ""))
    query = [("url", url + "?fhir_vs")]
    if cs.get("version"):
        query.append(("system-version", f"{url}|{cs['version']}"))
    properties = [
        (str(p.get("code")), str(p.get("type", "")), str(p.get("description", "")))
        for p in cs.get("property", [])
    ]
    facts = _facts(cs)
    code_version = cs.get("version") if url == HCPCS else None
    return _with_codes(
        cat, "CodeSystem", cs, facts, [], properties, query, text, page, count, code_version
    )


def _with_codes(
    cat: Catalog,
    kind: str,
    resource: Resource,
    facts: list[tuple[str, str]],
    rules: list[Rule],
    properties: list[tuple[str, str, str]],
    query: list[tuple[str, str]],
    text: str,
    page: int,
    count: int,
    code_version: str | None,
) -> ResourcePage:
    if text:
        query.append(("filter", text))
    if page > 1:
        query.append(("offset", str((page - 1) * count)))
    query.append(("count", str(count)))
    request = FhirRequest("expand", "ValueSet", tuple(query))
    rows: list[Row] = []
    paging = None
    error = ""
    try:
        expansion = run(cat.engine, request)["expansion"]
    except TerminologyError as failure:
        error = failure.text
    else:
        rows = [_row(item) for item in expansion.get("contains", [])]
        paging = Paging(page, count, int(expansion.get("total", len(rows))))
        _check_page(paging)
    is_release = kind == "CodeSystem" and resource.get("url") == HCPCS
    release = resource.get("version") if is_release else None
    return ResourcePage(
        kind,
        resource,
        facts,
        rules,
        properties,
        rows,
        paging,
        text,
        error,
        request,
        code_version,
        release,
    )


def _facts(resource: Resource) -> list[tuple[str, str]]:
    facts = [
        ("URL", resource.get("url")),
        ("Version", resource.get("version")),
        ("Name", resource.get("name")),
        ("Status", resource.get("status")),
        ("Effective from", (resource.get("effectivePeriod") or {}).get("start")),
        ("Publisher", resource.get("publisher")),
        ("Content", resource.get("content")),
        ("Concepts", resource.get("count")),
        ("Copyright", resource.get("copyright")),
    ]
    return [(label, str(value)) for label, value in facts if value not in (None, "")]


def _rule(kind: str, item: JSON, cat: Catalog) -> Rule:
    system = str(item.get("system", ""))
    version = str(item.get("version", ""))
    filters = []
    for f in item.get("filter", []):
        prop, op, value = str(f.get("property")), str(f.get("op")), str(f.get("value"))
        shown = cat.tables.get(prop, {}).get(value) if system == HCPCS else None
        filters.append(f"{prop} {op} {value}" + (f" ({shown})" if shown else ""))
    href = ""
    if system == HCPCS and version in cat.by_version:
        href = f"/CodeSystem/{quote(str(cat.by_version[version].get('id', '')), safe='')}"
    return Rule(
        kind,
        system,
        href,
        version,
        filters,
        len(item.get("concept", [])),
        [str(v) for v in item.get("valueSet", [])],
    )


def listing(cat: Catalog, kind: str) -> list[Resource]:
    """Every stored resource of a kind, by title then version."""
    resources = cat.engine.resources(kind)
    return sorted(
        resources,
        key=lambda r: (str(r.get("title") or r.get("name") or r.get("id")), str(r.get("version"))),
    )


# --- a release ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangedCode:
    code: str
    display: str
    old_display: str = ""
    last_day: str = ""
    xref: list[Value] = field(default_factory=list)
    properties: list[Change] = field(default_factory=list)


@dataclass(frozen=True)
class ChangeSection:
    kind: str
    title: str
    total: int
    codes: list[ChangedCode]
    paging: Paging | None  # set when this kind is listed alone


@dataclass(frozen=True)
class ReleasePage:
    version: str
    resource: Resource
    start: str
    count: int
    previous: str | None
    following: str | None
    counts: dict[str, int]
    sections: list[ChangeSection]
    kind: str
    request: FhirRequest | None


def release_page(cat: Catalog, version: str, kind: str, page: int) -> ReleasePage:
    version = cat.version(version)
    if kind and kind not in CHANGE_TITLES:
        known = ", ".join(CHANGE_TITLES)
        raise PageError(400, "Unknown kind of change", f"Kind must be one of {known}.")
    cs = cat.by_version[version]
    at = cat.versions.index(version)
    previous = cat.previous(version)
    following = cat.versions[at + 1] if at + 1 < len(cat.versions) else None
    changes = cat.changes(version)
    sections: list[ChangeSection] = []
    counts: dict[str, int] = {}
    request = None
    if changes is not None:
        counts = changes.counts()
        query = (("system", HCPCS), ("fromVersion", str(previous)), ("toVersion", version))
        request = FhirRequest("changes", "CodeSystem", query)
        new = cat.concepts(version)
        for name, title in CHANGE_TITLES.items():
            if kind and name != kind:
                continue
            affected = [c for c in changes.changes if name in c.kinds]
            if kind:
                paging = Paging(page, CHANGE_PAGE, len(affected))
                _check_page(paging)
                shown = affected[paging.offset : paging.offset + CHANGE_PAGE]
            else:
                paging, shown = None, affected[:RELEASE_PREVIEW]
            codes = [_changed(c, new.get(c.code), cat, version) for c in shown]
            sections.append(ChangeSection(name, title, len(affected), codes, paging))
    elif kind or page > 1:
        text = f"HCPCS {version} is the first stored release: there is nothing to compare."
        raise PageError(404, "No earlier release", text)
    start = str((cs.get("effectivePeriod") or {}).get("start", ""))[:10]
    count = int(cs.get("count") or len(cat.concepts(version)))
    return ReleasePage(
        version, cs, start, count, previous, following, counts, sections, kind, request
    )


def _changed(
    change: codesystem.CodeChange, concept: JSON | None, cat: Catalog, version: str
) -> ChangedCode:
    values = _property_values(concept) if concept else {}
    return ChangedCode(
        change.code,
        change.display or "",
        change.old_display or "",
        next(iter(values.get("termination-date", ())), "")[:10],
        [
            _value(_first_value(v), "cross-reference", cat, version)
            for v in (concept or {}).get("property", [])
            if v.get("code") == "cross-reference"
        ],
        [
            Change(
                "property",
                p.property,
                [_value(_first_value(v), p.property, cat, version) for v in p.old],
                [_value(_first_value(v), p.property, cat, version) for v in p.new],
            )
            for p in change.properties
        ],
    )
