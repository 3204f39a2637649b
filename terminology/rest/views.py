"""`_summary` and `_elements`: the view of a resource a read or a search result gives, cut
down to what was asked and tagged SUBSETTED when cut (FHIR search, "Summary" and
"Elements"), so a client can ask for an HCPCS CodeSystem without its 13.5 MB of concepts.
"""

from __future__ import annotations

from codesystem.fhir_types import Resource
from terminology.outcome import invalid

Query = list[tuple[str, str]]
"""A request's query (or form) parameters, in order, repeats kept."""

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"}
SUBSETTED["code"] = "SUBSETTED"
# Elements that are not in the summary view (big content, not isSummary in the spec).
NOT_SUMMARY = {
    "CodeSystem": ("concept", "property", "filter", "text"),
    "ValueSet": ("compose", "expansion", "text"),
    "ConceptMap": ("group", "property", "additionalAttribute", "text"),
    "OperationDefinition": ("parameter", "overload", "text"),
}
# Mandatory elements, kept by _elements and _summary=text so the result stays valid.
MANDATORY = {
    "CodeSystem": ("resourceType", "id", "meta", "status", "content"),
    "ValueSet": ("resourceType", "id", "meta", "status"),
    "ConceptMap": ("resourceType", "id", "meta", "status"),
    "OperationDefinition": (
        *("resourceType", "id", "meta", "name", "status", "kind", "code"),
        *("system", "type", "instance"),
    ),
}
SUMMARIES = ("true", "false", "count", "text", "data")


def read_view(resource: Resource, query: Query) -> Resource:
    """A read's answer as `_summary` / `_elements` ask (other parameters are ignored)."""
    control = {name: value for name, value in query if name in ("_summary", "_elements")}
    summary = control.get("_summary", "false")
    if summary not in SUMMARIES or summary == "count":
        raise invalid("PARAM_INVALID", "_summary", summary)
    return view(resource, summary, elements(control))


def elements(control: dict[str, str]) -> list[str]:
    """The element names `_elements` asks for (none: the whole resource)."""
    return [e for e in control.get("_elements", "").split(",") if e]


def view(resource: Resource, summary: str, elements: list[str]) -> Resource:
    """The resource as _summary / _elements asked, tagged SUBSETTED when cut."""
    kind = resource["resourceType"]
    if elements:
        keep = {*MANDATORY[kind], *elements}
        cut = {k: v for k, v in resource.items() if k in keep}
    elif summary == "true":
        cut = {k: v for k, v in resource.items() if k not in NOT_SUMMARY[kind]}
    elif summary == "text":
        keep = {*MANDATORY[kind], "text", "url"}
        cut = {k: v for k, v in resource.items() if k in keep}
    elif summary == "data":
        cut = {k: v for k, v in resource.items() if k != "text"}
    else:
        return resource
    meta = dict(cut.get("meta", {}))
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    return {**cut, "meta": meta}
