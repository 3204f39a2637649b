"""Every bad request gets a specific OperationOutcome with the right status, never a 500
stack trace."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from terminology.api import MAX_BODY, create_app

from .conftest import HCPCS, parse
from .helpers import BASES, CASES, call

ALL_CODES = "https://hcpcs-tx.org/fhir/ValueSet/hcpcs-all"


def _text(outcome: dict) -> str:
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"
    return outcome["issue"][0]["details"]["text"]


def _outcome(response, status: int, base: str = "r5") -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    parse(response.json(), base)
    return _text(response.json())


@pytest.mark.parametrize(("base", "method"), CASES)
def test_unknown_system_version_value_set(client, base, method) -> None:
    asked = [{"name": "system", "valueUri": "http://example.org/nope"}]
    asked.append({"name": "code", "valueCode": "x"})
    status, outcome = call(client, base, method, "CodeSystem/$lookup", asked)
    assert status == 404 and "http://example.org/nope" in _text(outcome)
    asked = [{"name": "system", "valueUri": HCPCS}, {"name": "code", "valueCode": "J0120"}]
    asked.append({"name": "version", "valueString": "1999-01"})
    status, outcome = call(client, base, method, "CodeSystem/$lookup", asked)
    assert status == 404 and "'1999-01' could not be found" in _text(outcome)
    asked = [{"name": "url", "valueUri": "http://example.org/no-vs"}]
    status, outcome = call(client, base, method, "ValueSet/$expand", asked)
    assert status == 404 and "http://example.org/no-vs" in _text(outcome)


@pytest.mark.parametrize(("base", "method"), CASES)
def test_missing_required_parameter(client, base, method) -> None:
    asked = [{"name": "system", "valueUri": HCPCS}]
    status, outcome = call(client, base, method, "CodeSystem/$lookup", asked)
    assert status == 400 and _text(outcome) == "Missing required parameter: code"


@pytest.mark.parametrize(("base", "method"), CASES)
def test_absurd_count(client, base, method) -> None:
    asked = [{"name": "url", "valueUri": ALL_CODES}, {"name": "count", "valueInteger": 10**9}]
    status, outcome = call(client, base, method, "ValueSet/$expand", asked)
    assert status == 400 and outcome["issue"][0]["code"] == "too-costly"
    asked[1] = {"name": "count", "valueInteger": -5}
    status, outcome = call(client, base, method, "ValueSet/$expand", asked)
    assert status == 400 and _text(outcome) == "Invalid value for parameter 'count': '-5'"


@pytest.mark.parametrize("base", BASES)
def test_unsupported_filter_names_it(client, base) -> None:
    include = {
        "system": HCPCS,
        "filter": [{"property": "betos", "op": "descendent-leaf", "value": "O1E"}],
    }
    vs = {
        "resourceType": "ValueSet",
        "url": "http://example.org/vs",
        "status": "active",
        "compose": {"include": [include]},
    }
    status, outcome = call(
        client, base, "POST", "ValueSet/$expand", [{"name": "valueSet", "resource": vs}]
    )
    assert status == 400 and "descendent-leaf" in _text(outcome)


@pytest.mark.parametrize("base", BASES)
def test_malformed_json(client, base) -> None:
    response = client.post(f"/{base}/CodeSystem/$lookup", content=b'{"resourceType": "Par')
    assert _outcome(response, 400, base).startswith("The request body is not valid JSON")


@pytest.mark.parametrize("base", BASES)
def test_body_that_is_not_parameters(client, base) -> None:
    response = client.post(f"/{base}/CodeSystem/$lookup", json={"resourceType": "Patient"})
    text = _outcome(response, 400, base)
    assert text == "The request body must be a Parameters resource, not Patient"
    response = client.post(f"/{base}/CodeSystem/$lookup", json=[1, 2])
    assert "must be a Parameters resource" in _outcome(response, 400, base)
    response = client.post(f"/{base}/CodeSystem/$lookup", content=b"")
    assert "empty" in _outcome(response, 400, base)


@pytest.mark.parametrize("base", BASES)
def test_batch_validation_that_is_not_parameters(client, base) -> None:
    def batch(validation: object) -> str:
        body = {"resourceType": "Parameters", "parameter": [{"name": "url", "valueUri": ALL_CODES}]}
        body["parameter"].append({"name": "validation", "resource": validation})
        return _outcome(client.post(f"/{base}/ValueSet/$batch-validate-code", json=body), 400, base)

    assert batch({"resourceType": "ValueSet"}) == (
        "Invalid value for parameter 'validation': 'ValueSet'"
    )
    assert batch({"resourceType": "Parameters", "parameter": {"name": "code"}}) == (
        "Invalid value for parameter 'validation.parameter': 'dict'"
    )


@pytest.mark.parametrize("base", BASES)
def test_wrong_resource_type_and_operation(client, base) -> None:
    text = _outcome(client.get(f"/{base}/Patient/$lookup?code=x"), 404, base)
    assert text == "Resource type 'Patient' is not supported by this server"
    text = _outcome(client.get(f"/{base}/ValueSet/$lookup?code=x"), 400, base)
    assert text == "The operation $lookup is not supported on ValueSet"
    assert _outcome(client.get(f"/{base}/Patient"), 404, base).startswith("Resource type")


def test_unknown_format_route_method_and_base(client) -> None:
    response = client.get("/r4/metadata?_format=text/csv")
    assert _outcome(response, 406) == "Unsupported _format 'text/csv': use json or xml"
    assert _outcome(client.get("/nothing/here/at/all/x"), 404).startswith("No route for GET")
    assert "not allowed" in _outcome(client.delete("/r4/CodeSystem"), 405)
    assert _outcome(client.get("/r9/metadata"), 404) == "Unknown base '/r9'"


def test_body_over_the_limit_is_refused(client) -> None:
    response = client.post("/r4/ValueSet/$expand", content=b" " * (MAX_BODY + 1))
    assert "over the limit" in _outcome(response, 413)


def test_a_bug_is_a_500_outcome_not_a_stack_trace(caplog) -> None:
    class Broken:
        def resources(self, kind: str, fhir_version: str | None = None) -> list:
            return []

        def run(self, request):
            raise RuntimeError("a bug")

    client = TestClient(create_app(Broken()))
    with caplog.at_level("ERROR"):
        response = client.get("/r4/CodeSystem/$lookup?code=x")
    assert _outcome(response, 500) == "Internal server error: the failure was logged"
    assert "a bug" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if r.levelname == "ERROR"]
    assert logged, "the 500 was not logged"
    assert "/r4/CodeSystem/$lookup?code=x" in logged[0].getMessage()  # the request it was
    assert logged[0].exc_info is not None  # with the traceback, for us
