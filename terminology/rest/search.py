"""Search over the stored CodeSystem / ValueSet / ConceptMap (and our OperationDefinition)
resources: a searchset Bundle, as FHIR clients ask for it.

Criteria: url, version, status, _id (exact; a comma is OR within one parameter), name,
title (case-insensitive starts-with, as FHIR string search). Result parameters: _summary
(true | false | count | text | data), _elements, _count (0 to MAX_COUNT; 0 = the total
only), _offset (paging links self / first / last / next / previous), _total (none |
estimate | accurate: both counts are exact here), _sort (SORTS, `-` for descending, comma
separated; an unknown field is a 400). A bad value of a known parameter is a 400.

Unknown parameters (a typo, `_include`, a modifier such as `name:exact`) follow the
client's `Prefer: handling=` (FHIR search, "Unknown and unsupported parameters"): the
specification says servers SHOULD ignore them, so `lenient` is the default — they are
ignored, left out of the self link (which shows what the search used) and reported in an
OperationOutcome entry (search.mode = outcome) so a typo does not pass unnoticed —, and
`strict` answers 400 naming the parameter.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from urllib.parse import urlencode

from codesystem.fhir_types import Resource
from terminology.outcome import TerminologyError, invalid
from terminology.rendering import operation_outcome
from terminology.rest import check_type
from terminology.rest.views import SUMMARIES, Query, elements, view

DEFAULT_COUNT = 20
MAX_COUNT = 1000
TOTALS = ("none", "estimate", "accurate")
SORTS = ("url", "name", "title", "version", "date", "status", "_id")
HANDLINGS = ("lenient", "strict")
_EXACT = ("url", "version", "status", "_id")
_PREFIX = ("name", "title")
_CONTROL = ("_count", "_offset", "_summary", "_elements", "_total", "_sort")
_IGNORED = ("_format", "_pretty")
_SUPPORTED = ", ".join((*_EXACT, *_PREFIX, *_CONTROL))


def handling(prefer: str | None) -> str:
    """`strict` or `lenient` (the default) from a Prefer header (`handling=strict`,
    possibly among other preferences)."""
    if prefer and "handling" in prefer.lower():
        for item in prefer.lower().replace(";", ",").split(","):
            name, _, value = item.partition("=")
            if name.strip() == "handling" and value.strip().strip('"') in HANDLINGS:
                return value.strip().strip('"')
    return "lenient"


def search(
    resources: Sequence[Resource],
    resource_type: str,
    query: Query,
    base: str,
    handling: str = "lenient",
) -> Resource:
    """A searchset Bundle of the matches among resources (what the asked base serves:
    Engine.resources for its FHIR release); base is the absolute base URL for links."""
    check_type(resource_type, searchable=True)
    criteria, control, ignored = _split(query, handling)
    matches = _sorted([r for r in resources if _matches(r, criteria)], control.get("_sort"))
    count = _integer(control, "_count", DEFAULT_COUNT, MAX_COUNT)
    offset = _integer(control, "_offset", 0, None)
    summary = control.get("_summary", "false")
    bundle: Resource = {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "searchset"}
    if control.get("_total") != "none" or summary == "count":
        bundle["total"] = len(matches)
    outcome = [_ignored_entry(ignored)] if ignored else []
    if summary == "count":
        if outcome:
            bundle["entry"] = outcome
        return bundle
    wanted = elements(control)
    self_url = f"{base}/{resource_type}"
    used = [(k, v) for k, v in query if k not in ignored and k not in _IGNORED]
    bundle["link"] = _links(self_url, used, offset, count, len(matches))
    page = matches[offset : offset + count]
    entries = [
        {
            "fullUrl": f"{self_url}/{r.get('id')}",
            "resource": view(r, summary, wanted),
            "search": {"mode": "match"},
        }
        for r in page
    ]
    if entries or outcome:
        bundle["entry"] = entries + outcome
    return bundle


def _split(query: Query, handling: str) -> tuple[Query, dict[str, str], set[str]]:
    criteria: Query = []
    control: dict[str, str] = {}
    ignored: set[str] = set()
    for name, value in query:
        if name in _EXACT or name in _PREFIX:
            criteria.append((name, value))
        elif name in _CONTROL:
            control[name] = value
        elif name in _IGNORED:
            continue
        elif handling == "strict":
            text = f"Unknown search parameter '{name}' (supported: {_SUPPORTED}); "
            text += "send Prefer: handling=lenient to have unknown parameters ignored"
            raise TerminologyError.plain(400, "not-supported", text)
        else:
            ignored.add(name)
    for name, allowed in (("_summary", SUMMARIES), ("_total", TOTALS)):
        if name in control and control[name] not in allowed:
            raise invalid("PARAM_INVALID", name, control[name])
    return criteria, control, ignored


def _ignored_entry(ignored: set[str]) -> Resource:
    issues = [
        {
            "severity": "warning",
            "code": "not-supported",
            "details": {
                "text": f"The search parameter '{name}' is not supported and was ignored "
                f"(supported: {_SUPPORTED})"
            },
        }
        for name in sorted(ignored)
    ]
    return {"resource": operation_outcome(issues), "search": {"mode": "outcome"}}


def _matches(resource: Resource, criteria: Query) -> bool:
    for name, value in criteria:
        have = str(resource.get("id" if name == "_id" else name, ""))
        options = value.split(",")  # a comma is OR within one parameter
        if name in _PREFIX:
            if not any(have.lower().startswith(o.lower()) for o in options):
                return False
        elif have not in options:
            return False
    return True


def _sorted(resources: list[Resource], asked: str | None) -> list[Resource]:
    """The resources in _sort order: each field in turn (the first one decides first),
    `-` for descending; resources without the field come last either way."""
    if not asked:
        return resources
    fields = [f.strip() for f in asked.split(",") if f.strip()]
    for field in fields:
        if field.removeprefix("-") not in SORTS:
            text = f"Sorting by '{field.removeprefix('-')}' is not supported (_sort takes "
            text += f"{', '.join(SORTS)}, each with - for descending)"
            raise TerminologyError.plain(400, "not-supported", text)
    result = list(resources)
    for field in reversed(fields):  # stable sorts, the last field first
        name = field.removeprefix("-")
        keyed = [(_sort_value(r, name), r) for r in result]
        present = [(value, r) for value, r in keyed if value is not None]
        present.sort(key=lambda pair: pair[0], reverse=field.startswith("-"))
        result = [r for _, r in present] + [r for value, r in keyed if value is None]
    return result


def _sort_value(resource: Resource, name: str) -> str | None:
    if name == "_id":
        value = resource.get("id")
    elif name == "date":  # a CMS release has no date: the start of its period stands in
        value = resource.get("date") or (resource.get("effectivePeriod") or {}).get("start")
    else:
        value = resource.get(name)
    if not isinstance(value, str) or not value:
        return None
    return value.casefold() if name in _PREFIX else value


def _integer(control: dict[str, str], name: str, default: int, high: int | None) -> int:
    """A non-negative integer parameter: ASCII digits only (str.isdigit also takes '²')."""
    text = control.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()):
        raise invalid("PARAM_INVALID", name, text)
    return min(int(text), high) if high is not None else int(text)


def _links(url: str, query: Query, offset: int, count: int, total: int) -> list[Resource]:
    kept = [(k, v) for k, v in query if k not in ("_offset", "_count")]

    def link(relation: str, at: int) -> Resource:
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
