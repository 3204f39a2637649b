"""ConceptMap/$translate as FHIR R5 defines it and as R4 clients send it.

Spec: R5 "ConceptMap/$translate" (conceptmap-operation-translate: "the list of matches may
include notes of codes for which mapping is specifically excluded (i.e. 'not-related-to')",
originMap "the canonical reference to the concept map from which this mapping comes from");
R5 ConceptMap.group.unmapped (mode use-source-code | fixed | other-map, "what to do when
there is no mapping to a target concept from the source concept"); R4 "ConceptMap/$translate"
(match.equivalence, match.source "the canonical reference to the concept map from which this
mapping comes from", `reverse` "reverses the meaning of the source and target parameters").
"""

from __future__ import annotations

import pytest

from tests.server.test_protocol_fixtures import (
    BASES,
    BODY,
    COPY,
    FALLBACK,
    MAP,
    REGION,
    get,
    issues,
    make_client,
    named,
    parts,
    post,
    tx_type,
    value,
)


@pytest.fixture(scope="module")
def client():
    return make_client()


def translate(client, base: str, code: str, **extra: str) -> dict:
    """Forward translation of a body code, in the version's own parameter names."""
    if base == "r4":
        query = {"system": BODY, "code": code, **extra}
    else:
        query = {"system": BODY, "sourceCode": code, **extra}
    status, answer = get(client, base, "ConceptMap/$translate", **query)
    assert status == 200
    return answer


@BASES
def test_match_carries_target_relationship_origin_and_comment(client, base) -> None:
    """R5 $translate OUT match: concept, relationship, originMap; the mapping's comment
    (ConceptMap.group.element.target.comment) comes back with it. R4 answers in R4's parts:
    equivalence, and source = the map (uri)."""
    answer = translate(client, base, "arm", url=MAP)
    assert value(answer, "result") is True
    (match,) = named(answer, "match")
    found = parts(match)
    assert found["concept"] == [{"system": REGION, "code": "upper"}]
    assert found["originMap"] == [f"{MAP}|1"]
    assert found["comment"] == ["arms are upper"]
    if base == "r4":
        assert found["equivalence"] == ["equivalent"] and "relationship" not in found
        assert found["source"] == [f"{MAP}|1"]
    else:
        assert found["relationship"] == ["equivalent"] and "equivalence" not in found
        assert "source" not in found  # the one concept asked for: not repeated


@BASES
def test_a_codeable_concept_names_the_concept_each_match_translates(client, base) -> None:
    """Several source concepts: each match carries the concept it translates from."""
    concept = {"coding": [{"system": BODY, "code": "arm"}, {"system": BODY, "code": "leg"}]}
    name = "codeableConcept" if base == "r4" else "sourceCodeableConcept"
    status, answer = post(
        client,
        base,
        "ConceptMap/$translate",
        [{"name": name, "valueCodeableConcept": concept}, {"name": "url", "valueUri": MAP}],
    )
    assert status == 200
    origin = "sourceConcept" if base == "r4" else "source"
    by_target = {
        parts(m)["concept"][0]["code"]: parts(m)[origin][0]["code"] for m in named(answer, "match")
    }
    assert by_target == {"upper": "arm", "lower": "leg"}


@BASES
def test_not_related_to_alone_is_not_a_translation(client, base) -> None:
    """ "implementers have to check the target.relationship for each match": a match whose
    relationship is not-related-to is reported, and result is false."""
    answer = translate(client, base, "hand", url=MAP)
    assert value(answer, "result") is False
    (match,) = named(answer, "match")
    relation = parts(match)["equivalence" if base == "r4" else "relationship"]
    assert relation == (["disjoint"] if base == "r4" else ["not-related-to"])


@BASES
def test_no_map_is_a_match_that_says_so(client, base) -> None:
    """ConceptMap.group.element.noMap: "no mapping to a target concept exists for this
    concept": reported as a match (noMap) with its map, result false."""
    answer = translate(client, base, "head", url=MAP)
    assert value(answer, "result") is False
    (match,) = named(answer, "match")
    assert parts(match)["noMap"] == [True]
    assert parts(match)["originMap"] == [f"{MAP}|1"]


@BASES
def test_unmapped_other_map_is_followed_and_reported(client, base) -> None:
    """group.unmapped mode other-map: "use the map identified by otherMap"; the map the
    match comes from is its originMap and the map followed is reported (used-conceptmap)."""
    answer = translate(client, base, "limb", url=MAP)
    assert value(answer, "result") is True
    (match,) = named(answer, "match")
    assert parts(match)["concept"] == [{"system": REGION, "code": "other"}]
    assert parts(match)["originMap"] == [f"{FALLBACK}|2"]
    assert value(answer, "used-conceptmap") == f"{FALLBACK}|2"


@BASES
def test_unmapped_fixed_gives_the_fixed_code(client, base) -> None:
    """group.unmapped mode fixed: "use the code (and display) specified" (here reached
    through the other map, whose group has no element for the code)."""
    answer = translate(client, base, "body", url=MAP)
    (match,) = named(answer, "match")
    assert parts(match)["concept"] == [{"system": REGION, "code": "unknown"}]
    relation = parts(match)["equivalence" if base == "r4" else "relationship"]
    assert relation == (["relatedto"] if base == "r4" else ["related-to"])


@BASES
def test_unmapped_use_source_code(client, base) -> None:
    """group.unmapped mode use-source-code (R4: provided): "use the code as provided in the
    $translate request" in the target system."""
    answer = translate(client, base, "leg", targetsystem=COPY) if base == "r4" else None
    answer = answer or translate(client, base, "leg", targetSystem=COPY)
    (match,) = named(answer, "match")
    assert parts(match)["concept"] == [{"system": COPY, "code": "leg"}]
    assert value(answer, "result") is True


def test_reverse_is_an_error_in_r5(client) -> None:
    """R5 has no `reverse` (the target concept is named with targetCode / targetCoding /
    targetCodeableConcept): a 4xx OperationOutcome typed not-supported."""
    status, outcome = get(
        client, "r5", "ConceptMap/$translate", system=BODY, sourceCode="arm", reverse="true"
    )
    assert status == 400
    (found,) = issues(outcome)
    assert (found["code"], tx_type(found)) == ("not-supported", "not-supported")
    assert "reverse" in found["details"]["text"]


@BASES
def test_reverse_translation_names_the_source_concepts(client, base) -> None:
    """R5 targetCode + targetSystem (sourceSystem: the answers' system, as the tx-ecosystem
    translate-reverse request sends it) / R4 reverse=true with code + system (the target code
    and its system) and targetsystem (the system the answers are sought in): the sources
    mapped to the code, each match naming its source concept."""
    if base == "r4":
        query = {"code": "upper", "system": REGION, "targetsystem": BODY, "reverse": "true"}
    else:
        query = {"targetCode": "upper", "targetSystem": REGION, "sourceSystem": BODY}
    status, answer = get(client, base, "ConceptMap/$translate", url=MAP, **query)
    assert status == 200
    origin = "sourceConcept" if base == "r4" else "source"
    sources = {parts(m)[origin][0]["code"] for m in named(answer, "match")}
    assert sources == {"arm", "hand"}
    assert value(answer, "result") is True  # arm is equivalent; hand's not-related-to is not
