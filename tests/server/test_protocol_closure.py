"""ConceptMap/$closure: maintaining a client's closure table.

Spec: FHIR R5 Terminology Service "Maintaining a Closure Table" and OperationDefinition
ConceptMap-closure: IN name (1..1, "the name that defines the particular context for the
subsumption based closure table"), concept (0..*, "concepts to add to the closure table"),
version (0..1, "a request to resynchronise - request to send all new entries since the
nominated version was sent by the server"); OUT return (ConceptMap, "a list of new entries
(code / system --> code/system) that the client should add to its closure table. The only
kind of entry mapping relationships that can be returned are equivalent,
source-is-broader-than-target and source-is-narrower-than-target"). R4: equivalence
(subsumes: "the target mapping subsumes the meaning of the source concept").
"""

from __future__ import annotations

import uuid

import pytest

from tests.server.test_protocol_fixtures import BASES, BODY, get, issues, make_client, post

NARROWER = {
    "r5": ("relationship", "source-is-narrower-than-target"),
    "r4": ("equivalence", "subsumes"),
}


@pytest.fixture(scope="module")
def client():
    return make_client()


def closure(client, base: str, name: str, *codes: str, version: str | None = None) -> dict:
    parameters = [{"name": "name", "valueString": name}]
    parameters += [{"name": "concept", "valueCoding": {"system": BODY, "code": c}} for c in codes]
    if version is not None:
        parameters.append({"name": "version", "valueString": version})
    status, answer = post(client, base, "ConceptMap/$closure", parameters)
    assert status == 200, answer
    assert answer["resourceType"] == "ConceptMap"
    return answer


def pairs(concept_map: dict, base: str) -> set[tuple[str, str]]:
    """(narrower, broader) pairs of a closure answer, checking each relationship."""
    key, code = NARROWER[base]
    found = set()
    for group in concept_map.get("group", []):
        assert group["source"] == group["target"] == BODY
        for element in group["element"]:
            for target in element["target"]:
                assert target[key] == code
                found.add((element["code"], target["code"]))
    return found


@pytest.fixture
def name() -> str:
    return f"test-{uuid.uuid4()}"


@BASES
def test_closure_table_grows_with_the_new_relationships(client, base, name) -> None:
    """Initialise (name only: an empty map), then each call returns only the relationships the
    new concepts bring, narrower concept as the source."""
    started = closure(client, base, name)
    assert "group" not in started and started["version"] == "0"
    first = closure(client, base, name, "hand")
    assert pairs(first, base) == set()
    second = closure(client, base, name, "limb", "body")
    assert pairs(second, base) == {("hand", "limb"), ("hand", "body"), ("limb", "body")}
    third = closure(client, base, name, "arm", "head")
    assert pairs(third, base) == {
        ("arm", "limb"),
        ("arm", "body"),
        ("hand", "arm"),
        ("head", "body"),
    }
    again = closure(client, base, name, "arm")
    assert pairs(again, base) == set()  # already in the table: nothing new


@BASES
def test_closure_resynchronises_from_a_version(client, base, name) -> None:
    """`version`: every entry added after the version the client last saw."""
    closure(client, base, name)
    first = closure(client, base, name, "hand", "arm")
    second = closure(client, base, name, "limb")
    assert int(second["version"]) > int(first["version"])
    since_first = closure(client, base, name, version=first["version"])
    assert pairs(since_first, base) == pairs(second, base) == {("hand", "limb"), ("arm", "limb")}
    everything = closure(client, base, name, version="0")
    assert pairs(everything, base) == {("hand", "arm"), ("hand", "limb"), ("arm", "limb")}


@BASES
def test_closure_errors(client, base, name) -> None:
    """Concepts for a table never initialised: 404 (typed not-found); no name: 400."""
    status, outcome = post(
        client,
        base,
        "ConceptMap/$closure",
        [
            {"name": "name", "valueString": name},
            {"name": "concept", "valueCoding": {"system": BODY, "code": "arm"}},
        ],
    )
    assert status == 404
    assert issues(outcome)[0]["details"]["coding"][0]["code"] == "not-found"
    status, outcome = get(client, base, "ConceptMap/$closure", version="1")
    assert status == 400
    closure(client, base, name)
    status, outcome = post(
        client,
        base,
        "ConceptMap/$closure",
        [
            {"name": "name", "valueString": name},
            {"name": "concept", "valueCoding": {"system": BODY, "code": "wing"}},
        ],
    )
    assert status == 404
