"""Expansion properties the value set asks for, and the shape of errors.

Spec: R5 ValueSet.compose.property ("a property to return in the expansion, if the client
doesn't ask for any particular properties"), ValueSet.expansion.property and
expansion.contains.property; the terminology service's OperationOutcome conventions: every
issue typed in issue.details with the tx-issue-type code system
(http://hl7.org/fhir/tools/CodeSystem/tx-issue-type); R5 "CodeSystem/$subsumes" ("codeA ...
If a code is provided, a system must be provided").
"""

from __future__ import annotations

import pytest

from tests.server.test_protocol_fixtures import (
    BASES,
    BODY,
    REGION,
    SIDED_VS,
    get,
    issues,
    make_client,
    post,
    tx_type,
)

R5_PROPERTY = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.property"
R5_CONTAINS_PROPERTY = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.contains.property"
)


@pytest.fixture(scope="module")
def client():
    return make_client()


def _flat(contains: list[dict]) -> list[dict]:
    """Every code of a (possibly nested) expansion."""
    return [item for c in contains for item in (c, *_flat(c.get("contains", [])))]


@BASES
def test_compose_property_is_declared_and_carried(client, base) -> None:
    """ValueSet.compose.property: the expansion declares the property (expansion.property,
    code + uri) and every code carries its value, as with the `property` parameter."""
    status, expanded = get(client, base, "ValueSet/$expand", url=SIDED_VS["url"])
    assert status == 200
    expansion = expanded["expansion"]
    contains = {c["code"]: c for c in _flat(expansion["contains"])}
    assert set(contains) >= {"limb", "arm", "hand", "leg"}
    if base == "r5":
        assert expansion["property"] == [{"code": "side", "uri": "http://example.org/side"}]
        assert contains["arm"]["property"] == [{"code": "side", "valueCode": "both"}]
    else:  # R4 has neither element: the cross-version extensions carry them
        declared = [e for e in expansion["extension"] if e["url"] == R5_PROPERTY]
        assert [{x["url"]: x for x in e["extension"]}["code"]["valueCode"] for e in declared] == [
            "side"
        ]
        carried = [e for e in contains["arm"]["extension"] if e["url"] == R5_CONTAINS_PROPERTY]
        assert len(carried) == 1


@BASES
def test_request_level_errors_are_typed(client, base) -> None:
    """A bad parameter, an operation the server does not have, a count over the limit: each
    issue carries a tx-issue-type coding in issue.details."""
    status, outcome = get(client, base, "ValueSet/$expand", url=SIDED_VS["url"], count="-1")
    assert status == 400 and tx_type(issues(outcome)[0]) == "invalid-data"
    status, outcome = get(client, base, "ValueSet/$expand", url=SIDED_VS["url"], count="999999")
    assert status == 400 and tx_type(issues(outcome)[0]) == "too-costly"
    status, outcome = get(client, base, "ValueSet/$frobnicate", url=SIDED_VS["url"])
    assert status == 400 and tx_type(issues(outcome)[0]) == "not-supported"
    status, outcome = post(client, base, "ConceptMap/$translate", [])
    assert status == 400 and tx_type(issues(outcome)[0]) == "invalid-data"


@BASES
def test_subsumes_missing_system_is_invalid(client, base) -> None:
    """$subsumes codeA/codeB with no system: the request cannot be processed as given:
    400, issue code `invalid` (tx-issue-type invalid-data), at codeA."""
    status, outcome = get(client, base, "CodeSystem/$subsumes", codeA="arm", codeB="limb")
    assert status == 400
    (found,) = issues(outcome)
    assert (found["code"], tx_type(found), found["expression"]) == (
        "invalid",
        "invalid-data",
        ["codeA"],
    )


@BASES
def test_subsumes_unknown_code_is_code_invalid(client, base) -> None:
    """A code the code system does not hold: 404, `code-invalid` / invalid-code, naming the
    parameter; the relation of two known codes is answered."""
    status, outcome = get(
        client, base, "CodeSystem/$subsumes", system=BODY, codeA="arm", codeB="wing"
    )
    assert status == 404
    (found,) = issues(outcome)
    assert (found["code"], tx_type(found), found["expression"]) == (
        "code-invalid",
        "invalid-code",
        ["codeB"],
    )
    status, answer = get(
        client, base, "CodeSystem/$subsumes", system=BODY, codeA="limb", codeB="hand"
    )
    assert status == 200 and answer["parameter"] == [{"name": "outcome", "valueCode": "subsumes"}]


@BASES
def test_subsumes_codings_of_two_systems_are_invalid(client, base) -> None:
    status, outcome = post(
        client,
        base,
        "CodeSystem/$subsumes",
        [
            {"name": "codingA", "valueCoding": {"system": BODY, "code": "arm"}},
            {"name": "codingB", "valueCoding": {"system": REGION, "code": "upper"}},
        ],
    )
    assert status == 400
    (found,) = issues(outcome)
    assert (found["code"], tx_type(found), found["expression"]) == (
        "invalid",
        "invalid-data",
        ["codingB"],
    )
