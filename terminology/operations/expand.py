"""ValueSet/$expand: evaluate the compose, apply the text filter and paging, and build the
expansion (total, identifier, timestamp, echoed parameters, used-codesystem)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import cast

from codesystem.fhir_types import JSON, Resource
from terminology import resolver
from terminology.index import Concept, property_value
from terminology.operations import Context, dated
from terminology.operations.compose import (
    MAX_EXPANSION,
    VS_DEPRECATED,
    Composer,
    Entry,
    Expanded,
    UnknownSystem,
    status_flag,
    vs_key,
)
from terminology.operations.displays import (
    display_for,
    in_languages,
    others_refused,
    requested_languages,
)
from terminology.operations.lookup import PREFERRED
from terminology.operations.supplements import (
    SupplementedProvider,
    missing_error,
    requested,
    supplemented,
)
from terminology.outcome import TerminologyError, finding, operation_outcome
from terminology.providers import CodeSystemProvider
from terminology.version_policy import value_set_version

ECHOED = (
    "activeOnly",
    "count",
    "offset",
    "filter",
    "excludeNested",
    "includeDesignations",
    "designation",
    "excludeNotForUI",
    "excludePostCoordinated",
    "force-system-version",
    "default-valueset-version",
    "default-to-latest-version",
    "date",
)
MAX_COUNT = 10_000
STANDARD_PROPERTIES = {"definition", "status", "inactive", "notSelectable", "parent", "child"}
VS_FIELDS_DROPPED = (
    "text",
    "expansion",
    "meta",
    "compose",
    "contained",
    "description",
    "publisher",
    "contact",
    "purpose",
    "copyright",
    "jurisdiction",
    "useContext",
)
STATUS_URI = "http://hl7.org/fhir/concept-properties#status"


def resolve_value_set(context: Context, instance_id: str | None = None) -> Resource:
    """The value set a request names: instance, `valueSet` resource, or url(+version)."""
    params, registry = context.params, context.registry
    if instance_id:
        return resolver.instance(registry, "ValueSet", instance_id)
    inline = params.get("valueSet")
    if isinstance(inline, dict):
        return inline
    url = params.get("url") or params.get("context")
    if not url:
        raise TerminologyError.of(400, "required", "invalid-data", "PARAM_MISSING", "url")
    asked = params.get("valueSetVersion")
    version = value_set_version(registry, url, str(asked) if asked else None, context.date)
    found = registry.value_set(url, version)
    if found is None:
        raise resolver.unknown_value_set(url, version)
    return found


def evaluate(context: Context, vs: Resource, verb: str = "EXP") -> Expanded:
    """The compose of vs in this context; unknown code systems become errors."""
    try:
        return Composer(context).evaluate(vs)
    except UnknownSystem as unknown:
        raise unknown_system_error(context, unknown, verb) from None


def unknown_system_error(context: Context, unknown: UnknownSystem, verb: str) -> TerminologyError:
    purpose: resolver.Purpose = "expand" if verb == "EXP" else "validate"
    return resolver.unknown_code_system_error(
        context.registry, unknown.system, unknown.version, purpose, known=unknown.known
    )


def run(context: Context, instance_id: str | None = None) -> Resource:
    vs = resolve_value_set(context, instance_id)
    context.use_value_set_language(vs)
    count, offset = _paging(context)
    expanded = evaluate(context, vs)
    supplements = _supplements(context, vs, expanded)
    expanded = replace(expanded, supplements=[k for cs in supplements for k in cs.applied.used])
    text = context.params.get("filter")
    entries = _search(expanded, str(text)) if text else list(expanded.entries.values())
    context.budget.spend(len(entries))
    if context.date:
        entries = _as_of(entries, context.date)
    if context.params.flag("activeOnly"):
        entries = [e for e in entries if not (e.concept and e.concept.inactive)]
    limit = min(MAX_EXPANSION, context.cost_limit or MAX_EXPANSION)
    if len(entries) > limit and count is None:
        found = finding("VALUESET_TOO_COSTLY", vs_key(vs), limit)
        raise TerminologyError(422, operation_outcome([found]))
    page = entries[offset : offset + count if count is not None else None]
    return _value_set(context, vs, expanded, supplements, page, len(entries), offset, count)


def _as_of(entries: list[Entry], date: str) -> list[Entry]:
    """The entries as of date: codes not yet in use dropped, codes past their last day of use
    marked inactive (the cached expansion itself is left as it is)."""
    out = []
    for entry in entries:
        concept = dated.as_of(entry.concept, date) if entry.concept is not None else None
        if concept is None and entry.concept is not None:
            continue
        out.append(entry if concept is entry.concept else replace(entry, concept=concept))
    return out


def _supplements(context: Context, vs: Resource, expanded: Expanded) -> list[SupplementedProvider]:
    """Asked-for supplements must exist; the code systems used that they apply to, with
    them applied (their designations, extensions and properties show in the expansion)."""
    for url in requested(context, vs):
        if context.registry.supplement(url) is None:
            raise missing_error(url)
    found = [supplemented(context, cs, vs) for cs in expanded.used.values()]
    return [cs for cs in found if isinstance(cs, SupplementedProvider)]


def _paging(context: Context) -> tuple[int | None, int]:
    count = context.params.integer("count")
    offset = context.params.integer("offset") or 0
    if count is not None and count < 0:
        raise TerminologyError.of(400, "invalid", None, "PARAM_INVALID", "count", count)
    if count is not None and count > MAX_COUNT:
        raise TerminologyError.of(
            400, "too-costly", None, "COUNT_TOO_LARGE", count, MAX_COUNT, expression="count"
        )
    if offset < 0:
        raise TerminologyError.of(400, "invalid", None, "PARAM_INVALID", "offset", offset)
    return count, offset


def _search(expanded: Expanded, text: str) -> list[Entry]:
    """Typeahead: word-prefix matches over code, display and designations, best first."""
    hits = []
    for cs in expanded.used.values():
        for code in cs.ranked(text):
            entry = expanded.entries.get((cs.url, cs.version, code))
            if entry is not None:
                hits.append(entry)
    return hits


def _value_set(
    context: Context,
    vs: Resource,
    expanded: Expanded,
    supplements: list[SupplementedProvider],
    page: list[Entry],
    total: int,
    offset: int,
    count: int | None,
) -> Resource:
    result = {k: v for k, v in vs.items() if k not in VS_FIELDS_DROPPED}
    if not context.params.flag("includeDefinition"):  # the definition's extensions go too
        result.pop("extension", None)
    if "extension" in result:
        result["extension"] = sorted(result["extension"], key=lambda e: e.get("url", ""))
    expansion: JSON = {
        "identifier": f"urn:uuid:{uuid.uuid4()}",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "total": total,
    }
    if context.params.has("offset"):
        expansion["offset"] = offset
    expansion["parameter"] = _echo(context, expanded)
    if status_flag(vs) in ("deprecated", "withdrawn"):  # the value set itself
        flag = status_flag(vs)
        expansion["parameter"].append({"name": f"warning-{flag}", "valueUri": vs_key(vs)})
    properties = _properties_asked(context, vs)
    declared = _declared_properties(expanded, properties, supplements)
    with_status = context.params.get("excludeNested") is not False and not properties
    if with_status and any(_shows_status(e) for e in page):
        declared.append({"code": "status", "uri": STATUS_URI})
    systems = [cs.url for cs in expanded.used.values()]
    versioned = {url for url in systems if systems.count(url) > 1} | expanded.versioned
    annotations = _Annotations(supplements)
    spend = context.budget.spend
    contains = []
    for entry in page:  # the answer's largest part: built as the budget allows
        spend(4)
        contains.append(_contains(context, entry, properties, with_status, versioned, annotations))
    derived = {p["code"] for item in contains for p in item.get("property", [])}
    listed = {d["code"] for d in declared}
    for code in sorted(derived & set(DERIVED_URIS) - listed):
        declared.append({"code": code, "uri": DERIVED_URIS[code]})
    if declared:
        expansion["property"] = declared
    if _nested(context, vs, count):
        contains = _nest(page, contains)
    if contains:
        expansion["contains"] = contains
    fragments = [cs.url for cs in expanded.used.values() if cs.content == "fragment"]
    if fragments:
        expansion = {"extension": _unclosed(fragments), **expansion}
    result["expansion"] = expansion
    return result


def _properties_asked(context: Context, vs: Resource) -> list[str]:
    """The properties to return: the request's `property` parameters, then those the value
    set's own compose asks for (R5 ValueSet.compose.property), each once."""
    asked = [str(p) for p in context.params.all("property")]
    for code in vs.get("compose", {}).get("property", []):
        if isinstance(code, str) and code not in asked:
            asked.append(code)
    return asked


def _shows_status(entry: Entry) -> bool:
    return entry.concept is not None and entry.concept.status not in (None, "active")


def _unclosed(fragments: list[str]) -> list[JSON]:
    reason = "This extension is based on a fragment of the code system " + ", ".join(fragments)
    return [
        {"url": "http://hl7.org/fhir/StructureDefinition/valueset-unclosed", "valueBoolean": True},
        {
            "url": "http://hl7.org/fhir/StructureDefinition/valueset-unclosed-reason",
            "valueString": reason,
        },
    ]


def _echo(context: Context, expanded: Expanded) -> list[JSON]:
    echoed = [_as_uri(p) for p in context.params.items if p["name"] in ECHOED]
    if context.display_language:
        shown = context.display_language
        if ";" in shown:  # a weighted list is echoed as the reference server renders it
            shown = ", ".join(part.strip() for part in shown.split(","))
        echoed.append({"name": "displayLanguage", "valueCode": shown})
    if expanded.versions_match:
        echoed.append({"name": "versionsMatch", "valueBoolean": True})
    for p in context.params.items:  # a version parameter that chose a versionless include's
        if p["name"] in ("system-version", "check-system-version"):
            url = context.registry.canonical(str(_as_uri(p).get("valueUri", "")).split("|")[0])
            if url in expanded.defaulted:
                echoed.append(_as_uri(p))
    echoed.sort(key=lambda p: p["name"])
    for key in expanded.used:
        echoed.append({"name": "used-codesystem", "valueUri": key})
    for key, cs in expanded.used.items():
        if cs.content == "fragment":
            echoed.append({"name": "used-fragment", "valueUri": key})
    for key in expanded.supplements:
        echoed.append({"name": "used-supplement", "valueUri": key})
    for key in expanded.used_valuesets:
        echoed.append({"name": "used-valueset", "valueUri": key})
    for key, (_, flag) in expanded.statuses.items():
        echoed.append({"name": f"warning-{flag}", "valueUri": key})
    return echoed


def _nested(context: Context, vs: Resource, count: int | None) -> bool:
    """Hierarchical contains, as the reference server answers, unless asked otherwise
    (excludeNested), paged, or the codes do not simply follow code system hierarchies
    (enumerations, imports, excludes, a text search over a whole code system)."""
    if context.params.get("excludeNested") is True or count is not None:
        return False
    if context.params.has("offset"):
        return False
    compose = vs.get("compose", {})
    includes = compose.get("include", [])
    if not includes or compose.get("exclude"):
        return False
    searched = bool(context.params.get("filter"))
    return all(
        inc.get("system")
        and not inc.get("concept")
        and not inc.get("valueSet")
        and (inc.get("filter") or not searched)
        for inc in includes
    )


MAX_NESTING = 32  # levels of nested contains; a deeper hierarchy is answered flat


def _nest(page: list[Entry], contains: list[JSON]) -> list[JSON]:
    """Each code under its parent when the parent is in the expansion too. A hierarchy
    deeper than MAX_NESTING, or circular (`parent` properties can draw either), is answered
    flat: the answer must stay writable (JSON nests at most 254 levels)."""
    by_key = {(e.system, e.version, e.code): item for e, item in zip(page, contains, strict=True)}
    top = []
    for entry, item in zip(page, contains, strict=True):
        parents = entry.concept.parents if entry.concept is not None else []
        holder = next(
            (
                by_key[(entry.system, entry.version, p)]
                for p in parents
                if (entry.system, entry.version, p) in by_key
            ),
            None,
        )
        if holder is None:
            top.append(item)
        else:
            holder.setdefault("contains", []).append(item)
    if _nesting_fits(top, len(contains)):
        return top
    for item in contains:
        item.pop("contains", None)
    return contains


def _nesting_fits(top: list[JSON], count: int) -> bool:
    """Whether nested contains reach every item once, at most MAX_NESTING levels deep."""
    seen = 0
    stack = [(item, 1) for item in top]
    while stack:
        item, depth = stack.pop()
        seen += 1
        if depth > MAX_NESTING or seen > count:
            return False
        stack.extend((inner, depth + 1) for inner in item.get("contains", ()))
    return seen == count


def _as_uri(parameter: JSON) -> JSON:
    """Canonical-valued parameters are echoed as valueUri."""
    if "valueCanonical" in parameter:
        return {"name": parameter["name"], "valueUri": parameter["valueCanonical"]}
    return dict(parameter)


def _declared_properties(
    expanded: Expanded, properties: list[str], supplements: list[SupplementedProvider]
) -> list[JSON]:
    declared: list[JSON] = []
    added = [p for cs in supplements for p in cs.applied.declarations]
    for code in properties:
        uri = next(
            (cs.declared[code].get("uri") for cs in expanded.used.values() if code in cs.declared),
            None,
        )
        uri = uri or next((p.get("uri") for p in added if p.get("code") == code), None)
        if uri is None and code in STANDARD_PROPERTIES:
            uri = "http://hl7.org/fhir/concept-properties#" + code
        declared.append({"code": code, **({"uri": uri} if uri else {})})
    return declared


EXT = "http://hl7.org/fhir/StructureDefinition/"
CONCEPT_PROPERTIES = "http://hl7.org/fhir/concept-properties#"
# concept extensions (code system, supplement or value set) shown as expansion properties
DERIVED = {
    "order": (EXT + "codesystem-conceptOrder", EXT + "valueset-conceptOrder"),
    "label": (EXT + "codesystem-label", EXT + "valueset-label"),
    "weight": (EXT + "itemWeight",),
}
DERIVED_URIS = {
    "order": CONCEPT_PROPERTIES + "order",
    "label": CONCEPT_PROPERTIES + "label",
    "weight": CONCEPT_PROPERTIES + "itemWeight",
    "status": STATUS_URI,
}
STANDARDS_STATUS = EXT + "structuredefinition-standards-status"
# concept extensions echoed on the expansion's contains
RENDERING = (EXT + "rendering-style", EXT + "rendering-xhtml")
VS_CONCEPT_ECHOED = (VS_DEPRECATED, EXT + "valueset-concept-definition", STANDARDS_STATUS)


def _extensions_by_code(resource: Resource) -> dict[str, JSON]:
    """code -> concept (with extensions or properties) of a code system or supplement."""
    found: dict[str, JSON] = {}

    def walk(concepts: list[JSON]) -> None:
        for concept in concepts:
            if concept.get("extension") or concept.get("property"):
                found[concept.get("code", "")] = concept
            walk(concept.get("concept", []))

    walk(resource.get("concept", []))
    return found


class _Annotations:
    """Concept extensions of the code systems and supplements used by one expansion."""

    def __init__(self, supplements: list[SupplementedProvider]) -> None:
        self.by_system: dict[str, list[SupplementedProvider]] = {}
        for cs in supplements:
            self.by_system.setdefault(cs.url, []).append(cs)
        self._own: dict[int, dict[str, JSON]] = {}

    def concepts(self, entry: Entry) -> tuple[JSON, list[JSON]]:
        """The code system's concept and the supplements' concepts of an entry."""
        own: JSON = {}
        if entry.cs is not None and entry.cs.resource.get("concept"):
            held = self._own.get(id(entry.cs))
            if held is None:
                held = cast(  # walked once per index: pieces holds what this method put
                    "dict[str, JSON] | None", entry.cs.pieces.get(("extensions-by-code",))
                )
                if held is None:
                    held = _extensions_by_code(entry.cs.resource)
                    entry.cs.pieces[("extensions-by-code",)] = held
                self._own[id(entry.cs)] = held
            own = held.get(entry.code, {})
        extra = [  # (those with extensions or properties, as the code system's own)
            concept
            for cs in self.by_system.get(entry.system, ())
            for concept in cs.applied.concepts(entry.code)
            if concept.get("extension") or concept.get("property")
        ]
        return own, extra


def _annotate(
    entry: Entry, annotations: _Annotations, properties: list[str]
) -> tuple[list[JSON], list[JSON]]:
    """Extensions to echo and properties derived from concept extensions."""
    own, supplements = annotations.concepts(entry)
    vs_ext = entry.extensions or []
    sup_ext = [e for c in supplements for e in c.get("extension", [])]
    cs_ext = own.get("extension", [])
    echoed = [e for e in vs_ext if e.get("url") in VS_CONCEPT_ECHOED]
    rendering = [e for e in sup_ext if e.get("url") in RENDERING] or [
        e for e in cs_ext if e.get("url") in RENDERING
    ]
    derived: list[JSON] = []
    for code, urls in DERIVED.items():
        value = next(
            (
                e
                for e in (*vs_ext, *sup_ext, *cs_ext)
                if e.get("url") in urls and _value(e) is not None
            ),
            None,
        )
        if value is not None:
            kind = "valueString" if code == "label" else "valueDecimal"
            derived.append({"code": code, kind: _value(value)})
    if any(e.get("url") == STANDARDS_STATUS and e.get("valueCode") == "deprecated" for e in cs_ext):
        derived.append({"code": "status", "valueCode": "deprecated"})
    for code in properties:
        for concept in supplements:
            for prop in concept.get("property", []):
                if prop.get("code") == code:
                    key, value = property_value(prop)
                    derived.append({"code": code, key: value})
    return rendering + echoed, derived


def _value(extension: JSON) -> object:
    return next((v for k, v in extension.items() if k.startswith("value")), None)


def _contains(
    context: Context,
    entry: Entry,
    properties: list[str],
    with_status: bool,
    versioned: set[str],
    annotations: _Annotations | None = None,
) -> JSON:
    item: JSON = {"system": entry.system}
    extensions, derived = _annotate(entry, annotations, properties) if annotations else ([], [])
    flagged = any(e.get("url") in (VS_DEPRECATED, STANDARDS_STATUS) for e in extensions)
    if entry.deprecated and not flagged:
        extensions.append({"url": VS_DEPRECATED, "valueBoolean": True})
    if extensions:
        item = {"extension": extensions, **item}
    concept = entry.concept
    if concept is not None and concept.abstract:
        item["abstract"] = True
    if concept is not None and concept.inactive:
        item["inactive"] = True
    if entry.version and entry.system in versioned:
        item["version"] = entry.version
    item["code"] = entry.code
    display = entry.display
    if concept is not None and entry.cs is not None and context.display_language:
        chosen = in_languages(concept, entry.cs, requested_languages(context))
        if chosen or not others_refused(context):
            display = display_for(context, entry.cs, concept) or display
        else:  # no display in an acceptable language
            display = None
    if display is not None:
        item["display"] = display
    if context.params.flag("includeDesignations"):
        designations = _designations(context, entry, display)
        if annotations is not None:
            supplements = annotations.concepts(entry)[1]
            extra = [d for c in supplements for d in c.get("designation", [])]
            designations += [d for d in extra if d not in designations]
        if designations:
            item["designation"] = [_core_extensions_only(d) for d in designations]
    if concept is not None:
        props = _properties(entry.cs, concept, properties, context)
        if concept.status and concept.status != "active" and with_status:
            props.append({"code": "status", "valueCode": concept.status})
        shown = {p["code"] for p in props}
        props += [p for p in derived if p["code"] not in shown]
        if props:
            item["property"] = props
    return item


def _core_extensions_only(element: JSON) -> JSON:
    """Extensions not defined by FHIR itself are not understood, so not echoed."""
    if not element.get("extension"):
        return element
    kept = [e for e in element["extension"] if e.get("url", "").startswith(EXT)]
    out = {k: v for k, v in element.items() if k != "extension"}
    return {"extension": kept, **out} if kept else out


def _designations(context: Context, entry: Entry, display: str | None) -> list[JSON]:
    """The entry's designations, less the one shown as display; when the display was
    switched to another language, the code system's own display becomes a designation.
    `designation` parameters (`urn:ietf:bcp:47|lang` or `system|code`) filter them."""
    concept = entry.concept
    found = list(concept.designations if concept else [])
    found += [d for d in entry.designations or [] if d not in found]
    if concept is not None and display != concept.display and concept.display:
        found = [d for d in found if d.get("value") != display]
        language = entry.cs.language if entry.cs else None
        preferred = {"use": PREFERRED, "value": concept.display}
        found.insert(0, {"language": language, **preferred} if language else preferred)
    wanted = [str(v) for v in context.params.all("designation")]
    if wanted:
        found = [d for d in found if _designation_wanted(d, wanted)]
    return sorted(found, key=lambda d: d.get("language", ""))


def _designation_wanted(designation: JSON, wanted: list[str]) -> bool:
    for value in wanted:
        system, _, code = value.rpartition("|")
        if system == "urn:ietf:bcp:47" and designation.get("language") == code:
            return True
        use = designation.get("use") or {}
        if use.get("system") == system and use.get("code") == code:
            return True
    return False


def _properties(
    cs: CodeSystemProvider | None, concept: Concept, properties: list[str], context: Context
) -> list[JSON]:
    found: list[JSON] = []
    for code in properties:
        if code == "definition" and concept.definition:
            found.append({"code": code, "valueString": concept.definition})
            continue
        for prop in concept.properties:
            if prop.get("code") == code:
                key, value = property_value(prop)
                found.append({"code": code, key: value})
    return found
