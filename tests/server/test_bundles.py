"""Batch and transaction Bundles POSTed at the base, as fhir-kit-client and the FHIR
validator send them: reads, searches and operations (GET and POST entries) over the 2019
and 2020 releases; failed entries in a batch, a failed transaction, the entry bound."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from terminology.api import create_app

from . import releases_2019_2020
from .conftest import HCPCS, parse
from .helpers import values

ALL_CODES = "https://hcpcs-tx.org/fhir/ValueSet/hcpcs-all"


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(releases_2019_2020.engine()))


def _validate(code: str) -> dict:
    """A POST entry as the FHIR validator sends it: ValueSet/$validate-code with Parameters."""
    parameters = [
        {"name": "url", "valueUri": ALL_CODES},
        {"name": "coding", "valueCoding": {"system": HCPCS, "code": code}},
    ]
    resource = {"resourceType": "Parameters", "parameter": parameters}
    return {"request": {"method": "POST", "url": "ValueSet/$validate-code"}, "resource": resource}


def _get(url: str) -> dict:
    return {"request": {"method": "GET", "url": url}}


def _post(client, base: str, kind: str, entries: list[dict], status: int = 200) -> dict:
    bundle = {"resourceType": "Bundle", "type": kind, "entry": entries}
    response = client.post(f"/{base}", json=bundle)
    assert response.status_code == status, response.text[:800]
    assert response.headers["content-type"] == "application/fhir+json"
    return response.json()


def _parsed(result: dict, base: str) -> dict:
    """The response parsed with fhir.resources (a stored CodeSystem's concepts cut: the
    structure repeats and the models take seconds over 7,000 concepts)."""
    light = {
        **result,
        "entry": [
            {
                **e,
                **(
                    {"resource": {k: v for k, v in e["resource"].items() if k != "concept"}}
                    if "resource" in e
                    else {}
                ),
            }
            for e in result.get("entry", [])
        ],
    }
    parse(light, base)
    return result


@pytest.mark.parametrize("base", ["r4", "r5", "fhir"])
def test_batch_of_reads_searches_and_operations(client, base) -> None:
    entries = [
        _get(f"CodeSystem/$lookup?system={HCPCS}&code=J0120&version=2019-01"),
        _get("ValueSet/hcpcs-all-2020-01"),
        _get("ValueSet?name=HCPCSBETOSO1&version=2020-01&_count=3"),
        _validate("E0100"),
        _get("ValueSet/hcpcs-betos-O1E-2020-01/$expand?count=2"),
        _get("CodeSystem/hcpcs-2019-01?_summary=true"),
        _get("metadata"),
    ]
    result = _parsed(_post(client, base, "batch", entries), base)
    assert result["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == ["200 OK"] * len(entries)
    lookup, value_set, found, validated, expanded, summary, statement = (
        e["resource"] for e in result["entry"]
    )
    assert values(lookup)["display"] == "Injection, tetracycline, up to 250 mg"
    assert values(lookup)["version"] == "2019-01"
    assert (value_set["resourceType"], value_set["version"]) == ("ValueSet", "2020-01")
    assert found["type"] == "searchset" and found["total"] == 8 and len(found["entry"]) == 3
    assert found["entry"][0]["fullUrl"].startswith("http://testserver/")
    assert values(validated)["result"] is True
    assert expanded["expansion"]["total"] == 897
    assert "concept" not in summary and summary["version"] == "2019-01"
    assert statement["resourceType"] == "CapabilityStatement"


@pytest.mark.parametrize("base", ["r4", "r5"])
def test_failed_entries_in_a_batch_carry_an_outcome(client, base) -> None:
    entries = [
        _get(f"CodeSystem/$lookup?system={HCPCS}&code=NOPE1"),
        _get("ValueSet/not-there"),
        _validate("ZZZZZ"),
        {"request": {"method": "DELETE", "url": "ValueSet/hcpcs-all-2020-01"}},
        {"request": {"method": "GET"}},
        _get("Patient?name=x"),
        _get(f"CodeSystem/$lookup?system={HCPCS}&code=J0120"),
    ]
    result = _parsed(_post(client, base, "batch", entries), base)
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == [
        "404 Not Found",
        "404 Not Found",
        "200 OK",  # a code not in the value set is a valid answer: result false
        "405 Method Not Allowed",
        "400 Bad Request",
        "404 Not Found",
        "200 OK",
    ]
    for entry, status in zip(result["entry"], statuses, strict=True):
        if status != "200 OK":
            assert "resource" not in entry
            outcome = entry["response"]["outcome"]
            assert outcome["resourceType"] == "OperationOutcome"
            assert outcome["issue"][0]["severity"] == "error"
    assert values(result["entry"][2]["resource"])["result"] is False
    missing = result["entry"][1]["response"]["outcome"]["issue"][0]["details"]["text"]
    assert missing == "ValueSet/not-there not found"


@pytest.mark.parametrize("base", ["r4", "r5"])
def test_a_transaction_answers_whole_or_fails_naming_the_entry(client, base) -> None:
    good = [_get(f"CodeSystem/$lookup?system={HCPCS}&code=J0120"), _validate("E0100")]
    result = _parsed(_post(client, base, "transaction", good), base)
    assert result["type"] == "transaction-response"
    assert [e["response"]["status"] for e in result["entry"]] == ["200 OK", "200 OK"]
    failing = [*good, _get("ValueSet/not-there"), _get("ValueSet/also-not-there")]
    outcome = _post(client, base, "transaction", failing, 404)
    parse(outcome, base)
    first = outcome["issue"][0]
    assert first["details"]["text"].startswith(
        "The transaction failed at entry 2 (GET ValueSet/not-there)"
    )
    assert first["expression"] == ["Bundle.entry[2]"]


def test_bundle_shape_and_size_are_checked(client, monkeypatch) -> None:
    searchset = {"resourceType": "Bundle", "type": "searchset"}
    assert client.post("/r4", json=searchset).status_code == 400
    assert client.post("/r4", json={"resourceType": "Parameters"}).status_code == 400
    assert client.post("/r4", content=b"{oops").status_code == 400
    monkeypatch.setenv("HCPCS_TX_BUNDLE_MAX_ENTRIES", "3")
    four = [_get(f"CodeSystem/$lookup?system={HCPCS}&code=J0120")] * 4
    outcome = _post(client, "r4", "batch", four, 413)
    assert "at most 3" in outcome["issue"][0]["details"]["text"]
    assert _post(client, "r4", "batch", four[:3])["type"] == "batch-response"
    assert client.get("/r4").status_code == 405
