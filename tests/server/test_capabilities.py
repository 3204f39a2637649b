"""CapabilityStatement and TerminologyCapabilities as a validator reads them: the
`kind = instance` invariant, dated from the data, every declared OperationDefinition
resolvable, the interactions, search parameters and formats actually supported, and
`hierarchical` as $expand answers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from terminology.api import create_app

from . import releases_2019_2020
from .conftest import HCPCS, parse
from .helpers import BASES

# The OperationDefinitions FHIR itself publishes (R4 and R5) that we declare by canonical.
CORE = "http://hl7.org/fhir/OperationDefinition/"
STANDARD = {
    "CodeSystem-lookup",
    "CodeSystem-validate-code",
    "CodeSystem-subsumes",
    "ValueSet-expand",
    "ValueSet-validate-code",
    "ConceptMap-translate",
    "ConceptMap-closure",
    "CapabilityStatement-versions",
}


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(releases_2019_2020.engine()))


def _get(client, url: str, status: int = 200) -> dict:
    response = client.get(url)
    assert response.status_code == status, response.text[:500]
    found = response.json()
    parse(found, url.split("/")[1])
    return found


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("mode", ["", "?mode=terminology"])
def test_an_instance_statement_has_its_implementation_and_the_data_date(client, base, mode):
    statement = _get(client, f"/{base}/metadata{mode}")
    assert statement["kind"] == "instance"
    assert statement["implementation"]["url"] == f"http://testserver/{base}"
    assert statement["implementation"]["description"]
    assert statement["date"] == "2020-01-01"  # the latest stored release, not today
    assert statement["software"]["name"] == "hcpcs-tx"


@pytest.mark.parametrize("base", BASES)
def test_declared_interactions_search_parameters_and_formats(client, base) -> None:
    statement = _get(client, f"/{base}/metadata")
    (rest,) = statement["rest"]
    assert {i["code"] for i in rest["interaction"]} == {"batch", "transaction"}
    by_type = {r["type"]: r for r in rest["resource"]}
    for kind in ("CodeSystem", "ValueSet", "ConceptMap", "OperationDefinition"):
        assert {i["code"] for i in by_type[kind]["interaction"]} == {"read", "search-type"}
        names = {p["name"] for p in by_type[kind]["searchParam"]}
        assert names == {"url", "version", "name", "title", "status", "_id"}
    assert "_sort" in rest["documentation"] and "handling=strict" in rest["documentation"]
    assert statement["format"] == ["application/fhir+json", "application/fhir+xml"]
    # each declared search parameter works
    for name, value in (("url", HCPCS), ("version", "2019-01"), ("_id", "hcpcs-2019-01")):
        found = _get(client, f"/{base}/CodeSystem?{name}={value}&_elements=url&_total=accurate")
        assert found["total"] >= 1
    # the declared batch / transaction interactions answer
    for kind in ("batch", "transaction"):
        bundle = {"resourceType": "Bundle", "type": kind, "entry": []}
        assert client.post(f"/{base}", json=bundle).json()["type"] == f"{kind}-response"


@pytest.mark.parametrize("base", BASES)
def test_every_declared_operation_definition_resolves(client, base) -> None:
    statement = _get(client, f"/{base}/metadata")
    (rest,) = statement["rest"]
    declared = [(None, op) for op in rest["operation"]]
    declared += [(r["type"], op) for r in rest["resource"] for op in r.get("operation", [])]
    own = 0
    for kind, operation in declared:
        url = operation["definition"]
        if url.startswith(CORE):
            assert url.removeprefix(CORE) in STANDARD, url
            continue
        own += 1
        definition = _get(client, f"/{base}/OperationDefinition/{url.rsplit('/', 1)[1]}")
        assert definition["url"] == url
        assert definition["code"] == operation["name"]
        assert definition["resource"] == [kind]
        found = _get(client, f"/{base}/OperationDefinition?url={url}")
        assert [e["resource"]["url"] for e in found["entry"]] == [url]
    assert own == 2  # $batch-validate-code and $changes
    _get(client, f"/{base}/OperationDefinition/nope", 404)


@pytest.mark.parametrize("base", BASES)
def test_hierarchical_is_what_expand_does(client, base) -> None:
    capabilities = _get(client, f"/{base}/metadata?mode=terminology")
    assert capabilities["expansion"]["hierarchical"] is True
    nested = {
        "resourceType": "CodeSystem",
        "url": "http://example.org/cs/nested",
        "version": "1",
        "status": "active",
        "content": "complete",
        "hierarchyMeaning": "is-a",
        "concept": [
            {"code": "a", "display": "A", "concept": [{"code": "a1", "display": "A1"}]},
            {"code": "b", "display": "B"},
        ],
    }
    value_set = {
        "resourceType": "ValueSet",
        "url": "http://example.org/vs/nested",
        "status": "active",
        "compose": {"include": [{"system": nested["url"]}]},
    }
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": value_set["url"]},
            {"name": "tx-resource", "resource": nested},
            {"name": "tx-resource", "resource": value_set},
        ],
    }
    expanded = client.post(f"/{base}/ValueSet/$expand", json=body).json()
    parse(expanded, base)
    (a, b) = expanded["expansion"]["contains"]
    assert [c["code"] for c in a["contains"]] == ["a1"] and "contains" not in b
