"""$subsumes, $translate, $batch-validate-code, parameter parsing and engine-level errors."""

from __future__ import annotations

import pytest

from terminology.engine import Engine, OperationRequest
from terminology.outcome import TerminologyError
from terminology.params import parameters_from_query
from tests.engine.conftest import HCPCS, SIMPLE, fail, get, run

SOURCE = "http://hl7.org/fhir/test/CodeSystem/source"
TARGET = "http://hl7.org/fhir/test/CodeSystem/target"


def compared(a: str, b: str, system: str | None = SIMPLE) -> dict[str, str]:
    """The $subsumes arguments for codes a and b (in system, none if None): what the subsumes
    tests vary, for run and fail alike."""
    in_system = {"system__Uri": system} if system else {}
    return in_system | {"codeA__Code": a, "codeB__Code": b}


def translate_source(engine: Engine, code: str, **values) -> dict:
    """$translate of a code of the source CodeSystem, the request the translate tests share."""
    return run(
        engine, "translate", "ConceptMap", sourceSystem__Uri=SOURCE, sourceCode__Code=code, **values
    )


@pytest.mark.parametrize(
    ("a", "b", "outcome"),
    [
        ("code2", "code2aI", "subsumes"),
        ("code2aI", "code2", "subsumed-by"),
        ("code1", "code1", "equivalent"),
        ("code1", "code3", "not-subsumed"),
    ],
)
def test_subsumes(simple_engine, a, b, outcome) -> None:
    result = run(simple_engine, "subsumes", "CodeSystem", **compared(a, b))
    assert get(result, "outcome") == outcome


def test_subsumes_by_codings_and_errors(simple_engine) -> None:
    coding_a, coding_b = ({"system": SIMPLE, "code": c} for c in ("code2a", "code2aII"))
    result = run(simple_engine, "subsumes", "CodeSystem", codingA=coding_a, codingB=coding_b)
    assert get(result, "outcome") == "subsumes"
    unknown = fail(simple_engine, "subsumes", "CodeSystem", **compared("x", "code1"))
    assert unknown.status == 404
    no_system = fail(simple_engine, "subsumes", "CodeSystem", **compared("code1", "code1", None))
    assert no_system.status == 400


def test_translate_forward_and_reverse(simple_engine) -> None:
    forward = translate_source(simple_engine, "code-1", targetSystem__Uri=TARGET)
    assert get(forward, "result") is True
    match = {p["name"]: p for p in forward["parameter"][1]["part"]}
    assert match["concept"]["valueCoding"] == {"system": TARGET, "code": "code1"}
    assert match["relationship"]["valueCode"] == "equivalent"
    reverse = run(
        simple_engine, "translate", "ConceptMap", targetCode__Code="code1", targetSystem__Uri=TARGET
    )
    source = {p["name"]: p for p in reverse["parameter"][1]["part"]}["source"]
    assert source["valueCoding"] == {"system": SOURCE, "code": "code-1"}
    none = translate_source(simple_engine, "nothing")
    assert get(none, "result") is False and get(none, "message")


def test_batch_validate(simple_engine) -> None:
    validations = [
        {
            "name": "validation",
            "resource": {
                "resourceType": "Parameters",
                "parameter": [{"name": "coding", "valueCoding": {"system": SIMPLE, "code": code}}],
            },
        }
        for code in ("code1", "zzz")
    ]
    request = {
        "resourceType": "Parameters",
        "parameter": [{"name": "url", "valueUri": "http://hl7.org/fhir/test/ValueSet/simple-all"}]
        + validations,
    }
    result = simple_engine.run(OperationRequest("batch-validate-code", "ValueSet", request))
    answers = [p["resource"] for p in result["parameter"]]
    assert [get(a, "result") for a in answers] == [True, False]


def test_parameters_from_query_types_values() -> None:
    found = parameters_from_query(
        "expand",
        [
            ("url", "http://x"),
            ("count", "10"),
            ("activeOnly", "true"),
            ("filter", "skin"),
            ("_format", "json"),
        ],
    )
    assert found["parameter"] == [
        {"name": "url", "valueUri": "http://x"},
        {"name": "count", "valueInteger": 10},
        {"name": "activeOnly", "valueBoolean": True},
        {"name": "filter", "valueString": "skin"},
        {"name": "_format", "valueString": "json"},
    ]
    lookup = parameters_from_query(
        "lookup", [("system", HCPCS), ("code", "A0021"), ("coding", f"{HCPCS}|A0021")]
    )
    assert lookup["parameter"][1] == {"name": "code", "valueCode": "A0021"}
    assert lookup["parameter"][2]["valueCoding"] == {"system": HCPCS, "code": "A0021"}
    with pytest.raises(TerminologyError) as caught:
        parameters_from_query("expand", [("count", "lots")])
    assert caught.value.status == 400 and "count" in caught.value.text


def test_body_that_is_not_parameters(simple_engine) -> None:
    with pytest.raises(TerminologyError) as caught:
        simple_engine.run(OperationRequest("expand", "ValueSet", {"resourceType": "Patient"}))
    assert caught.value.status == 400 and "Patient" in caught.value.text


def test_unknown_operation_and_instance(simple_engine) -> None:
    with pytest.raises(TerminologyError):
        simple_engine.run(OperationRequest("closure", "ValueSet", {"resourceType": "Parameters"}))
    with pytest.raises(TerminologyError) as caught:
        simple_engine.run(
            OperationRequest("expand", "ValueSet", {"resourceType": "Parameters"}, "nope")
        )
    assert caught.value.status == 404


def test_tx_resources_are_per_request(simple_engine) -> None:
    extra = {
        "resourceType": "CodeSystem",
        "url": "http://x.org/extra",
        "content": "complete",
        "concept": [{"code": "a", "display": "A"}],
    }
    request = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": "http://x.org/extra"},
            {"name": "code", "valueCode": "a"},
            {"name": "tx-resource", "resource": extra},
        ],
    }
    result = simple_engine.run(OperationRequest("validate-code", "CodeSystem", request))
    assert get(result, "result") is True
    request["parameter"].pop()
    again = simple_engine.run(OperationRequest("validate-code", "CodeSystem", request))
    assert get(again, "result") is False
    assert simple_engine.resource("CodeSystem", "simple")["url"] == SIMPLE
    assert all(r.get("url") != "http://x.org/extra" for r in simple_engine.resources("CodeSystem"))


def test_malformed_content_is_refused_not_crashed(simple_engine) -> None:
    wrong_type = {"resourceType": "Parameters", "parameter": [{"name": "code", "valueCode": 5}]}
    with pytest.raises(TerminologyError) as caught:
        simple_engine.run(OperationRequest("lookup", "CodeSystem", wrong_type))
    assert caught.value.status == 400 and "code" in caught.value.text
    broken_vs = {"resourceType": "ValueSet", "compose": "not a compose"}
    request = {
        "resourceType": "Parameters",
        "parameter": [{"name": "valueSet", "resource": broken_vs}],
    }
    with pytest.raises(TerminologyError) as caught:
        simple_engine.run(OperationRequest("expand", "ValueSet", request))
    assert caught.value.status == 422
