"""The per-request budget and the batch size limit over HTTP: past them, the standard
too-costly OperationOutcome (R4 and R5), and the work stops."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

import codesystem
from terminology.api import create_app
from terminology.budget import Limits
from terminology.engine import Engine

from .conftest import HCPCS, parse


@pytest.fixture(scope="module")
def tight(resources) -> TestClient:
    """The 2020 release served with a budget of 20,000 units and batches of at most 100."""
    engine = Engine(resources, codesystem.HCPCS_ALIASES, Limits(work=20_000, batch=100))
    return TestClient(create_app(engine))


def _post(client: TestClient, base: str, path: str, parameters: list[dict]):
    return client.post(
        f"/{base}/{path}", json={"resourceType": "Parameters", "parameter": parameters}
    )


def _all_codes(resources) -> str:
    return next(
        r["url"]
        for r in resources
        if r.get("resourceType") == "ValueSet" and r.get("id", "").startswith("hcpcs-all")
    )


@pytest.mark.parametrize("base", ["r4", "r5"])
def test_a_request_past_its_budget_is_too_costly(tight, base) -> None:
    vs = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {"include": [{"system": HCPCS}]},
    }
    response = _post(tight, base, "ValueSet/$expand", [{"name": "valueSet", "resource": vs}])
    assert response.status_code == 422
    outcome = response.json()
    parse(outcome, base)
    assert outcome["issue"][0]["code"] == "too-costly"
    assert "20,000 units of work" in outcome["issue"][0]["details"]["text"]


@pytest.mark.parametrize("base", ["r4", "r5"])
def test_cheap_requests_fit(tight, base) -> None:
    response = tight.get(f"/{base}/CodeSystem/$lookup", params={"system": HCPCS, "code": "A0021"})
    assert response.status_code == 200


def _batch(url: str, count: int) -> list[dict]:
    coding = {"name": "coding", "valueCoding": {"system": HCPCS, "code": "A0021"}}
    validation = {"resourceType": "Parameters", "parameter": [coding]}
    return [{"name": "url", "valueUri": url}] + [
        {"name": "validation", "resource": validation} for _ in range(count)
    ]


@pytest.mark.parametrize("base", ["r4", "r5"])
def test_a_batch_over_the_limit_is_refused_at_once(tight, resources, base) -> None:
    started = time.perf_counter()
    response = _post(
        tight, base, "ValueSet/$batch-validate-code", _batch(_all_codes(resources), 101)
    )
    assert time.perf_counter() - started < 2
    assert response.status_code == 413
    outcome = response.json()
    parse(outcome, base)
    assert outcome["issue"][0]["code"] == "too-costly"
    assert "more than the 100 this server validates" in outcome["issue"][0]["details"]["text"]


def test_a_batch_within_the_limit_answers(tight, resources) -> None:
    response = _post(
        tight, "r4", "ValueSet/$batch-validate-code", _batch(_all_codes(resources), 100)
    )
    assert response.status_code == 200
    assert len(response.json()["parameter"]) == 100
