"""The golden requests: every tx-ecosystem test request (R5 and R4), and HCPCS requests over
the HTTP API on /r4 and /r5.

A request is frozen as it goes on the wire (method, path with its query string, headers,
body text), so replaying it needs nothing but the record. The tx-ecosystem requests are
built at record time by the conformance runner's own request builder (tx_requests); the
HCPCS requests are written out here (hcpcs_requests) over the releases the golden store
holds (STORE_RELEASES): HCPCS 2020-01 and 2025-01.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urlencode

PROJECT = Path(__file__).resolve().parents[2]
TX_ECOSYSTEM = PROJECT.parent / "shared" / "tx-ecosystem"
STORE_RELEASES = (
    PROJECT / "data" / "releases" / "2020-Alpha-Numeric-HCPCS-File.zip",
    PROJECT / "data" / "releases" / "january-2025-alpha-numeric-hcpcs-file.zip",
)

FHIR_JSON = "application/fhir+json"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
HCPCS_ALTERNATE = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
HCPCS_OID = "urn:oid:2.16.840.1.113883.6.285"
VS = "https://hcpcs-tx.org/fhir/ValueSet/"
REPLACEMENTS = "https://hcpcs-tx.org/fhir/ConceptMap/hcpcs-replacements"
BETOS = "https://hcpcs-tx.org/fhir/CodeSystem/betos"

Parameter = dict[str, Any]


class GoldenRequest(TypedDict):
    """One request as sent: path is from the server root, query string included."""

    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: str | None


def request(
    name: str,
    method: str,
    path: str,
    body: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> GoldenRequest:
    """A request accepting FHIR JSON (unless headers say otherwise); a body is FHIR JSON."""
    sent = {"Accept": FHIR_JSON, **(headers or {})}
    if body is not None:
        sent.setdefault("Content-Type", FHIR_JSON)
    return GoldenRequest(name=name, method=method, path=path, headers=sent, body=body)


# -- HCPCS ------------------------------------------------------------------------------


def _query(path: str, query: Mapping[str, str] | list[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(query)}" if query else path


def _parameters(*parameters: Parameter) -> str:
    return json.dumps({"resourceType": "Parameters", "parameter": list(parameters)})


def _uri(name: str, value: str) -> Parameter:
    return {"name": name, "valueUri": value}


def _code(name: str, value: str) -> Parameter:
    return {"name": name, "valueCode": value}


def _string(name: str, value: str) -> Parameter:
    return {"name": name, "valueString": value}


def _coding(name: str, code: str, system: str = HCPCS, **extra: str) -> Parameter:
    return {"name": name, "valueCoding": {"system": system, "code": code, **extra}}


class _Scenarios:
    """The HCPCS requests of one FHIR base (r4 or r5), named hcpcs/<base>/<label>."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.made: list[GoldenRequest] = []

    def get(self, label: str, path: str, **query: str) -> None:
        name = f"hcpcs/{self.base}/{label}"
        self.made.append(request(name, "GET", f"/{self.base}/{_query(path, query)}"))

    def query(self, label: str, path: str, query: list[tuple[str, str]]) -> None:
        """GET with a repeated parameter (property=a&property=b)."""
        self.made.append(
            request(f"hcpcs/{self.base}/{label}", "GET", f"/{self.base}/{_query(path, query)}")
        )

    def post(self, label: str, path: str, *parameters: Parameter, **headers: str) -> None:
        body = _parameters(*parameters)
        name = f"hcpcs/{self.base}/{label}"
        self.made.append(request(name, "POST", f"/{self.base}/{path}", body, headers))

    def raw(self, label: str, method: str, path: str, body: str, content_type: str) -> None:
        headers = {"Content-Type": content_type}
        name = f"hcpcs/{self.base}/{label}"
        self.made.append(request(name, method, f"/{self.base}/{path}", body, headers))


def _lookup(s: _Scenarios) -> None:
    op = "CodeSystem/$lookup"
    s.get("lookup/Q4257", op, system=HCPCS, code="Q4257")
    s.get("lookup/J0120", op, system=HCPCS, code="J0120")
    s.get("lookup/G0503-long-description", op, system=HCPCS, code="G0503")
    s.get("lookup/modifier-AB", op, system=HCPCS, code="AB")
    s.get("lookup/modifier-GA-2020", op, system=HCPCS, code="GA", version="2020-01")
    s.get("lookup/25-not-hcpcs", op, system=HCPCS, code="25")
    s.get("lookup/lowercase-q4257", op, system=HCPCS, code="q4257")
    s.get("lookup/J0120-version-2020", op, system=HCPCS, code="J0120", version="2020-01")
    s.get("lookup/Q4257-absent-in-2020", op, system=HCPCS, code="Q4257", version="2020-01")
    s.get("lookup/unknown-version", op, system=HCPCS, code="J0120", version="2031-01")
    s.get("lookup/terminated-A4466", op, system=HCPCS, code="A4466")
    s.get("lookup/terminated-C9794-2025", op, system=HCPCS, code="C9794", version="2025-01")
    s.get("lookup/date-2020-06-01", op, system=HCPCS, code="J0120", date="2020-06-01")
    s.get("lookup/date-2025-02-01", op, system=HCPCS, code="C9166", date="2025-02-01")
    s.query(
        "lookup/properties",
        op,
        [("system", HCPCS), ("code", "Q4257"), ("property", "betos"), ("property", "status")],
    )
    s.get("lookup/property-star", op, system=HCPCS, code="J0120", property="*")
    s.get("lookup/alternate-system", op, system=HCPCS_ALTERNATE, code="J0120")
    s.get("lookup/oid-system", op, system=HCPCS_OID, code="J0120")
    s.get("lookup/unknown-system", op, system="http://example.org/no-such-system", code="J0120")
    s.get("lookup/no-code", op, system=HCPCS)
    s.get("lookup/betos-code-system", op, system=BETOS, code="O1E")
    s.post("lookup/post-coding", op, _coding("coding", "Q4257", version="2025-01"))
    s.post(
        "lookup/post-display-language",
        op,
        _uri("system", HCPCS),
        _code("code", "J0130"),
        _code("displayLanguage", "en"),
    )
    s.get("lookup/instance", "CodeSystem/hcpcs-2020-01/$lookup", code="J0130")
    s.get("lookup/xml", op, system=HCPCS, code="Q4257", _format="xml")


def _validate_code_system(s: _Scenarios) -> None:
    op = "CodeSystem/$validate-code"
    s.get("cs-validate/valid", op, url=HCPCS, code="Q4257")
    s.get("cs-validate/invalid", op, url=HCPCS, code="Q9999")
    s.get(
        "cs-validate/right-display",
        op,
        url=HCPCS,
        code="Q4257",
        display="Relese, per square centimeter",
    )
    s.get("cs-validate/wrong-display", op, url=HCPCS, code="Q4257", display="Skin graft")
    s.get(
        "cs-validate/short-display",
        op,
        url=HCPCS,
        code="Q4257",
        display="Relese, per sq cm",
    )
    s.get(
        "cs-validate/wrong-display-lenient",
        op,
        url=HCPCS,
        code="Q4257",
        display="Skin graft",
        **{"lenient-display-validation": "true"},
    )
    s.get("cs-validate/terminated-A4466", op, url=HCPCS, code="A4466")
    s.get("cs-validate/terminated-C9794", op, url=HCPCS, code="C9794")
    s.get("cs-validate/date-in-2020-01", op, url=HCPCS, code="C9043", date="2020-03-01")
    s.get("cs-validate/date-in-2025-01", op, url=HCPCS, code="C9166", date="2025-03-01")
    s.get("cs-validate/date-2019", op, url=HCPCS, code="C9043", date="2019-06-01")
    s.get("cs-validate/version-2020", op, url=HCPCS, code="J0120", version="2020-01")
    s.get("cs-validate/version-2020-Q4257", op, url=HCPCS, code="Q4257", version="2020-01")
    s.get("cs-validate/version-unknown", op, url=HCPCS, code="J0120", version="1999-01")
    s.get("cs-validate/modifier-XE", op, url=HCPCS, code="XE")
    s.get("cs-validate/unknown-system", op, url="http://example.org/cs", code="J0120")
    s.post(
        "cs-validate/post-coding-wrong-display",
        op,
        _coding("coding", "J0120", display="Injection, tetracycline"),
    )
    s.post(
        "cs-validate/post-codeable-concept",
        op,
        {
            "name": "codeableConcept",
            "valueCodeableConcept": {"coding": [{"system": HCPCS, "code": "J0130"}]},
        },
    )
    s.get("cs-validate/instance", "CodeSystem/hcpcs-2025-01/$validate-code", code="G0562")


def _validate_value_set(s: _Scenarios) -> None:
    op = "ValueSet/$validate-code"
    s.get("vs-validate/all-valid", op, url=VS + "hcpcs-all", system=HCPCS, code="Q4257")
    s.get("vs-validate/all-invalid", op, url=VS + "hcpcs-all", system=HCPCS, code="Q9999")
    s.get("vs-validate/active-terminated", op, url=VS + "hcpcs-active", system=HCPCS, code="C9794")
    s.get("vs-validate/active-valid", op, url=VS + "hcpcs-active", system=HCPCS, code="G0562")
    s.get("vs-validate/modifiers-AB", op, url=VS + "hcpcs-modifiers", system=HCPCS, code="AB")
    s.get(
        "vs-validate/modifiers-not-modifier",
        op,
        url=VS + "hcpcs-modifiers",
        system=HCPCS,
        code="J0120",
    )
    s.get(
        "vs-validate/wrong-display",
        op,
        url=VS + "hcpcs-procedures",
        system=HCPCS,
        code="J0120",
        display="Tetracycline",
    )
    s.get(
        "vs-validate/value-set-version-2020",
        op,
        url=VS + "hcpcs-all",
        valueSetVersion="2020-01",
        system=HCPCS,
        code="Q4257",
    )
    s.get(
        "vs-validate/url-pipe-version", op, url=VS + "hcpcs-all|2020-01", system=HCPCS, code="J0120"
    )
    s.get(
        "vs-validate/system-version",
        op,
        url=VS + "hcpcs-all",
        system=HCPCS,
        code="Q4257",
        **{"system-version": f"{HCPCS}|2020-01"},
    )
    s.get(
        "vs-validate/force-system-version",
        op,
        url=VS + "hcpcs-all",
        system=HCPCS,
        code="Q4257",
        **{"force-system-version": f"{HCPCS}|2020-01"},
    )
    s.get(
        "vs-validate/check-system-version",
        op,
        url=VS + "hcpcs-all",
        system=HCPCS,
        code="Q4257",
        systemVersion="2025-01",
        **{"check-system-version": f"{HCPCS}|2020-01"},
    )
    s.get(
        "vs-validate/system-version-param",
        op,
        url=VS + "hcpcs-all",
        system=HCPCS,
        systemVersion="2020-01",
        code="J0120",
    )
    s.get(
        "vs-validate/date",
        op,
        url=VS + "hcpcs-active",
        system=HCPCS,
        code="C9166",
        date="2025-03-01",
    )
    s.get("vs-validate/betos", op, url=VS + "hcpcs-betos-O1E", system=HCPCS, code="Q4257")
    s.get("vs-validate/asc", op, url=VS + "hcpcs-asc-approved", system=HCPCS, code="G0105")
    s.get("vs-validate/unknown-value-set", op, url=VS + "no-such", system=HCPCS, code="J0120")
    s.get("vs-validate/no-system", op, url=VS + "hcpcs-all", code="J0120")
    s.post(
        "vs-validate/post-coding",
        op,
        _uri("url", VS + "hcpcs-all"),
        _coding("coding", "J0130", version="2020-01"),
    )
    s.post(
        "vs-validate/post-codeable-concept",
        op,
        _uri("url", VS + "hcpcs-modifiers"),
        {
            "name": "codeableConcept",
            "valueCodeableConcept": {
                "coding": [{"system": HCPCS, "code": "J0120"}, {"system": HCPCS, "code": "GA"}]
            },
        },
    )
    s.get(
        "vs-validate/instance",
        "ValueSet/hcpcs-modifiers-2020-01/$validate-code",
        system=HCPCS,
        code="GA",
    )


def _expand(s: _Scenarios) -> None:
    op = "ValueSet/$expand"
    s.get("expand/modifiers-count-10", op, url=VS + "hcpcs-modifiers", count="10")
    s.get("expand/modifiers-offset", op, url=VS + "hcpcs-modifiers", count="5", offset="100")
    s.get("expand/all-filter", op, url=VS + "hcpcs-all", filter="skin substitute", count="20")
    s.get("expand/all-filter-code", op, url=VS + "hcpcs-all", filter="Q42", count="20")
    s.get("expand/count-0", op, url=VS + "hcpcs-all", count="0")
    s.get("expand/version-2020", op, url=VS + "hcpcs-modifiers|2020-01", count="8")
    s.get(
        "expand/value-set-version",
        op,
        url=VS + "hcpcs-modifiers",
        valueSetVersion="2020-01",
        count="8",
        offset="300",
    )
    s.query(
        "expand/properties",
        op,
        [
            ("url", VS + "hcpcs-betos-O1E"),
            ("count", "5"),
            ("property", "status"),
            ("property", "short-description"),
        ],
    )
    s.get(
        "expand/active-only", op, url=VS + "hcpcs-all", activeOnly="true", filter="Q41", count="8"
    )
    s.get("expand/inactive", op, url=VS + "hcpcs-all", activeOnly="false", filter="C91", count="8")
    s.get(
        "expand/designations", op, url=VS + "hcpcs-betos-M1A", includeDesignations="true", count="3"
    )
    s.get("expand/definitions", op, url=VS + "hcpcs-betos-M1A", includeDefinition="true", count="3")
    s.get("expand/betos-whole", op, url=VS + "hcpcs-betos-D1A|2020-01")
    s.get("expand/asc", op, url=VS + "hcpcs-asc-approved", count="4", offset="10")
    s.get(
        "expand/system-version",
        op,
        url=VS + "hcpcs-modifiers",
        count="4",
        **{"system-version": f"{HCPCS}|2020-01"},
    )
    s.get(
        "expand/force-system-version",
        op,
        url=VS + "hcpcs-modifiers",
        count="4",
        **{"force-system-version": f"{HCPCS}|2020-01"},
    )
    s.get("expand/date", op, url=VS + "hcpcs-active", date="2020-06-01", count="3")
    s.get("expand/unknown", op, url=VS + "no-such")
    s.get("expand/bad-count", op, url=VS + "hcpcs-all", count="many")
    s.get("expand/negative-offset", op, url=VS + "hcpcs-all", offset="-1")
    s.get("expand/instance", "ValueSet/hcpcs-betos-O1E-2025-01/$expand", count="6")
    s.post(
        "expand/post-inline-value-set",
        op,
        {
            "name": "valueSet",
            "resource": {
                "resourceType": "ValueSet",
                "status": "active",
                "compose": {
                    "include": [
                        {
                            "system": HCPCS,
                            "version": "2025-01",
                            "concept": [{"code": "Q4257"}, {"code": "J0120"}, {"code": "AB"}],
                        },
                        {
                            "system": HCPCS,
                            "filter": [{"property": "betos", "op": "=", "value": "O1E"}],
                        },
                    ]
                },
            },
        },
        {"name": "count", "valueInteger": 12},
    )
    s.get("expand/xml", op, url=VS + "hcpcs-modifiers", count="3", _format="xml")


def _subsumes_translate(s: _Scenarios) -> None:
    op = "CodeSystem/$subsumes"
    s.get("subsumes/same", op, system=HCPCS, codeA="Q4257", codeB="Q4257")
    s.get("subsumes/different", op, system=HCPCS, codeA="Q4257", codeB="J0120")
    s.get("subsumes/unknown-code", op, system=HCPCS, codeA="Q4257", codeB="Q9999")
    s.post(
        "subsumes/codings",
        op,
        _coding("codingA", "AB"),
        _coding("codingB", "AB", version="2025-01"),
    )
    _translate(s)


def _translate(s: _Scenarios) -> None:
    """Forward by source code: R4 names (system, code) on /r4, R5 names on /r5; the other
    version's names once each, as an error case or an accepted alias."""
    op = "ConceptMap/$translate"

    def forward(label: str, code: str, path: str = op, **more: str) -> None:
        if s.base == "r4":
            s.get(label, path, system=HCPCS, code=code, **more)
        else:
            s.get(label, path, sourceSystem=HCPCS, sourceCode=code, **more)

    forward("translate/A4466", "A4466", url=REPLACEMENTS)
    forward("translate/no-map", "A4397", url=REPLACEMENTS)
    forward("translate/to-cpt", "C8904", url=REPLACEMENTS)
    target = "targetsystem" if s.base == "r4" else "targetSystem"
    forward("translate/target-system", "C8904", url=REPLACEMENTS, **{target: HCPCS})
    forward("translate/not-in-map", "Q4257", url=REPLACEMENTS)
    forward("translate/no-url", "C9043")
    forward("translate/unknown-map", "A4466", url="http://example.org/cm")
    forward("translate/instance", "C9408", "ConceptMap/hcpcs-replacements/$translate")
    s.get("translate/r4-names", op, url=REPLACEMENTS, system=HCPCS, code="C9794")
    s.get("translate/r5-names", op, url=REPLACEMENTS, sourceSystem=HCPCS, sourceCode="C9794")
    s.get("translate/reverse", op, url=REPLACEMENTS, system=HCPCS, code="G0562", reverse="true")
    s.get("translate/target-code", op, url=REPLACEMENTS, targetSystem=HCPCS, targetCode="J0642")
    s.post("translate/post-coding", op, _uri("url", REPLACEMENTS), _coding("sourceCoding", "C9166"))


def _batch_and_changes(s: _Scenarios) -> None:
    def validation(*parameters: Parameter) -> Parameter:
        resource = {"resourceType": "Parameters", "parameter": list(parameters)}
        return {"name": "validation", "resource": resource}

    s.post(
        "batch-validate/mixed",
        "ValueSet/$batch-validate-code",
        _uri("url", VS + "hcpcs-all"),
        validation(_coding("coding", "J0120")),
        validation(_coding("coding", "ZZZZZ")),
        validation(_coding("coding", "Q4257", display="Wrong")),
        validation(_uri("url", VS + "hcpcs-modifiers"), _coding("coding", "AB")),
    )
    s.post(
        "batch-validate/code-system",
        "CodeSystem/$batch-validate-code",
        validation(_uri("url", HCPCS), _code("code", "G0562")),
        validation(_uri("url", HCPCS), _code("code", "C9794"), _string("version", "2020-01")),
    )
    s.post("batch-validate/empty", "ValueSet/$batch-validate-code", _uri("url", VS + "hcpcs-all"))
    op = "CodeSystem/$changes"
    s.get("changes/2020-to-2025", op, system=HCPCS, fromVersion="2020-01", toVersion="2025-01")
    s.get("changes/unknown-version", op, system=HCPCS, fromVersion="2020-01", toVersion="2031-01")
    s.get("changes/missing-to", op, system=HCPCS, fromVersion="2020-01")
    s.post(  # a release against itself: the small answer (2020 -> 2025 is 1.3 MB)
        "changes/post-same-version",
        op,
        _uri("system", HCPCS),
        _string("fromVersion", "2025-01"),
        _string("toVersion", "2025-01"),
    )
    s.get(
        "changes/instance",
        "CodeSystem/hcpcs-2025-01/$changes",
        fromVersion="2020-01",
        toVersion="2020-01",
    )


def _read_search(s: _Scenarios) -> None:
    s.get("read/code-system-summary", "CodeSystem/hcpcs-2025-01", _summary="true")
    s.get("read/code-system-elements", "CodeSystem/hcpcs-2020-01", _elements="url,version,count")
    s.get("read/small-code-system", "CodeSystem/hcpcs-section-2025-01")
    s.get("read/value-set", "ValueSet/hcpcs-modifiers-2025-01")
    s.get("read/value-set-summary-text", "ValueSet/hcpcs-all-2020-01", _summary="text")
    s.get("read/concept-map-summary", "ConceptMap/hcpcs-replacements", _summary="true")
    s.get("read/unknown-id", "CodeSystem/no-such-id")
    s.get("read/unknown-type", "Patient/1")
    s.get("search/code-systems", "CodeSystem", _elements="url,version", _count="50")
    s.get("search/code-system-by-url", "CodeSystem", url=HCPCS, _summary="true")
    s.get("search/code-system-by-version", "CodeSystem", version="2020-01", _elements="url")
    s.get("search/value-sets-page", "ValueSet", _elements="url,version", _count="7", _offset="40")
    s.get("search/value-sets-by-name", "ValueSet", name="HCPCSBetos", _count="3", _summary="true")
    s.get("search/value-sets-count", "ValueSet", _summary="count")
    s.get("search/value-sets-sorted", "ValueSet", _sort="-version,url", _count="4", _elements="url")
    s.get("search/concept-maps", "ConceptMap", _summary="true")
    s.get("search/count-0", "CodeSystem", _count="0")
    s.get("search/unknown-parameter", "ValueSet", colour="blue")
    s.get("search/bad-count", "ValueSet", _count="lots")
    s.raw(
        "search/post-search",
        "POST",
        "ValueSet/_search",
        "url=https%3A%2F%2Fhcpcs-tx.org%2Ffhir%2FValueSet%2Fhcpcs-modifiers&_summary=true",
        "application/x-www-form-urlencoded",
    )


def _metadata_errors(s: _Scenarios) -> None:
    s.get("metadata", "metadata")
    s.get("metadata/terminology", "metadata", mode="terminology")
    s.get("metadata/xml", "metadata", _format="xml")
    s.get("versions", "$versions")
    s.get("operation-definition", "OperationDefinition/CodeSystem-changes")
    s.get("error/unknown-operation", "CodeSystem/$frobnicate", system=HCPCS)
    s.raw(
        "error/malformed-json", "POST", "CodeSystem/$lookup", '{"resourceType": "Param', FHIR_JSON
    )
    s.raw(
        "error/not-parameters",
        "POST",
        "CodeSystem/$lookup",
        '{"resourceType": "Patient"}',
        FHIR_JSON,
    )
    s.raw("error/json-array", "POST", "ValueSet/$expand", "[1, 2]", FHIR_JSON)
    s.raw("error/text-plain", "POST", "CodeSystem/$lookup", "code=J0120", "text/plain")
    s.post("error/wrong-value-type", "ValueSet/$expand", {"name": "count", "valueString": "ten"})
    s.post("error/parameter-without-value", "CodeSystem/$lookup", {"name": "code"})
    s.raw(
        "xml-request",
        "POST",
        "CodeSystem/$lookup",
        '<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="system"/>'
        f'<valueUri value="{HCPCS}"/></parameter><parameter><name value="code"/>'
        '<valueCode value="J0120"/></parameter></Parameters>',
        "application/fhir+xml",
    )
    s.made.append(
        request(
            f"hcpcs/{s.base}/bundle/batch",
            "POST",
            f"/{s.base}",
            json.dumps(
                {
                    "resourceType": "Bundle",
                    "type": "batch",
                    "entry": [
                        {
                            "request": {
                                "method": "GET",
                                "url": f"CodeSystem/$lookup?system={HCPCS}&code=J0120",
                            }
                        },
                        {"request": {"method": "GET", "url": "ValueSet?_summary=count"}},
                        {"request": {"method": "GET", "url": "CodeSystem/no-such-id"}},
                        {
                            "request": {"method": "POST", "url": "ValueSet/$validate-code"},
                            "resource": json.loads(
                                _parameters(
                                    _uri("url", VS + "hcpcs-all"), _coding("coding", "Q4257")
                                )
                            ),
                        },
                    ],
                }
            ),
        )
    )


SCENARIOS: tuple[Callable[[_Scenarios], None], ...] = (
    _lookup,
    _validate_code_system,
    _validate_value_set,
    _expand,
    _subsumes_translate,
    _batch_and_changes,
    _read_search,
    _metadata_errors,
)


def hcpcs_requests() -> list[GoldenRequest]:
    """The HCPCS requests, /r4 then /r5, plus a few on /fhir (the default base) and off it."""
    made: list[GoldenRequest] = []
    for base in ("r4", "r5"):
        scenarios = _Scenarios(base)
        for scenario in SCENARIOS:
            scenario(scenarios)
        made += scenarios.made
    fhir = _Scenarios("fhir")
    fhir.get("lookup/Q4257", "CodeSystem/$lookup", system=HCPCS, code="Q4257")
    fhir.get("metadata", "metadata")
    made += fhir.made
    made.append(request("hcpcs/unknown-base", "GET", "/r3/metadata"))
    return made


# -- tx-ecosystem -----------------------------------------------------------------------


def tx_requests(root: Path = TX_ECOSYSTEM) -> Iterator[GoldenRequest]:
    """Every tx-ecosystem test request, R5 then R4, built as the conformance runner sends it.

    Each version's default run (597 tests) comes first, then the tests of every other mode
    (snomed, tx.fhir.org, omop ...: their suites with that mode on); a test whose material
    is absent upstream is left out. Only record.py calls this: it needs the runner's request
    builder (terminology.conformance, as of b0be068), which the replay never does."""
    conformance = importlib.import_module("terminology.conformance")
    requests_module = importlib.import_module("terminology.conformance.requests")
    versions = importlib.import_module("terminology.versions")
    manifest = conformance.Manifest.load(root)
    for fhir_version in ("r5", "r4"):
        convert = versions.to_r4 if fhir_version == "r4" else None
        for case in _every_case(manifest, fhir_version):
            try:
                built = conformance.build_request(case, manifest, convert)
            except (conformance.MissingFile, requests_module.UnsupportedOperation):
                continue
            yield _frozen(f"tx/{fhir_version}/{case.key}", fhir_version, built)


def _every_case(manifest: Any, fhir_version: str) -> Iterator[Any]:
    modes = {m for s in manifest.suites for m in _modes(s)}
    modes |= {m for s in manifest.suites for t in s.get("tests", []) for m in _modes(t)}
    seen: set[str] = set()
    selections = [manifest.select(fhir_version=fhir_version)]
    selections += [
        manifest.select(suites=[s["name"]], fhir_version=fhir_version) for s in manifest.suites
    ]
    selections.append(manifest.select(modes=frozenset(modes), fhir_version=fhir_version))
    for cases in selections:
        for case in cases:
            if case.key not in seen:
                seen.add(case.key)
                yield case


def _modes(item: Mapping[str, Any]) -> list[str]:
    return list(item.get("modes", [])) + ([item["mode"]] if "mode" in item else [])


def _frozen(name: str, fhir_version: str, built: Any) -> GoldenRequest:
    """The runner's HttpRequest as sent by httpx: query encoded as httpx encodes it, body
    serialised by orjson as the runner does."""
    import httpx
    import orjson

    url = httpx.URL(f"http://testserver/{fhir_version}/{built.path}", params=built.query or None)
    path = url.raw_path.decode("ascii")
    body = orjson.dumps(built.body).decode("utf-8") if built.body is not None else None
    return GoldenRequest(
        name=name, method=built.method, path=path, headers=dict(built.headers), body=body
    )
