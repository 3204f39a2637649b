"""CodeSystem supplements applied behind the provider (operations/supplements.py): a
supplement without a version is named by its url alone (FHIR canonical: `url|version` only
when there is a version), in $lookup and in the expansion that uses it."""

from __future__ import annotations

from .conftest import SIMPLE, run

SUPPLEMENT = {
    "resourceType": "CodeSystem",
    "url": "http://example.org/fhir/CodeSystem/simple-dutch",
    "status": "active",
    "content": "supplement",
    "supplements": SIMPLE,
    "concept": [
        {
            "code": "code1",
            "designation": [{"language": "nl", "value": "Code een"}],
        }
    ],
}


def _parts(parameters: dict, name: str) -> list[dict]:
    return [p for p in parameters["parameter"] if p["name"] == name]


def test_lookup_names_a_versionless_supplement_by_its_url(simple_engine) -> None:
    found = run(
        simple_engine,
        "lookup",
        "CodeSystem",
        system__Uri=SIMPLE,
        code__Code="code1",
        useSupplement__Canonical=SUPPLEMENT["url"],
        tx_resource__resource=SUPPLEMENT,
    )
    used = [p["valueCanonical"] for p in _parts(found, "used-supplement")]
    assert used == [SUPPLEMENT["url"]]
    dutch = [
        {part["name"]: part for part in d["part"]}
        for d in _parts(found, "designation")
        if any(part.get("valueCode") == "nl" for part in d["part"])
    ]
    assert [d["value"]["valueString"] for d in dutch] == ["Code een"]


def test_an_expansion_reports_a_versionless_supplement_it_used(simple_engine) -> None:
    value_set = {
        "resourceType": "ValueSet",
        "url": "http://example.org/fhir/ValueSet/simple-dutch",
        "status": "active",
        "compose": {"include": [{"system": SIMPLE}]},
    }
    expanded = run(
        simple_engine,
        "expand",
        "ValueSet",
        valueSet__resource=value_set,
        useSupplement__Canonical=SUPPLEMENT["url"],
        tx_resource__resource=SUPPLEMENT,
        includeDesignations__Boolean=True,
    )
    used = [
        p.get("valueUri") or p.get("valueCanonical")
        for p in expanded["expansion"]["parameter"]
        if p["name"] == "used-supplement"
    ]
    assert used == [SUPPLEMENT["url"]]
