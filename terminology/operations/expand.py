"""ValueSet/$expand: evaluate the compose, apply the text filter and paging, and build the
expansion (total, identifier, timestamp, echoed parameters, used-codesystem)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from terminology.index import CodeSystemIndex, property_value
from terminology.operations import Context, dated
from terminology.operations.compose import (
    MAX_EXPANSION,
    VS_DEPRECATED,
    Composer,
    Entry,
    Expanded,
    UnknownSystem,
    vs_key,
)
from terminology.operations.displays import display_for
from terminology.operations.lookup import PREFERRED
from terminology.operations.supplements import apply_supplements, missing_error, requested
from terminology.outcome import TerminologyError, finding, not_found, operation_outcome

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


def resolve_value_set(context: Context, instance_id: str | None = None) -> dict:
    """The value set a request names: instance, `valueSet` resource, or url(+version)."""
    params, registry = context.params, context.registry
    if instance_id:
        found = registry.by_id("ValueSet", instance_id)
        if found is None:
            raise not_found("UNKNOWN_RESOURCE_ID", "ValueSet", instance_id)
        return found
    inline = params.get("valueSet")
    if isinstance(inline, dict):
        return inline
    url = params.get("url") or params.get("context")
    if not url:
        raise TerminologyError.of(400, "required", "invalid-data", "PARAM_MISSING", "url")
    version = params.get("valueSetVersion")
    if not version and context.date and "|" not in url:
        version = registry.version_at("ValueSet", url, context.date)
    found = registry.value_set(url, version)
    if found is None:
        shown = f"{url}|{version}" if version else url
        raise not_found("Unable_to_resolve_value_Set_", shown)
    return found


def evaluate(context: Context, vs: dict, verb: str = "EXP") -> Expanded:
    """The compose of vs in this context; unknown code systems become errors."""
    try:
        return Composer(context).evaluate(vs)
    except UnknownSystem as unknown:
        raise unknown_system_error(unknown, verb) from None


def unknown_system_error(unknown: UnknownSystem, verb: str) -> TerminologyError:
    suffix = "_EXP" if verb == "EXP" else ""
    if unknown.version and unknown.known:
        key = "UNKNOWN_CODESYSTEM_VERSION" + suffix
        args = (unknown.system, unknown.version, " or ".join(unknown.known))
    elif unknown.version:
        key, args = "UNKNOWN_CODESYSTEM_VERSION_NONE", (unknown.system, unknown.version)
    else:
        key, args = "UNKNOWN_CODESYSTEM" + suffix, (unknown.system,)
    found = finding(key, *args)
    return TerminologyError(404, operation_outcome([found]))


def run(context: Context, instance_id: str | None = None) -> dict:
    vs = resolve_value_set(context, instance_id)
    context.use_value_set_language(vs)
    count, offset = _paging(context)
    expanded = evaluate(context, vs)
    expanded = replace(expanded, supplements=_supplements(context, vs, expanded))
    text = context.params.get("filter")
    entries = _search(expanded, str(text)) if text else list(expanded.entries.values())
    if context.date:
        entries = _as_of(entries, context.date)
    if context.params.flag("activeOnly"):
        entries = [e for e in entries if not (e.concept and e.concept.inactive)]
    if len(entries) > MAX_EXPANSION and count is None:
        found = finding("VALUESET_TOO_COSTLY", vs_key(vs), MAX_EXPANSION)
        raise TerminologyError(422, operation_outcome([found]))
    page = entries[offset : offset + count if count is not None else None]
    return _value_set(context, vs, expanded, page, len(entries), offset, count)


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


def _supplements(context: Context, vs: dict, expanded: Expanded) -> list[str]:
    """Asked-for supplements must exist; those that apply are reported as used."""
    for url in requested(context, vs):
        if context.registry.supplement(url) is None:
            raise missing_error(url)
    return [key for cs in expanded.used.values() for key in apply_supplements(context, cs, vs).used]


def _paging(context: Context) -> tuple[int | None, int]:
    count = context.params.integer("count")
    offset = context.params.integer("offset") or 0
    if count is not None and (count < 0 or count > MAX_COUNT):
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
    vs: dict,
    expanded: Expanded,
    page: list[Entry],
    total: int,
    offset: int,
    count: int | None,
) -> dict:
    result = {k: v for k, v in vs.items() if k not in VS_FIELDS_DROPPED}
    if "extension" in result:
        result["extension"] = sorted(result["extension"], key=lambda e: e.get("url", ""))
    expansion: dict = {
        "identifier": f"urn:uuid:{uuid.uuid4()}",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "total": total,
    }
    if context.params.has("offset"):
        expansion["offset"] = offset
    expansion["parameter"] = _echo(context, expanded)
    properties = [str(p) for p in context.params.all("property")]
    declared = _declared_properties(expanded, properties)
    with_status = context.params.get("excludeNested") is not False and not properties
    if with_status and any(_shows_status(e) for e in page):
        declared.append({"code": "status", "uri": STATUS_URI})
    if declared:
        expansion["property"] = declared
    systems = [cs.url for cs in expanded.used.values()]
    versioned = {url for url in systems if systems.count(url) > 1}
    contains = [_contains(context, e, properties, with_status, versioned) for e in page]
    if _nested(context, vs, count):
        contains = _nest(page, contains)
    if contains:
        expansion["contains"] = contains
    fragments = [cs.url for cs in expanded.used.values() if cs.content == "fragment"]
    if fragments:
        expansion = {"extension": _unclosed(fragments), **expansion}
    result["expansion"] = expansion
    return result


def _shows_status(entry: Entry) -> bool:
    return entry.concept is not None and entry.concept.status not in (None, "active")


def _unclosed(fragments: list[str]) -> list[dict]:
    reason = "This extension is based on a fragment of the code system " + ", ".join(fragments)
    return [
        {"url": "http://hl7.org/fhir/StructureDefinition/valueset-unclosed", "valueBoolean": True},
        {
            "url": "http://hl7.org/fhir/StructureDefinition/valueset-unclosed-reason",
            "valueString": reason,
        },
    ]


def _echo(context: Context, expanded: Expanded) -> list[dict]:
    echoed = [_as_uri(p) for p in context.params.items if p["name"] in ECHOED]
    if context.display_language:
        echoed.append({"name": "displayLanguage", "valueCode": context.display_language})
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


def _nested(context: Context, vs: dict, count: int | None) -> bool:
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


def _nest(page: list[Entry], contains: list[dict]) -> list[dict]:
    """Each code under its parent when the parent is in the expansion too."""
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
    return top


def _as_uri(parameter: dict) -> dict:
    """Canonical-valued parameters are echoed as valueUri."""
    if "valueCanonical" in parameter:
        return {"name": parameter["name"], "valueUri": parameter["valueCanonical"]}
    return dict(parameter)


def _declared_properties(expanded: Expanded, properties: list[str]) -> list[dict]:
    declared = []
    for code in properties:
        uri = next(
            (cs.declared[code].get("uri") for cs in expanded.used.values() if code in cs.declared),
            None,
        )
        if uri is None and code in STANDARD_PROPERTIES:
            uri = "http://hl7.org/fhir/concept-properties#" + code
        declared.append({"code": code, **({"uri": uri} if uri else {})})
    return declared


def _contains(
    context: Context, entry: Entry, properties: list[str], with_status: bool, versioned: set
) -> dict:
    item: dict = {"system": entry.system}
    if entry.deprecated:
        item = {"extension": [{"url": VS_DEPRECATED, "valueCode": "true"}], **item}
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
        display = display_for(context, entry.cs, concept) or display
    if display is not None:
        item["display"] = display
    if context.params.flag("includeDesignations"):
        designations = _designations(context, entry, display)
        if designations:
            item["designation"] = designations
    if concept is not None:
        props = _properties(entry.cs, concept, properties, context)
        if concept.status and concept.status != "active" and with_status:
            props.append({"code": "status", "valueCode": concept.status})
        if props:
            item["property"] = props
    return item


def _designations(context: Context, entry: Entry, display: str | None) -> list[dict]:
    """The entry's designations, less the one shown as display; when the display was
    switched to another language, the code system's own display becomes a designation.
    `designation` parameters (`urn:ietf:bcp:47|lang` or `system|code`) filter them."""
    concept = entry.concept
    found = list(entry.designations or (concept.designations if concept else []))
    if concept is not None and display != concept.display and concept.display:
        found = [d for d in found if d.get("value") != display]
        language = entry.cs.language if entry.cs else None
        preferred = {"use": PREFERRED, "value": concept.display}
        found.append({"language": language, **preferred} if language else preferred)
    wanted = [str(v) for v in context.params.all("designation")]
    if wanted:
        found = [d for d in found if _designation_wanted(d, wanted)]
    return sorted(found, key=lambda d: d.get("language", ""))


def _designation_wanted(designation: dict, wanted: list[str]) -> bool:
    for value in wanted:
        system, _, code = value.rpartition("|")
        if system == "urn:ietf:bcp:47" and designation.get("language") == code:
            return True
        use = designation.get("use") or {}
        if use.get("system") == system and use.get("code") == code:
            return True
    return False


def _properties(cs: CodeSystemIndex | None, concept, properties: list[str], context) -> list:
    found = []
    for code in properties:
        if code == "definition" and concept.definition:
            found.append({"code": code, "valueString": concept.definition})
            continue
        for prop in concept.properties:
            if prop.get("code") == code:
                key, value = property_value(prop)
                found.append({"code": code, key: value})
    return found
