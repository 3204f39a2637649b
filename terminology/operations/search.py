"""Search over the stored CodeSystem / ValueSet / ConceptMap resources: a searchset Bundle.

Parameters: url, version, status (exact), name, title (case-insensitive starts-with, as FHIR
string search), _id, _summary (true | false | count | text | data), _elements, _count,
_offset (paging links). Unknown parameters are an error rather than silently ignored, so a
typo never returns everything.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from terminology.operations.read import check_type
from terminology.outcome import TerminologyError, invalid, issue, operation_outcome

DEFAULT_COUNT = 20
MAX_COUNT = 1000
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"}
SUBSETTED["code"] = "SUBSETTED"
# Elements that are not in the summary view (big content, not isSummary in the spec).
NOT_SUMMARY = {
    "CodeSystem": ("concept", "property", "filter", "text"),
    "ValueSet": ("compose", "expansion", "text"),
    "ConceptMap": ("group", "property", "additionalAttribute", "text"),
}
# Mandatory elements, kept by _elements and _summary=text so the result stays valid.
MANDATORY = {
    "CodeSystem": ("resourceType", "id", "meta", "status", "content"),
    "ValueSet": ("resourceType", "id", "meta", "status"),
    "ConceptMap": ("resourceType", "id", "meta", "status"),
}
_EXACT = ("url", "version", "status")
_PREFIX = ("name", "title")
_IGNORED = ("_format", "_pretty")


def search(resources: list[dict], resource_type: str, query: list[tuple[str, str]], base: str):
    """A searchset Bundle of the matches; base is the absolute base URL for links."""
    check_type(resource_type)
    criteria, control = _split(query)
    matches = [r for r in resources if _matches(r, criteria)]
    count = _integer(control, "_count", DEFAULT_COUNT, 0, MAX_COUNT)
    offset = _integer(control, "_offset", 0, 0, None)
    summary = control.get("_summary", "false")
    bundle = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "searchset",
        "total": len(matches),
    }
    if summary == "count":
        return bundle
    page = matches[offset : offset + count]
    elements = [e for e in control.get("_elements", "").split(",") if e]
    self_url = f"{base}/{resource_type}"
    bundle["link"] = _links(self_url, query, offset, count, len(matches))
    bundle["entry"] = [
        {
            "fullUrl": f"{self_url}/{r.get('id')}",
            "resource": _view(r, summary, elements),
            "search": {"mode": "match"},
        }
        for r in page
    ]
    return bundle


def _split(query: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    criteria, control = [], {}
    for name, value in query:
        if name in _EXACT or name in _PREFIX or name == "_id":
            criteria.append((name, value))
        elif name in ("_count", "_offset", "_summary", "_elements"):
            control[name] = value
        elif name not in _IGNORED:
            text = f"Unknown search parameter '{name}' (supported: url, version, name, title,"
            text += " status, _id, _summary, _elements, _count, _offset)"
            found = issue("error", "not-supported", None, "SEARCH_PARAM_UNKNOWN", text=text)
            raise TerminologyError(400, operation_outcome([found]))
    if control.get("_summary", "false") not in ("true", "false", "count", "text", "data"):
        raise invalid("PARAM_INVALID", "_summary", control["_summary"])
    return criteria, control


def _matches(resource: dict, criteria: list[tuple[str, str]]) -> bool:
    for name, value in criteria:
        have = str(resource.get("id" if name == "_id" else name, ""))
        options = value.split(",")  # a comma is OR within one parameter
        if name in _PREFIX:
            if not any(have.lower().startswith(o.lower()) for o in options):
                return False
        elif have not in options:
            return False
    return True


def _integer(control: dict, name: str, default: int, low: int, high: int | None) -> int:
    text = control.get(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) < low:
        raise invalid("PARAM_INVALID", name, text)
    return min(int(text), high) if high is not None else int(text)


def _view(resource: dict, summary: str, elements: list[str]) -> dict:
    """The resource as _summary / _elements asked, tagged SUBSETTED when cut."""
    kind = resource["resourceType"]
    if elements:
        keep = {*MANDATORY[kind], *elements}
        view = {k: v for k, v in resource.items() if k in keep}
    elif summary == "true":
        view = {k: v for k, v in resource.items() if k not in NOT_SUMMARY[kind]}
    elif summary == "text":
        keep = {*MANDATORY[kind], "text", "url"}
        view = {k: v for k, v in resource.items() if k in keep}
    elif summary == "data":
        view = {k: v for k, v in resource.items() if k != "text"}
    else:
        return resource
    meta = dict(view.get("meta", {}))
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    return {**view, "meta": meta}


def _links(url: str, query: list[tuple[str, str]], offset: int, count: int, total: int):
    kept = [(k, v) for k, v in query if k not in ("_offset", "_count")]

    def link(relation: str, at: int) -> dict:
        page = urlencode([*kept, ("_count", str(count)), ("_offset", str(at))])
        return {"relation": relation, "url": f"{url}?{page}"}

    links = [link("self", offset)]
    if count == 0:
        return links
    last = max(0, (total - 1) // count * count)
    links += [link("first", 0), link("last", last)]
    if offset + count < total:
        links.append(link("next", offset + count))
    if offset > 0:
        links.append(link("previous", max(0, offset - count)))
    return links
