"""Scrub and sort a response before comparison, as the official runner does.

Scrub (TxTesterScrubbers): ``meta`` and ``text`` leave every resource, ``diagnostics``
leaves every OperationOutcome issue (an issue that has diagnostics but no details is debug
output and goes entirely), and extensions leave unless managed: relative URLs, the Java
runner's list below and every extension URL the expected file itself mentions are kept;
ValueSet.compose is left as is.
Sort (TxTesterSorters): the orders that servers may legitimately differ in become
canonical, so expected files can list arrays in one fixed order. The comparators mirror
the Java ones (quirks included) so a response sorts the same way in both runners.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from functools import cmp_to_key
from typing import Any

from .requests import primitive_text

# TxTesterScrubbers.isManagedExtension: extensions the suite's expected files talk about
MANAGED_EXTENSIONS: frozenset[str] = frozenset(
    {
        "http://hl7.org/fhir/StructureDefinition/codesystem-alternate",
        "http://hl7.org/fhir/StructureDefinition/codesystem-conceptOrder",
        "http://hl7.org/fhir/StructureDefinition/codesystem-label",
        "http://hl7.org/fhir/StructureDefinition/coding-sctdescid",
        "http://hl7.org/fhir/StructureDefinition/itemWeight",
        "http://hl7.org/fhir/StructureDefinition/rendering-style",
        "http://hl7.org/fhir/StructureDefinition/rendering-xhtml",
        "http://hl7.org/fhir/StructureDefinition/translation",
        "http://hl7.org/fhir/StructureDefinition/valueset-concept-definition",
        "http://hl7.org/fhir/StructureDefinition/valueset-conceptOrder",
        "http://hl7.org/fhir/StructureDefinition/valueset-deprecated",
        "http://hl7.org/fhir/StructureDefinition/valueset-label",
        "http://hl7.org/fhir/StructureDefinition/valueset-supplement",
        "http://hl7.org/fhir/test/CodeSystem/de-multi",
        "http://hl7.org/fhir/test/CodeSystem/en-multi",
        "http://hl7.org/fhir/test/StructureDefinition/unknown-extension-1",
        "http://hl7.org/fhir/test/StructureDefinition/unknown-extension-3",
        "http://hl7.org/fhir/test/StructureDefinition/unknown-extension-4",
        "http://hl7.org/fhir/test/StructureDefinition/unknown-extension-5",
        "http://hl7.org/fhir/test/ValueSet/extensions-bad-supplement",
        "http://hl7.org/fhir/test/ValueSet/simple-all",
        "http://hl7.org/fhir/test/ValueSet/simple-enumerated",
        "http://hl7.org/fhir/StructureDefinition/alternate-code-use",
        "http://hl7.org/fhir/StructureDefinition/alternate-code-status",
        "http://hl7.org/fhir/test/ValueSet/simple-filter-isa",
    }
)

Json = dict[str, Any]


def normalise(
    resource: Json,
    managed: Iterable[str] = MANAGED_EXTENSIONS,
    tight: bool = False,
    in_place: bool = False,
) -> Json:
    """A scrubbed, sorted deep copy of an operation response (the input is left alone unless
    in_place). tight keeps every extension (the Java runner's tight mode)."""
    result = resource if in_place else copy.deepcopy(resource)
    scrub(result, frozenset(managed), tight)
    sort_resource(result)
    return result


def normalise_capabilities(resource: Json) -> Json:
    """CapabilityStatement / TerminologyCapabilities: compared in pattern mode, so only
    meta/text go (the expected capstmt.json itself lists feature extensions), then sorted."""
    result = copy.deepcopy(resource)
    result.pop("meta", None)
    result.pop("text", None)
    sort_resource(result)
    return result


# ---- scrub ---------------------------------------------------------------------------


def scrub(
    resource: Json, managed: frozenset[str] = MANAGED_EXTENSIONS, tight: bool = False
) -> None:
    """Scrub in place: meta and text off every resource, diagnostics off every issue, and
    (unless tight) unmanaged extensions off every element outside ValueSet.compose."""
    if not tight:
        _scrub_extensions(resource, managed)
    _scrub_resources(resource)


def extension_urls(expected: Any) -> set[str]:
    """Every extension URL an expected file mentions: those it compares, so they are managed.

    The Java list alone would scrub extensions that default-run files require (valueset-unclosed
    in fragment, structuredefinition-standards-status in deprecated, operationoutcome-message-id
    on validate-code issues), making those tests impossible to pass."""
    urls: set[str] = set()
    if isinstance(expected, dict):
        for key, value in expected.items():
            if key in ("extension", "modifierExtension") and isinstance(value, list):
                urls.update(e["url"] for e in value if isinstance(e, dict) and "url" in e)
            urls |= extension_urls(value)
    elif isinstance(expected, list):
        for item in expected:
            urls |= extension_urls(item)
    return urls


def _scrub_resources(node: Any) -> None:
    """meta and text off every resource in node, diagnostics off every issue."""
    if isinstance(node, list):
        for item in node:
            _scrub_resources(item)
        return
    if not isinstance(node, dict):
        return
    if "resourceType" in node:
        node.pop("meta", None)
        node.pop("text", None)
        if node["resourceType"] == "OperationOutcome":
            _scrub_issues(node)
    for value in node.values():
        _scrub_resources(value)


def _scrub_extensions(node: Any, managed: frozenset[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _scrub_extensions(item, managed)
        return
    if not isinstance(node, dict):
        return
    _filter_extensions(node, managed)
    for key in list(node):
        value = node[key]
        if key == "compose" and node.get("resourceType") == "ValueSet":
            # the compose element loses its own extensions; its content is left as sent
            if isinstance(value, dict):
                _filter_extensions(value, managed)
            continue
        _scrub_extensions(value, managed)
        if key.startswith("_") and value == {}:
            del node[key]


def _filter_extensions(element: Json, managed: frozenset[str]) -> None:
    if not isinstance(element.get("extension"), list):
        return
    kept = [e for e in element["extension"] if _is_managed(e, managed)]
    if kept:
        element["extension"] = kept
    else:
        del element["extension"]


def _scrub_issues(outcome: Json) -> None:
    issues = [
        i for i in outcome.get("issue", []) if not ("diagnostics" in i and "details" not in i)
    ]
    for issue in issues:
        issue.pop("diagnostics", None)
    if "issue" in outcome:
        outcome["issue"] = issues


def _is_managed(extension: Any, managed: frozenset[str]) -> bool:
    url = extension.get("url", "") if isinstance(extension, dict) else ""
    return not _is_absolute(url) or url in managed


def _is_absolute(url: str) -> bool:
    return url.startswith(("http:", "https:", "urn:", "ftp:", "file:"))


# ---- sort ----------------------------------------------------------------------------


def sort_resource(resource: Json) -> None:
    """Sort in place according to the resource type (what TxTesterSorters handles)."""
    kind = resource.get("resourceType")
    if kind == "Parameters":
        sort_parameters(resource)
    elif kind == "ValueSet":
        sort_valueset(resource)
    elif kind == "OperationOutcome":
        _sort(resource, "issue", _issue_cmp)
    elif kind == "Bundle":
        for entry in resource.get("entry", []):
            if isinstance(entry.get("resource"), dict):
                sort_resource(entry["resource"])
    elif kind == "CapabilityStatement":
        _sort_capability_statement(resource)
    elif kind == "TerminologyCapabilities":
        _sort_terminology_capabilities(resource)


def sort_parameters(parameters: Json) -> None:
    """Parameters by name (property parts by code then value, designations by language then
    value), nested OperationOutcomes / Parameters too, and a ``message`` made of several
    messages joined by "; " put in sorted order."""
    for parameter in parameters.get("parameter", []):
        _sort_parameter_deep(parameter)
    _sort(parameters, "parameter", _parameter_cmp)
    for parameter in parameters.get("parameter", []):
        nested = parameter.get("resource")
        if isinstance(nested, dict) and nested.get("resourceType") == "OperationOutcome":
            _sort(nested, "issue", _issue_cmp)
        elif isinstance(nested, dict) and nested.get("resourceType") == "Parameters":
            sort_parameters(nested)
        text = parameter.get("valueString")
        if parameter.get("name") == "message" and isinstance(text, str) and "; " in text:
            parameter["valueString"] = "; ".join(sorted(text.split("; ")))


def _sort_parameter_deep(parameter: Json) -> None:
    _sort_extensions(parameter)
    for part in parameter.get("part", []):
        _sort_parameter_deep(part)
    _sort(parameter, "part", _parameter_cmp)


def sort_valueset(valueset: Json) -> None:
    """Extensions by url; expansion parameters by name/value, properties by uri/code,
    contains by code (recursively, with designations and properties)."""
    _sort_extensions(valueset)
    expansion = valueset.get("expansion")
    if not isinstance(expansion, dict):
        return
    for parameter in expansion.get("parameter", []):
        _sort_extensions(parameter)
    _sort(expansion, "parameter", _key_cmp(lambda p: (p.get("name", ""), _primitive(p) or "")))
    _sort(expansion, "property", _property_definition_cmp)
    _sort_extensions(expansion)
    _sort(expansion, "contains", _key_cmp(lambda c: c.get("code") or ""))
    for contains in expansion.get("contains", []):
        _sort_contains(contains)


def _sort_contains(contains: Json) -> None:
    _sort(contains, "contains", _key_cmp(lambda c: c.get("code") or ""))
    _sort_extensions(contains)
    _sort(contains, "designation", _designation_cmp)
    _sort(contains, "property", _key_cmp(lambda p: p.get("code") or ""))
    for child in contains.get("contains", []):
        _sort_contains(child)


def _sort_extensions(element: Json) -> None:
    for extension in element.get("extension", []):
        if isinstance(extension, dict):
            _sort_extensions(extension)
    _sort(element, "extension", _key_cmp(lambda e: e.get("url") or ""))


def _sort_capability_statement(cs: Json) -> None:
    for key in ("format", "instantiates", "imports", "acceptLanguage"):
        _sort(cs, key, _key_cmp(str))
    _sort(cs, "rest", _key_cmp(lambda r: r.get("mode", "")))
    for rest in cs.get("rest", []):
        _sort(rest, "resource", _key_cmp(lambda r: r.get("type", "")))
        for resource in rest.get("resource", []):
            for key in ("supportedProfile", "searchInclude", "searchRevInclude"):
                _sort(resource, key, _key_cmp(str))
            _sort(resource, "interaction", _key_cmp(lambda i: i.get("code", "")))
            _sort(resource, "searchParam", _key_cmp(lambda p: p.get("name", "")))
            _sort(resource, "operation", _key_cmp(lambda o: o.get("name", "")))
        _sort(rest, "interaction", _key_cmp(lambda i: i.get("code", "")))
        _sort(rest, "searchParam", _key_cmp(lambda p: p.get("name", "")))
        _sort(rest, "operation", _key_cmp(lambda o: o.get("name", "")))
        _sort(rest, "compartment", _key_cmp(str))


def _sort_terminology_capabilities(tc: Json) -> None:
    _sort(tc, "codeSystem", _key_cmp(lambda c: c.get("uri", "")))
    for system in tc.get("codeSystem", []):
        _sort(system, "version", _key_cmp(lambda v: v.get("code", "")))
        for version in system.get("version", []):
            _sort(version, "language", _key_cmp(str))
            _sort(version, "filter", _key_cmp(lambda f: f.get("code", "")))
            _sort(version, "property", _key_cmp(str))
    if isinstance(tc.get("expansion"), dict):
        _sort(tc["expansion"], "parameter", _key_cmp(lambda p: p.get("name", "")))


# ---- comparators (Java's, so ties keep their order: Python's sort is stable too) ------

Cmp = Callable[[Any, Any], int]


def _sort(element: Json, key: str, cmp: Cmp) -> None:
    if isinstance(element.get(key), list):
        element[key] = sorted(element[key], key=cmp_to_key(cmp))


def _compare(a: Any, b: Any) -> int:
    return int(a > b) - int(a < b)


def _key_cmp(key: Callable[[Any], Any]) -> Cmp:
    return lambda a, b: _compare(key(a), key(b))


def _primitive(element: Json) -> str | None:
    """The primitiveValue() of a value[x] element (None for complex values)."""
    for key, value in element.items():
        if key.startswith("value") and not isinstance(value, dict | list):
            return primitive_text(value)
    return None


def _part(parameter: Json, name: str) -> Json | None:
    return next((p for p in parameter.get("part", []) if p.get("name") == name), None)


def _part_text(parameter: Json, name: str) -> str | None:
    part = _part(parameter, name)
    value = _primitive(part) if part else None
    return value.lower() if value is not None else None


def _parameter_cmp(a: Json, b: Json) -> int:
    name_a, name_b = a.get("name", ""), b.get("name", "")
    if name_a == name_b == "property":
        code_a, code_b = _part_text(a, "code"), _part_text(b, "code")
        if code_a is not None and code_b is not None and code_a != code_b:
            return _compare(code_a, code_b)
        value_a, value_b = _part_text(a, "value"), _part_text(b, "value")
        if value_a is not None and value_b is not None and value_a != value_b:
            return _compare(value_a, value_b)
    if name_a == name_b == "designation":
        # Java reads the designation value through the part, not its value[x], so never
        # finds one: designations sort by language only, and ties keep their order
        lang_a, lang_b = _part_text(a, "language") or "", _part_text(b, "language") or ""
        if lang_a != lang_b:
            return _compare(lang_a, lang_b)
    return _compare(name_a, name_b)


def _issue_cmp(a: Json, b: Json) -> int:
    def key(issue: Json) -> tuple[str, str, str, str]:
        expression = issue.get("expression") or [""]
        return (
            issue.get("severity", ""),
            issue.get("code", ""),
            str(expression[0]),
            (issue.get("details") or {}).get("text", ""),
        )

    return _compare(key(a), key(b))


def _designation_cmp(a: Json, b: Json) -> int:
    if a.get("language") and b.get("language"):
        return _compare(a["language"], b["language"])
    return _compare(a.get("value", ""), b.get("value", ""))


def _property_definition_cmp(a: Json, b: Json) -> int:
    uri_a, uri_b = a.get("uri"), b.get("uri")
    if uri_a is None or uri_b is None:
        order = 0 if uri_a is None and uri_b is None else (-1 if uri_a is None else 1)
    else:
        order = _compare(uri_a, uri_b)
    return order or _compare(a.get("code", ""), b.get("code", ""))
