"""CodeSystem/$lookup: a concept's name, version, display, definition, designations and
properties (all of them unless `property` names some); Coding-valued properties carry their
meaning as `description`."""

from __future__ import annotations

from codesystem.fhir_types import JSON, Resource
from terminology import resolver
from terminology.index import Concept, property_value, value_text
from terminology.operations import Context, dated
from terminology.operations.displays import display_for
from terminology.operations.supplements import applied, supplemented
from terminology.outcome import TerminologyError, not_found, operation_outcome
from terminology.providers import CodeSystemProvider

PREFERRED = {
    "system": "http://terminology.hl7.org/CodeSystem/hl7TermMaintInfra",
    "code": "preferredForLanguage",
    "display": "Preferred For Language",
}


def _target(context: Context, instance_id: str | None) -> tuple[str, str, str | None]:
    """(system, code, version) from coding, or system+code, or the instance."""
    params = context.params
    coding = params.get("coding")
    if isinstance(coding, dict):
        system, code, version = coding.get("system"), coding.get("code"), coding.get("version")
    else:
        system, code, version = params.get("system"), params.get("code"), None
    version = params.get("version") or version
    if not version and system:  # `date`: the release in force then
        version = context.versions.default_for(context.registry.canonical(str(system)))
    if instance_id:
        resource = resolver.instance(context.registry, "CodeSystem", instance_id)
        system, version = resource.get("url"), version or resource.get("version")
    for name, value in (("system", system), ("code", code)):
        if not value:
            raise TerminologyError.of(400, "required", "invalid-data", "PARAM_MISSING", name)
    return str(system), str(code), version


def run(context: Context, instance_id: str | None = None) -> Resource:
    system, code, version = _target(context, instance_id)
    cs = resolver.code_system(context.registry, system, version, "lookup")
    stored = cs.find(code)
    if stored is None:
        raise not_found("UNKNOWN_CODE_LOOKUP", code, cs.url, cs.version or "")
    concept = dated.as_of(stored, context.date)
    if concept is None:
        early = dated.not_yet_issue(cs, stored, context.date or "", "code")
        raise TerminologyError(404, operation_outcome([early]))
    return _parameters(context, supplemented(context, cs), concept)


def _wanted(context: Context) -> set[str] | None:
    asked = {str(p) for p in context.params.all("property")}
    return None if not asked or "*" in asked else asked


def _parameters(context: Context, cs: CodeSystemProvider, concept: Concept) -> Resource:
    out: list[JSON] = [
        {"name": "abstract", "valueBoolean": concept.abstract},
        {"name": "code", "valueCode": concept.code},
        {"name": "name", "valueString": cs.resource.get("name", cs.url)},
        {"name": "system", "valueUri": cs.url},
    ]
    if cs.version:
        out.append({"name": "version", "valueString": cs.version})
    display = display_for(context, cs, concept)
    if display:
        out.append({"name": "display", "valueString": display})
    if concept.definition:
        out.append({"name": "definition", "valueString": concept.definition})
    out += _designations(cs, concept)
    out += _sorted_properties(cs, concept, _wanted(context))
    for key in applied(cs).used:
        out.append({"name": "used-supplement", "valueCanonical": key})
    return {"resourceType": "Parameters", "parameter": out}


PARAMETER_BYTES = 800  # a property parameter's dicts and lists (its values are shared)


def _sorted_properties(
    cs: CodeSystemProvider, concept: Concept, wanted: set[str] | None
) -> list[JSON]:
    """The property parameters, sorted; a stored concept's full list is built once (a
    `date` may give a changed copy of the concept: that one is built per request). Those
    of `wanted` are the full list filtered (a stable sort of a subset keeps its order)."""
    if cs.concepts.get(concept.code) is not concept:
        return sorted(_properties(cs, concept, wanted), key=_property_key)
    key = ("lookup-properties", concept.code)
    every = cs.concept_pieces.get(key)
    if not isinstance(every, tuple):  # not worked out yet
        every = tuple(sorted(_properties(cs, concept, None), key=_property_key))
        cs.concept_pieces.put(key, every, PARAMETER_BYTES * len(every))
    if wanted is None:
        return list(every)
    return [p for p in every if p["part"][0]["valueCode"] in wanted]


def _designations(cs: CodeSystemProvider, concept: Concept) -> list[JSON]:
    """The concept's designations, its display as the preferred one for the code system's
    language, then designations from supplements."""
    found = [_designation(d, None) for d in concept.designations]
    if concept.display and cs.language:
        parts = [
            {"name": "language", "valueCode": cs.language},
            {"name": "use", "valueCoding": PREFERRED},
            {"name": "value", "valueString": concept.display},
        ]
        found.append({"name": "designation", "part": parts})
    found += [_designation(d, source) for d, source in applied(cs).designations(concept.code)]
    return found


def _designation(designation: JSON, source: str | None) -> JSON:
    parts: list[JSON] = []
    if designation.get("language"):
        parts.append({"name": "language", "valueCode": designation["language"]})
    if designation.get("use"):
        parts.append({"name": "use", "valueCoding": designation["use"]})
    if source:
        parts.append({"name": "source", "valueCanonical": source})
    parts.append({"name": "value", "valueString": designation.get("value", "")})
    return {"name": "designation", "part": parts}


def _property_key(parameter: JSON) -> tuple[str, str]:
    parts = {p["name"]: p for p in parameter["part"]}
    value = next(v for k, v in parts["value"].items() if k.startswith("value"))
    return parts["code"]["valueCode"], value_text(value)


def _property(code: str, key: str, value: object, description: str | None = None) -> JSON:
    parts: list[JSON] = [{"name": "code", "valueCode": code}, {"name": "value", key: value}]
    if description:
        parts.append({"name": "description", "valueString": description})
    return {"name": "property", "part": parts}


def _properties(cs: CodeSystemProvider, concept: Concept, wanted: set[str] | None) -> list[JSON]:
    found: list[JSON] = []
    as_of_date = cs.concepts.get(concept.code) is not concept  # a `date` changed its status
    for prop in concept.properties:
        code = prop.get("code", "")
        if wanted is not None and code not in wanted:
            continue
        key, value = property_value(prop)
        if as_of_date and cs.role(code) in ("status", "inactive"):
            value = concept.status if cs.role(code) == "status" else concept.inactive
        description = _meaning(cs, code, key, value)
        found.append(_property(code, key, value, description))
    declares_inactive = any(cs.role(p.get("code", "")) == "inactive" for p in concept.properties)
    if (wanted is None or "inactive" in wanted) and not declares_inactive:
        found.append(_property("inactive", "valueBoolean", concept.inactive))
    for code, related in (("parent", concept.parents), ("child", concept.children)):
        if wanted is not None and code not in wanted:
            continue
        explicit = {
            value_text(property_value(p)[1]) for p in concept.properties if p.get("code") == code
        }
        for other in related:
            if other not in explicit:
                found.append(_property(code, "valueCode", other, cs.display_of(other)))
    return found


def _meaning(cs: CodeSystemProvider, code: str, key: str, value: object) -> str | None:
    """The display of a Coding value, or of a code value that names a concept of cs."""
    if key == "valueCoding" and isinstance(value, dict):
        display: str | None = value.get("display")  # a Coding's display
        return display
    if key == "valueCode" and code in ("parent", "child"):
        return cs.display_of(str(value))
    return None
