"""R5-only content sent to and served from the R4 endpoint through the cross-version
extensions.

Spec: FHIR R5 "Cross-Version Extensions" (an element R4 lacks is carried in R4 by the
extension http://hl7.org/fhir/5.0/StructureDefinition/extension-{Path}; on a primitive, in
its `_element` sibling); R5 FilterOperator adds `child-of` ("only concepts with a direct
hierarchical relationship to the value") and `descendent-leaf` ("only concepts ... that are
descendants of the value and have no children") to R4's operators.
"""

from __future__ import annotations

import pytest

from terminology.versions import to_r4, to_r5
from tests.server.conftest import parse
from tests.server.test_protocol_fixtures import BODY, make_client, post

OP_EXT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.compose.include.filter.op"
EXCLUDE_OP_EXT = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.compose.exclude.filter.op"
)


@pytest.fixture(scope="module")
def client():
    return make_client()


def value_set(op: str, value: str) -> dict:
    return {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {
            "include": [
                {"system": BODY, "filter": [{"property": "concept", "op": op, "value": value}]}
            ]
        },
    }


def r4_value_set(op: str, value: str) -> dict:
    """The R4 form an R4 client sends: `op` absent, the R5 operator in `_op`'s extension."""
    return {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {
            "include": [
                {
                    "system": BODY,
                    "filter": [
                        {
                            "property": "concept",
                            "_op": {"extension": [{"url": OP_EXT, "valueCode": op}]},
                            "value": value,
                        }
                    ],
                }
            ]
        },
    }


def codes(expanded: dict) -> set[str]:
    def walk(contains: list[dict]):
        for item in contains:
            yield item["code"]
            yield from walk(item.get("contains", []))

    return set(walk(expanded["expansion"].get("contains", [])))


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [("child-of", "limb", {"arm", "leg"}), ("descendent-leaf", "limb", {"hand", "leg"})],
)
def test_r4_endpoint_honours_r5_filter_operators(client, op, value, expected) -> None:
    """An R4 ValueSet whose filter carries an R5 operator in the cross-version extension
    expands on /r4 as the R5 ValueSet does on /r5."""
    parse(r4_value_set(op, value), "r4")
    status, r4 = post(
        client,
        "r4",
        "ValueSet/$expand",
        [{"name": "valueSet", "resource": r4_value_set(op, value)}],
    )
    assert status == 200 and codes(r4) == expected
    status, r5 = post(
        client, "r5", "ValueSet/$expand", [{"name": "valueSet", "resource": value_set(op, value)}]
    )
    assert status == 200 and codes(r5) == expected


def test_r5_filter_operators_are_written_for_r4_and_read_back() -> None:
    """R5 -> R4 puts an R5-only operator in the extension (valid R4B, `op` left out); R4 -> R5
    restores it; R4's own operators are left as they are."""
    r5 = value_set("child-of", "limb")
    r5["compose"]["exclude"] = [
        {
            "system": BODY,
            "filter": [{"property": "concept", "op": "descendent-leaf", "value": "arm"}],
        }
    ]
    r4 = to_r4(r5)
    parse(r4, "r4")
    (included,) = r4["compose"]["include"][0]["filter"]
    assert "op" not in included and included["_op"]["extension"][0]["url"] == OP_EXT
    (excluded,) = r4["compose"]["exclude"][0]["filter"]
    assert excluded["_op"]["extension"] == [{"url": EXCLUDE_OP_EXT, "valueCode": "descendent-leaf"}]
    assert to_r5(r4) == r5
    plain = value_set("is-a", "limb")
    assert to_r4(plain) is plain  # nothing to convert: not even copied


def test_concept_map_r5_only_value_set_references_survive_r4() -> None:
    """R5 ConceptMap.group.element.valueSet / target.valueSet, absent from R4, go through
    their cross-version extensions and come back."""
    r5 = {
        "resourceType": "ConceptMap",
        "status": "active",
        "group": [
            {
                "source": BODY,
                "target": BODY,
                "element": [
                    {
                        "code": "arm",
                        "target": [
                            {
                                "code": "limb",
                                "relationship": "source-is-narrower-than-target",
                                "valueSet": "http://example.org/fhir/ValueSet/limbs",
                            }
                        ],
                    },
                    {"valueSet": "http://example.org/fhir/ValueSet/arms", "noMap": True},
                ],
            }
        ],
    }
    r4 = to_r4(r5)
    parse(r4, "r4")
    assert to_r5(r4) == r5
