"""$validate-code on incomplete or mixed input, in R5 and R4.

Spec: R5 "ValueSet/$validate-code" and "CodeSystem/$validate-code" (a code, a Coding or a
CodeableConcept; "inferSystem: if true, the terminology server is required to infer the
system from evaluation of the value set definition. The inferSystem parameter is only to be
used with the code parameter"; for a CodeableConcept "the operation returns true if any of
the codings are valid"; result / message / issues); the tx-ecosystem parameter
`lenient-display-validation` ("if true, an invalid display is a warning, not an error").
"""

from __future__ import annotations

import pytest

from tests.server.test_protocol_fixtures import (
    BASES,
    BODY,
    SIDED_VS,
    get,
    issues,
    make_client,
    post,
    tx_type,
    value,
)

SIDED = SIDED_VS["url"]
UNKNOWN = "http://example.org/fhir/CodeSystem/nobody-knows"


@pytest.fixture(scope="module")
def client():
    return make_client()


def validate_coding(client, base: str, coding: dict, rtype: str = "ValueSet", **more) -> dict:
    parameters = [{"name": "coding", "valueCoding": coding}]
    if rtype == "ValueSet":
        parameters.append({"name": "url", "valueUri": SIDED})
    parameters += [{"name": k.replace("_", "-"), "valueBoolean": v} for k, v in more.items()]
    status, answer = post(client, base, f"{rtype}/$validate-code", parameters)
    assert status == 200
    return answer


@BASES
def test_a_coding_with_a_system_and_no_code(client, base) -> None:
    """A Coding with a system and no code has nothing to validate: result false, one issue
    that says so, and no `code` in the answer (never an empty valueCode, which is not FHIR)."""
    for rtype in ("ValueSet", "CodeSystem"):
        answer = validate_coding(client, base, {"system": BODY}, rtype)
        assert value(answer, "result") is False
        assert value(answer, "code") is None
        (found,) = issues(answer)
        assert (found["severity"], found["code"], tx_type(found)) == (
            "error",
            "invalid",
            "invalid-data",
        )
        assert "no code" in found["details"]["text"] and "Unknown code" not in str(answer)


@BASES
def test_a_coding_with_only_a_display(client, base) -> None:
    """A Coding with neither system nor code: the same, with the issue naming both."""
    answer = validate_coding(client, base, {"display": "Arm"})
    assert value(answer, "result") is False and value(answer, "code") is None
    (found,) = issues(answer)
    assert "neither a system nor a code" in found["details"]["text"]
    assert found["expression"] == ["Coding"]


@BASES
def test_a_bare_code_without_system_or_url_on_a_code_system_is_a_4xx(client, base) -> None:
    """CodeSystem/$validate-code with a code and no system, url or instance: no code system
    to validate against, so no validation is possible: 400, typed invalid-data."""
    status, outcome = get(client, base, "CodeSystem/$validate-code", code="arm")
    assert status == 400
    (found,) = issues(outcome)
    assert (found["code"], tx_type(found)) == ("invalid", "invalid-data")


@BASES
def test_infer_system_applies_to_a_bare_code_only(client, base) -> None:
    """ "The inferSystem parameter is only to be used with the code parameter": a bare code
    is looked up in the value set's systems; a Coding without system is not."""
    status, inferred = get(
        client, base, "ValueSet/$validate-code", url=SIDED, code="arm", inferSystem="true"
    )
    assert status == 200 and value(inferred, "result") is True
    assert value(inferred, "system") == BODY
    coding = validate_coding(client, base, {"code": "arm"}, inferSystem=True)
    assert value(coding, "result") is False
    texts = [i["details"]["text"] for i in issues(coding)]
    assert any("Coding has no system" in t for t in texts)


@BASES
def test_a_codeable_concept_with_an_unknown_system_and_a_valid_coding(client, base) -> None:
    """A CodeableConcept is valid when one of its codings is: the coding of an unknown code
    system was not checked, which a warning says, and the answer is true."""
    concept = {"coding": [{"system": UNKNOWN, "code": "x"}, {"system": BODY, "code": "arm"}]}
    for rtype in ("ValueSet", "CodeSystem"):
        parameters = [{"name": "codeableConcept", "valueCodeableConcept": concept}]
        if rtype == "ValueSet":
            parameters.append({"name": "url", "valueUri": SIDED})
        status, answer = post(client, base, f"{rtype}/$validate-code", parameters)
        assert status == 200
        assert value(answer, "result") is True, rtype
        assert value(answer, "code") == "arm"
        unknown = [i for i in issues(answer) if UNKNOWN in i["details"]["text"]]
        assert unknown and all(i["severity"] in ("warning", "information") for i in unknown)
        assert any(i["severity"] == "warning" for i in unknown)
        assert value(answer, "x-caused-by-unknown-system") is None


@BASES
def test_lenient_display_validation_false_makes_a_retired_display_an_error(client, base) -> None:
    """lenient-display-validation=false: a wrong display is an error in every case, a display
    no longer correct (a designation marked withdrawn / deprecated) included, and the
    message gives that designation's own status. Without the parameter it is a warning."""
    for text, status in (("Upper limb (old)", "withdrawn"), ("Brachium", "deprecated")):
        coding = {"system": BODY, "code": "arm", "display": text}
        strict = validate_coding(
            client, base, coding, "CodeSystem", lenient_display_validation=False
        )
        assert value(strict, "result") is False
        (found,) = issues(strict)
        assert found["severity"] == "error" and tx_type(found) == "display-comment"
        assert f"(status = {status})" in found["details"]["text"]
        assert value(strict, "message") == found["details"]["text"]
        default = validate_coding(client, base, coding, "CodeSystem")
        assert value(default, "result") is True
        assert [i["severity"] for i in issues(default)] == ["warning"]


@BASES
def test_lenient_display_validation_true_makes_a_wrong_display_a_warning(client, base) -> None:
    coding = {"system": BODY, "code": "arm", "display": "Elbow"}
    lenient = validate_coding(client, base, coding, "CodeSystem", lenient_display_validation=True)
    assert value(lenient, "result") is True
    assert [i["severity"] for i in issues(lenient)] == ["warning"]
    strict = validate_coding(client, base, coding, "CodeSystem", lenient_display_validation=False)
    assert value(strict, "result") is False
