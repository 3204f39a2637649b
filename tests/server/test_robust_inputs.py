"""Malformed and hostile requests over HTTP: every one a 4xx OperationOutcome (never a 500,
never a RecursionError), and the costly ones answered fast (import chains, catastrophic
regular expressions, many filters)."""

from __future__ import annotations

import time

import orjson
import pytest

from .conftest import HCPCS, parse

OPERATIONS = ("ConceptMap/$translate", "CodeSystem/$lookup", "ValueSet/$validate-code")


def _nested_parts(depth: int) -> bytes:
    return (
        b'{"resourceType":"Parameters","parameter":['
        + b'{"name":"x","part":[' * depth
        + b'{"name":"y","valueString":"z"}'
        + b"]}" * depth
        + b"]}"
    )


def _deep_extension(depth: int) -> dict:
    """A CodeableConcept whose coding carries an extension nested `depth` levels (an echo
    that deep could not even be written: orjson stops at 254 levels)."""
    extension: dict = {"url": "http://x", "valueString": "x"}
    for _ in range(depth):
        extension = {"url": "http://x", "extension": [extension]}
    return {"coding": [{"system": HCPCS, "code": "A0021", "extension": [extension]}]}


BODIES = {
    "parameter null": b'{"resourceType":"Parameters","parameter":null}',
    "parameter [1]": b'{"resourceType":"Parameters","parameter":[1]}',
    "parameter an object": b'{"resourceType":"Parameters","parameter":{"name":"code"}}',
    "resourceType {}": b'{"resourceType":{},"parameter":[]}',
    "tx-resource resourceType {}": (
        b'{"resourceType":"Parameters","parameter":[{"name":"tx-resource","resource":'
        b'{"resourceType":{}}}]}'
    ),
    "conceptMap group a string": (
        b'{"resourceType":"Parameters","parameter":[{"name":"conceptMap","resource":'
        b'{"resourceType":"ConceptMap","group":"x"}},{"name":"code","valueCode":"a"}]}'
    ),
    "parts 150 deep": _nested_parts(150),
    "parts 500 deep": _nested_parts(500),
    "codeableConcept 220 deep": orjson.dumps(
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "url", "valueUri": HCPCS},
                {"name": "codeableConcept", "valueCodeableConcept": _deep_extension(110)},
            ],
        }
    ),
}


@pytest.mark.parametrize("label", list(BODIES))
@pytest.mark.parametrize("base", ["r4", "r5"])
def test_malformed_bodies_are_4xx(client, label, base) -> None:
    for operation in OPERATIONS:
        response = client.post(
            f"/{base}/{operation}",
            content=BODIES[label],
            headers={"content-type": "application/fhir+json"},
        )
        assert 400 <= response.status_code < 500, (operation, response.text[:300])
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        parse(outcome, base)


@pytest.mark.parametrize(
    "query", ["count=%C2%B2", "count=%D9%A1", "offset=18446744073709551616", "count=1_0"]
)
def test_integers_outside_fhir_are_400(client, query) -> None:
    response = client.get(f"/r4/ValueSet/$expand?url={HCPCS}?fhir_vs&{query}")
    assert response.status_code == 400
    assert "is not a FHIR integer" in response.text


def _vs(url: str, includes: list[dict]) -> dict:
    return {
        "resourceType": "ValueSet",
        "url": url,
        "status": "active",
        "compose": {"include": includes},
    }


def _post(client, base: str, path: str, parameters: list[dict]):
    body = {"resourceType": "Parameters", "parameter": parameters}
    return client.post(f"/{base}/{path}", json=body)


@pytest.mark.parametrize("base", ["r4", "r5"])
def test_an_import_chain_300_deep_is_a_4xx(client, base) -> None:
    chain = [_vs("http://x.org/c300", [{"system": HCPCS, "concept": [{"code": "A0021"}]}])]
    chain += [
        _vs(f"http://x.org/c{i}", [{"valueSet": [f"http://x.org/c{i + 1}"]}]) for i in range(300)
    ]
    parameters = [{"name": "url", "valueUri": "http://x.org/c0"}]
    parameters += [{"name": "tx-resource", "resource": r} for r in chain]
    response = _post(client, base, "ValueSet/$expand", parameters)
    assert response.status_code == 422
    assert response.json()["issue"][0]["code"] == "too-costly"


@pytest.mark.parametrize("levels", [10, 14])
def test_imports_fanning_out_answer_fast(client, levels) -> None:
    found = [_vs(f"http://x.org/vs{levels}", [{"system": HCPCS}])]
    for i in range(levels):
        found.append(_vs(f"http://x.org/vs{i}", [{"valueSet": [f"http://x.org/vs{i + 1}"]}] * 2))
    parameters = [
        {"name": "url", "valueUri": "http://x.org/vs0"},
        {"name": "count", "valueInteger": 3},
    ]
    parameters += [{"name": "tx-resource", "resource": r} for r in found]
    started = time.perf_counter()
    response = _post(client, "r4", "ValueSet/$expand", parameters)
    assert time.perf_counter() - started < 5  # 17 s (10 levels) and > 60 s (14) before
    assert response.status_code == 200 and response.json()["expansion"]["total"] > 7000


@pytest.mark.parametrize("pattern", [r"(\w+\s?)+", r"(.*a){25}"])
@pytest.mark.parametrize("operation", ["ValueSet/$expand", "ValueSet/$validate-code"])
def test_catastrophic_regex_in_a_small_tx_resource_answers_fast(client, pattern, operation) -> None:
    flt = {"property": "display", "op": "regex", "value": pattern}
    vs = _vs("http://x.org/regex", [{"system": HCPCS, "filter": [flt]}])
    assert len(orjson.dumps(vs)) < 300
    parameters = [
        {"name": "url", "valueUri": "http://x.org/regex"},
        {"name": "tx-resource", "resource": vs},
    ]
    if operation.endswith("validate-code"):
        parameters.append({"name": "coding", "valueCoding": {"system": HCPCS, "code": "A0021"}})
    else:
        parameters.append({"name": "count", "valueInteger": 5})
    started = time.perf_counter()
    response = _post(client, "r5", operation, parameters)
    assert time.perf_counter() - started < 3  # the worker hung until killed before
    assert response.status_code == 200


def test_a_regex_the_engine_refuses_is_a_400_naming_it(client) -> None:
    flt = {"property": "display", "op": "regex", "value": r"(a)\1"}
    vs = _vs("http://x.org/regex", [{"system": HCPCS, "filter": [flt]}])
    response = _post(client, "r4", "ValueSet/$expand", [{"name": "valueSet", "resource": vs}])
    assert response.status_code == 400
    assert r"The regex '(a)\1'" in response.json()["issue"][0]["details"]["text"]
