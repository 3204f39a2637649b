"""Malformed requests are 4xx answers naming what is wrong, checked before any operation
runs; a well-formed request the engine mishandles is a bug that escapes (the API logs it
and answers 500), never a 422 blaming the client."""

from __future__ import annotations

import pytest

from terminology.engine import Engine, OperationRequest
from terminology.outcome import TerminologyError
from terminology.params import MAX_DEPTH, parameters_from_query
from terminology.versions import to_r5

from .conftest import HCPCS, SIMPLE, get


def _refused(engine: Engine, operation: str, rtype: str, body: object) -> TerminologyError:
    with pytest.raises(TerminologyError) as caught:
        engine.run(OperationRequest(operation, rtype, body))  # type: ignore[arg-type]
    return caught.value


def _body(*parameters: object) -> dict:
    return {"resourceType": "Parameters", "parameter": list(parameters)}


def _nested(depth: int) -> dict:
    part: dict = {"name": "leaf", "valueString": "x"}
    for _ in range(depth):
        part = {"name": "x", "part": [part]}
    return part


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"resourceType": "Parameters", "parameter": None}, "parameter is null"),
        ({"resourceType": "Parameters", "parameter": {"name": "x"}}, "parameter is an object"),
        (_body(1), "a parameter is a number"),
        (_body({"valueCode": "x"}), "a parameter's name is missing"),
        ({"resourceType": {}, "parameter": []}, "must be a Parameters resource, not an object"),
        ([1, 2], "must be a Parameters resource"),
        (_body(_nested(200)), f"more than {MAX_DEPTH} levels deep"),
        (_body({"name": "count", "valueInteger": 2**64}), "is not a FHIR integer"),
        (_body({"name": "code", "valueCode": 5}), "Invalid value for parameter 'code'"),
        (
            _body({"name": "coding", "valueCoding": {"system": ["x"], "code": "a"}}),
            "Coding.system is an array, where a string is expected",
        ),
        (
            _body({"name": "coding", "valueCoding": "http://x|a"}),
            "Invalid value for parameter 'coding'",
        ),
    ],
)
def test_malformed_parameters_are_400s(simple_engine, body, text) -> None:
    error = _refused(simple_engine, "lookup", "CodeSystem", body)
    assert error.status == 400
    assert text in error.text
    assert error.outcome["issue"][0]["details"]["coding"][0]["code"] == "invalid-data"


@pytest.mark.parametrize(
    ("resource", "where"),
    [
        ({"resourceType": {}}, "resource.resourceType is an object"),
        ({"resourceType": "ValueSet", "compose": "x"}, "ValueSet.compose is a string"),
        (
            {"resourceType": "ValueSet", "compose": {"include": [{"system": {"a": 1}}]}},
            "ValueSet.compose.include[0].system is an object",
        ),
        (
            {"resourceType": "ValueSet", "compose": {"include": [{"filter": [{"op": 1}]}]}},
            "ValueSet.compose.include[0].filter[0].op is a number",
        ),
        (
            {"resourceType": "CodeSystem", "url": "http://x", "concept": [{"display": "no code"}]},
            "CodeSystem.concept[0].code is missing",
        ),
        (
            {"resourceType": "CodeSystem", "concept": [{"code": "a", "designation": "x"}]},
            "CodeSystem.concept[0].designation is a string, where an array is expected",
        ),
        (
            {"resourceType": "ConceptMap", "group": [{"element": [{"target": [{"code": 1}]}]}]},
            "ConceptMap.group[0].element[0].target[0].code is a number",
        ),
        (
            {"resourceType": "ValueSet", "url": 7, "compose": {"include": []}},
            "ValueSet.url is a number",
        ),
    ],
)
def test_malformed_resources_are_422s_naming_the_element(simple_engine, resource, where) -> None:
    body = _body(
        {"name": "url", "valueUri": SIMPLE},
        {"name": "code", "valueCode": "code1"},
        {"name": "tx-resource", "resource": resource},
    )
    error = _refused(simple_engine, "validate-code", "CodeSystem", body)
    assert error.status == 422
    assert where in error.text
    assert error.outcome["issue"][0]["expression"] == ["tx-resource"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("count", "²"),
        ("count", "١"),
        ("count", "1_0"),
        ("count", " 5"),
        ("offset", "18446744073709551616"),
        ("offset", "2147483648"),
    ],
)
def test_integers_are_fhir_integers(name, text) -> None:
    with pytest.raises(TerminologyError) as caught:
        parameters_from_query("expand", [(name, text)])
    assert caught.value.status == 400
    assert f"'{name}': '{text[:100]}' is not a FHIR integer" in caught.value.text


def test_integers_in_range_are_read() -> None:
    found = parameters_from_query("expand", [("count", "+5"), ("offset", "2147483647")])
    assert [p["valueInteger"] for p in found["parameter"]] == [5, 2147483647]


@pytest.mark.parametrize(
    "body",
    [
        {"resourceType": "Parameters", "parameter": None},
        {"resourceType": "Parameters", "parameter": [1]},
        _body({"name": "tx-resource", "resource": {"resourceType": {}}}),
        _body({"name": "conceptMap", "resource": {"resourceType": "ConceptMap", "group": "x"}}),
        _body(
            {
                "name": "conceptMap",
                "resource": {
                    "resourceType": "ConceptMap",
                    "group": [{"element": [{"target": [{"equivalence": {"x": 1}}]}]}],
                },
            }
        ),
        _body(_nested(300)),
    ],
)
def test_the_r4_conversion_checks_the_request_first(body) -> None:
    with pytest.raises(TerminologyError) as caught:
        to_r5(body, "translate", in_place=True)
    assert 400 <= caught.value.status < 500


def test_a_valid_concept_map_without_element_codes_translates(simple_engine) -> None:
    """R5 ConceptMap.group.element.code is optional (an element may say noMap, or map a value
    set): a reverse $translate used to fail on it with a 422 blaming the request."""
    cm = {
        "resourceType": "ConceptMap",
        "url": "http://x.org/cm",
        "status": "active",
        "group": [
            {
                "source": "http://x.org/s",
                "target": "http://x.org/t",
                "element": [
                    {"noMap": True, "target": [{"code": "y", "relationship": "equivalent"}]},
                    {"code": "a", "target": [{"code": "y", "relationship": "equivalent"}]},
                ],
            }
        ],
    }
    body = _body(
        {"name": "conceptMap", "resource": cm},
        {"name": "targetCode", "valueCode": "y"},
        {"name": "system", "valueUri": "http://x.org/t"},
    )
    result = simple_engine.run(OperationRequest("translate", "ConceptMap", body))
    assert get(result, "result") is True
    match = next(p for p in result["parameter"] if p["name"] == "match")
    source = next(p for p in match["part"] if p["name"] == "source")
    assert source["valueCoding"] == {"system": "http://x.org/s", "code": "a"}


def test_an_internal_error_escapes_as_itself(simple_engine, monkeypatch) -> None:
    """Fault injection: a bug inside an operation is not turned into a client error."""
    from terminology.operations import lookup

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(lookup, "_parameters", broken)
    body = _body({"name": "system", "valueUri": SIMPLE}, {"name": "code", "valueCode": "code1"})
    with pytest.raises(KeyError):
        simple_engine.run(OperationRequest("lookup", "CodeSystem", body))


def test_a_deep_hierarchy_is_expanded_flat(simple_engine) -> None:
    """A `parent` property can draw a hierarchy thousands of levels deep in a flat resource:
    nested contains that deep could not be written, so the expansion is flat."""
    concepts = [{"code": "c0"}] + [
        {"code": f"c{i}", "property": [{"code": "parent", "valueCode": f"c{i - 1}"}]}
        for i in range(1, 2000)
    ]
    cs = {
        "resourceType": "CodeSystem",
        "url": "http://x.org/deep",
        "status": "active",
        "content": "complete",
        "property": [{"code": "parent", "type": "code"}],
        "concept": concepts,
    }
    vs = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {"include": [{"system": cs["url"]}]},
    }
    body = _body({"name": "valueSet", "resource": vs}, {"name": "tx-resource", "resource": cs})
    result = simple_engine.run(OperationRequest("expand", "ValueSet", body))
    contains = result["expansion"]["contains"]
    assert len(contains) == 2000 and not any("contains" in c for c in contains)


def test_hcpcs_lookup_unchanged(hcpcs) -> None:
    body = _body({"name": "system", "valueUri": HCPCS}, {"name": "code", "valueCode": "A0021"})
    assert get(hcpcs.run(OperationRequest("lookup", "CodeSystem", body)), "code") == "A0021"


@pytest.mark.parametrize("key", ["valueString", "valueCoding", "valueInteger", "resource"])
def test_a_value_nested_1000_deep_is_a_400(simple_engine, key) -> None:
    nested: object = []
    for _ in range(1000):
        nested = [nested]
    error = _refused(simple_engine, "lookup", "CodeSystem", _body({"name": "code", key: nested}))
    assert 400 <= error.status < 500
