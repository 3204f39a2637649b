"""/openapi.json and /docs: a valid OpenAPI 3 document describing every route and FHIR
operation with its parameters and examples, so schema-driven tools can drive the API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from terminology.api import create_app
from terminology.params import PARAMETER_TYPES
from terminology.rest.capabilities import OPERATIONS

from . import releases_2019_2020

openapi_spec_validator = pytest.importorskip("openapi_spec_validator")


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(releases_2019_2020.engine()))


@pytest.fixture(scope="module")
def document(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_document_is_valid_openapi_3(document) -> None:
    openapi_spec_validator.validate(document)  # raises on any error
    assert document["openapi"].startswith("3.")
    ids = [op["operationId"] for item in document["paths"].values() for op in _operations(item)]
    assert len(ids) == len(set(ids))


def test_every_fhir_operation_is_described_with_its_parameters(document) -> None:
    paths = document["paths"]
    for kind, operation, _ in OPERATIONS:
        for path in (f"/{{base}}/{kind}/${operation}", f"/{{base}}/{kind}/{{id}}/${operation}"):
            item = paths[path]
            query = {p["name"] for p in item["get"]["parameters"] if p["in"] == "query"}
            table = PARAMETER_TYPES[operation]
            assert {n for n, t in table.items() if t != "Resource"} <= query
            body = item["post"]["requestBody"]["content"]["application/fhir+json"]
            assert body["example"]["resourceType"] == "Parameters"
    lookup = paths["/{base}/CodeSystem/$lookup"]["get"]["parameters"]
    code = next(p for p in lookup if p["name"] == "code")
    assert code["example"] == "J0120"
    expand = paths["/{base}/ValueSet/$expand"]["get"]["parameters"]
    assert next(p for p in expand if p["name"] == "count")["schema"]["type"] == "integer"
    names = {
        "$lookup",
        "$validate-code",
        "$expand",
        "$subsumes",
        "$translate",
        "$batch-validate-code",
    }
    assert names <= {path.rsplit("/", 1)[1] for path in paths}


def test_read_search_metadata_bundles_and_the_other_routes_are_described(document) -> None:
    paths = document["paths"]
    search = paths["/{base}/ValueSet"]["get"]["parameters"]
    assert {"url", "name", "_count", "_sort", "_total", "_summary", "Prefer"} <= {
        p["name"] for p in search
    }
    assert "post" in paths["/{base}/ValueSet/_search"]
    read = paths["/{base}/CodeSystem/{id}"]
    assert read["parameters"][1]["example"] == "hcpcs-2020-01"  # the data served
    assert {p["name"] for p in read["get"]["parameters"]} >= {"_summary", "_elements"}
    assert "mode" in {p["name"] for p in paths["/{base}/metadata"]["get"]["parameters"]}
    bundle = paths["/{base}"]["post"]["requestBody"]["content"]["application/fhir+json"]
    assert bundle["example"]["type"] == "batch"
    for path in ("/health", "/ready", "/{base}/$versions", "/{base}/OperationDefinition/{id}"):
        assert path in paths


def test_examples_answer_as_documented(client, document) -> None:
    """The examples are real requests: the lookup and the batch answer 200."""
    lookup = document["paths"]["/{base}/CodeSystem/$lookup"]["get"]["parameters"]
    query = {p["name"]: p["example"] for p in lookup if p["in"] == "query" and "example" in p}
    asked = {k: v for k, v in query.items() if k in ("system", "code", "version")}
    assert client.get("/r4/CodeSystem/$lookup", params=asked).status_code == 200
    example = document["paths"]["/{base}"]["post"]["requestBody"]["content"]
    result = client.post("/r4", json=example["application/fhir+json"]["example"]).json()
    assert {e["response"]["status"] for e in result["entry"]} == {"200 OK"}


def test_docs_page(client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    assert "/openapi.json" in page.text


def _operations(item: dict) -> list[dict]:
    return [v for k, v in item.items() if k in ("get", "post", "put", "delete", "options")]
