"""HCPCS over time over HTTP (FastAPI TestClient), R4 and R5, each answer parsed with
fhir.resources: CodeSystem/$changes (GET, POST, instance), date-aware $validate-code,
$translate, and the CapabilityStatement entry."""

from __future__ import annotations

import pytest
from fhir.resources.operationoutcome import OperationOutcome
from fhir.resources.parameters import Parameters
from fhir.resources.R4B.operationoutcome import OperationOutcome as OperationOutcomeR4
from fhir.resources.R4B.parameters import Parameters as ParametersR4

from tests.history.conftest import HCPCS, value

MODELS = {"r4": (ParametersR4, OperationOutcomeR4), "r5": (Parameters, OperationOutcome)}
BASES = pytest.mark.parametrize("base", ["r4", "r5"])


def _ok(response, base: str) -> dict:
    assert response.status_code == 200, response.text
    resource = response.json()
    MODELS[base][0].model_validate(resource)
    return resource


@BASES
def test_changes_get_and_post(client, base) -> None:
    query = {"system": HCPCS, "fromVersion": "2019-01", "toVersion": "2020-01"}
    got = _ok(client.get(f"/{base}/CodeSystem/$changes", params=query), base)
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "system", "valueUri": HCPCS},
            {"name": "fromVersion", "valueString": "2019-01"},
            {"name": "toVersion", "valueString": "2020-01"},
        ],
    }
    posted = _ok(client.post(f"/{base}/CodeSystem/$changes", json=body), base)
    assert got == posted
    assert [value(got, k) for k in ("added", "terminated", "redescribed")] == [279, 89, 70]
    query.pop("system")
    instance = _ok(client.get(f"/{base}/CodeSystem/hcpcs-2020-01/$changes", params=query), base)
    assert instance == got


@BASES
def test_changes_unknown_version_is_a_404_outcome(client, base) -> None:
    query = {"system": HCPCS, "fromVersion": "2019-01", "toVersion": "2031-01"}
    response = client.get(f"/{base}/CodeSystem/$changes", params=query)
    assert response.status_code == 404
    outcome = MODELS[base][1].model_validate(response.json())
    assert "version '2031-01' could not be found" in outcome.issue[0].details.text


@BASES
def test_validate_code_with_date(client, base) -> None:
    url = f"/{base}/CodeSystem/$validate-code"
    before = _ok(
        client.get(url, params={"url": HCPCS, "code": "A9590", "date": "2019-06-01"}), base
    )
    assert value(before, "result") is False and value(before, "version") is None
    after = {"url": HCPCS, "code": "C9408", "date": "2020-03-01"}
    result = _ok(client.get(url, params=after), base)
    assert value(result, "result") is True and value(result, "inactive") is True
    assert value(result, "version") == "2020-01"
    assert "Replaced by A9590" in value(result, "message")


def test_translate_r4_names(client) -> None:
    query = {"system": HCPCS, "code": "C9408", "targetsystem": HCPCS, "date": "2020-03-01"}
    result = _ok(client.get("/r4/ConceptMap/$translate", params=query), "r4")
    parts = {p["name"]: p for p in value(result, "match")["part"]}
    assert parts["concept"]["valueCoding"]["code"] == "A9590"
    assert parts["equivalence"]["valueCode"] == "relatedto"


@BASES
def test_capability_statement_lists_changes(client, base) -> None:
    statement = client.get(f"/{base}/metadata").json()
    (code_system,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "CodeSystem"]
    assert {
        "name": "changes",
        "definition": "https://hcpcs-tx.org/fhir/OperationDefinition/CodeSystem-changes",
    } in code_system["operation"]
