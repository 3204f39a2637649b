"""Resolution through the Engine: unknown resources and code systems are reported alike by
every operation (terminology/resolver.py), per-concept memos stay bounded and per request
(terminology/caches.py), and $changes reads any code system's retirement property."""

from __future__ import annotations

import pytest

from terminology import caches
from terminology.engine import Engine, OperationRequest
from terminology.outcome import TerminologyError
from tests.engine.conftest import HCPCS, SIMPLE, fail, get, issues, params, run

NOWHERE = "http://example.org/no-such-system"
RETIREMENT_DATE = "http://hl7.org/fhir/concept-properties#retirementDate"


def _text(error: TerminologyError) -> str:
    return error.outcome["issue"][0]["details"]["text"]


@pytest.mark.parametrize(
    ("operation", "rtype", "instance"),
    [
        ("lookup", "CodeSystem", "nope"),
        ("validate-code", "CodeSystem", "nope"),
        ("subsumes", "CodeSystem", "nope"),
        ("changes", "CodeSystem", "nope"),
        ("expand", "ValueSet", "nope"),
        ("validate-code", "ValueSet", "nope"),
        ("translate", "ConceptMap", "nope"),
    ],
)
def test_an_unknown_instance_is_a_404_naming_it(simple_engine, operation, rtype, instance):
    request = params(code="code1", codeA="code1", codeB="code2", system=SIMPLE, sourceCode="c")
    with pytest.raises(TerminologyError) as caught:
        simple_engine.run(OperationRequest(operation, rtype, request, instance))
    assert caught.value.status == 404
    assert _text(caught.value) == f"{rtype}/nope not found"


def test_an_unknown_code_system_is_worded_for_what_the_operation_was_doing(simple_engine):
    looked_up = fail(simple_engine, "lookup", "CodeSystem", system=NOWHERE, code__Code="a")
    subsumed = fail(
        simple_engine, "subsumes", "CodeSystem", system=NOWHERE, codeA__Code="a", codeB__Code="b"
    )
    expanded = fail(
        simple_engine,
        "expand",
        "ValueSet",
        valueSet__resource={
            "resourceType": "ValueSet",
            "status": "active",
            "compose": {"include": [{"system": NOWHERE}]},
        },
    )
    changed = fail(
        simple_engine, "changes", "CodeSystem", system=NOWHERE, fromVersion="1", toVersion="2"
    )
    assert {e.status for e in (looked_up, subsumed, expanded, changed)} == {404}
    validate = f"A definition for CodeSystem '{NOWHERE}' could not be found, so the code cannot"
    assert _text(looked_up) == _text(subsumed) == validate + " be validated"
    assert _text(expanded) == (
        f"A definition for CodeSystem '{NOWHERE}' could not be found, so the value set cannot "
        "be expanded"
    )
    assert _text(changed) == (
        f"A definition for CodeSystem '{NOWHERE}' could not be found, so its changes cannot be "
        "listed"
    )


def test_an_unknown_version_lists_the_versions_held(hcpcs):
    looked_up = fail(hcpcs, "lookup", "CodeSystem", system=HCPCS, version="1999", code__Code="A")
    assert _text(looked_up) == (
        f"A definition for CodeSystem '{HCPCS}' version '1999' could not be found, so the code "
        "cannot be validated. Valid versions: 2020-01"
    )
    coding = {"system": HCPCS, "version": "1999", "code": "A9590"}
    result = run(hcpcs, "validate-code", "CodeSystem", coding=coding)
    assert get(result, "result") is False
    assert [i["details"]["text"] for i in issues(result)] == [_text(looked_up)]


def test_per_concept_memos_are_bounded_and_not_shared_by_request_resources(hcpcs):
    for code in ("A0021", "A4206", "E0100"):
        run(hcpcs, "lookup", "CodeSystem", system=HCPCS, code__Code=code)
    held = caches.report()["concept-pieces"]
    assert 0 < held["bytes"] <= held["budget_bytes"] and held["entries"] >= 3
    brought = {
        "resourceType": "CodeSystem",
        "url": "http://example.org/brought",
        "status": "active",
        "content": "complete",
        "concept": [{"code": "x", "display": "X"}],
    }
    run(
        hcpcs,
        "lookup",
        "CodeSystem",
        system="http://example.org/brought",
        code__Code="x",
        tx_resource__resource=brought,
    )
    assert caches.report()["concept-pieces"]["entries"] == held["entries"]


def _release(version: str, ends: str | None) -> dict:
    """A small code system whose retirement property has its own code ("ends")."""
    declared = [
        {"code": "ends", "uri": RETIREMENT_DATE, "type": "dateTime"},
        {"code": "state", "uri": "http://hl7.org/fhir/concept-properties#status", "type": "code"},
    ]
    ending = [{"code": "ends", "valueDateTime": ends}] if ends else []
    return {
        "resourceType": "CodeSystem",
        "url": "http://example.org/dated",
        "version": version,
        "status": "active",
        "content": "complete",
        "property": declared,
        "concept": [
            {"code": "a", "display": "A", "property": ending},
            {"code": "b", "display": "B"},
        ],
    }


def test_changes_finds_terminations_by_the_standard_retirement_property():
    engine = Engine([_release("1", None), _release("2", "2020-06-30")])
    request = params(system="http://example.org/dated", fromVersion="1", toVersion="2")
    result = engine.run(OperationRequest("changes", "CodeSystem", request))
    assert get(result, "terminated") == 1 and get(result, "property-changed") == 1
    change = get(result, "change")
    assert [p["valueCode"] for p in change["part"] if p["name"] == "kind"] == [
        "terminated",
        "property-changed",
    ]
