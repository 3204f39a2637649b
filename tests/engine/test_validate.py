"""$validate-code (CodeSystem and ValueSet) over the tx-ecosystem resources and HCPCS 2020."""

from __future__ import annotations

from terminology.outcome import finding, operation_outcome
from tests.engine.conftest import (
    HCPCS,
    SIMPLE,
    fail,
    get,
    issues,
    run,
    tx_codes,
    validate_in,
    validate_in_system,
)

ALL = "http://hl7.org/fhir/test/ValueSet/simple-all"
ENUM = "http://hl7.org/fhir/test/ValueSet/simple-enumerated"
ACTIVE = "https://hcpcs-tx.org/fhir/ValueSet/hcpcs-active"


def test_valid_code_in_value_set(simple_engine) -> None:
    result = validate_in(simple_engine, ALL, code__Code="code1", system__Uri=SIMPLE)
    assert get(result, "result") is True
    assert get(result, "display") == "Display 1"
    assert get(result, "system") == SIMPLE
    assert get(result, "version") == "0.1.0"
    assert get(result, "message") is None


def test_unknown_code_reports_both_issues(simple_engine) -> None:
    result = validate_in(simple_engine, ALL, code__Code="code1x", system__Uri=SIMPLE)
    assert get(result, "result") is False
    assert sorted(tx_codes(issues(result))) == ["invalid-code", "not-in-vs"]
    assert "Unknown code 'code1x'" in get(result, "message")
    assert issues(result)[0]["expression"] == ["code"]


def test_wrong_display_is_an_error_or_a_warning_when_lenient(simple_engine) -> None:
    coding = {"system": SIMPLE, "code": "code1", "display": "Nope"}
    result = validate_in(simple_engine, ALL, coding=coding)
    assert get(result, "result") is False
    found = issues(result)[0]
    assert found["details"]["coding"][0]["code"] == "invalid-display"
    assert found["expression"] == ["Coding.display"]
    assert "Valid display is 'Display 1' (en)" in found["details"]["text"]
    lenient = validate_in(simple_engine, ALL, coding=coding, lenient_display_validation=True)
    assert get(lenient, "result") is True
    assert issues(lenient)[0]["severity"] == "warning"


def test_code_not_in_enumerated_value_set(simple_engine) -> None:
    result = validate_in(simple_engine, ENUM, code__Code="code2aI", system__Uri=SIMPLE)
    assert get(result, "result") is False
    assert tx_codes(issues(result)) == ["not-in-vs"]


def test_inactive_code_is_flagged(simple_engine) -> None:
    result = validate_in(simple_engine, ALL, code__Code="code2", system__Uri=SIMPLE)
    assert get(result, "result") is True
    assert get(result, "inactive") is True
    assert issues(result)[0]["details"]["coding"][0]["code"] == "code-comment"


def test_codeable_concept_with_one_good_coding(simple_engine) -> None:
    concept = {"coding": [{"system": SIMPLE, "code": "nope"}, {"system": SIMPLE, "code": "code3"}]}
    result = validate_in(simple_engine, ALL, codeableConcept__CodeableConcept=concept)
    assert get(result, "code") == "code3"
    assert get(result, "codeableConcept") == concept
    assert get(result, "result") is False  # an unknown code is still an error
    assert "this-code-not-in-vs" in tx_codes(issues(result))


def test_infer_system(simple_engine) -> None:
    result = validate_in(simple_engine, ALL, code__Code="code1", inferSystem=True)
    assert get(result, "result") is True and get(result, "system") == SIMPLE


def test_unknown_system(simple_engine) -> None:
    result = validate_in(simple_engine, ALL, coding={"system": "http://x.org/cs", "code": "a"})
    assert get(result, "result") is False
    assert get(result, "x-unknown-system") == "http://x.org/cs"


def test_code_system_validate(simple_engine) -> None:
    good = validate_in_system(simple_engine, SIMPLE, code__Code="code2b")
    assert get(good, "result") is True and get(good, "display") == "Display 2b"
    bad = validate_in_system(simple_engine, SIMPLE, code__Code="zz")
    assert get(bad, "result") is False
    assert get(bad, "message") == (
        f"Unknown code 'zz' in the CodeSystem '{SIMPLE}' version '0.1.0'"
    )


def test_hcpcs_active_value_set(hcpcs) -> None:
    display = "Skin substitute, not otherwise specified"
    good = validate_in(hcpcs, ACTIVE, system__Uri=HCPCS, code__Code="Q4100", display=display)
    assert get(good, "result") is True and get(good, "version") == "2020-01"
    retired = validate_in(hcpcs, ACTIVE, system__Uri=HCPCS, code__Code="CP")
    assert get(retired, "result") is False
    assert get(retired, "inactive") is True
    assert "not-in-vs" in tx_codes(issues(retired))


def test_hcpcs_wrong_display_and_case(hcpcs) -> None:
    result = validate_in_system(hcpcs, HCPCS, code__Code="Q4100", display="Skin graft")
    assert get(result, "result") is False
    assert "Wrong Display Name 'Skin graft'" in get(result, "message")
    lower = validate_in_system(hcpcs, HCPCS, code__Code="q4100")
    assert get(lower, "result") is False  # HCPCS codes are case-sensitive


def test_hcpcs_alias_answered_with_canonical(hcpcs) -> None:
    alias = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
    result = run(hcpcs, "validate-code", "CodeSystem", coding={"system": alias, "code": "A0021"})
    assert get(result, "result") is True
    assert get(result, "system") == HCPCS
    assert issues(result)[-1]["severity"] == "information"
    assert alias in issues(result)[-1]["details"]["text"]


def test_hcpcs_implicit_value_set(hcpcs) -> None:
    result = validate_in(hcpcs, HCPCS + "?fhir_vs", system__Uri=HCPCS, code__Code="E0100")
    assert get(result, "result") is True


def test_validate_errors(simple_engine) -> None:
    missing = fail(simple_engine, "validate-code", "ValueSet", url__Uri=ALL)
    assert missing.status == 400 and "Unable to find code to validate" in missing.text
    unknown = fail(
        simple_engine,
        "validate-code",
        "ValueSet",
        url__Uri=ALL + "X",
        code__Code="a",
        system__Uri=SIMPLE,
    )
    assert unknown.status == 404
    assert unknown.text == f"A definition for the value Set '{ALL}X' could not be found"


def test_findings_on_a_single_definition_repeat_expression_as_location(simple_engine) -> None:
    coding = {"system": SIMPLE, "code": "code1x"}
    result = validate_in(simple_engine, ALL, coding=coding)
    assert [i["location"] for i in issues(result)] == [["Coding.code"], ["Coding.code"]]
    assert [i["expression"] for i in issues(result)] == [["Coding.code"], ["Coding.code"]]


def test_an_outcome_is_located_all_or_nothing() -> None:
    located = finding("UNKNOWN_CODESYSTEM", "http://x", expression="Coding.system")
    expression_only = finding(
        "ABSTRACT_CODE_NOT_ALLOWED", "http://x", "a", expression="Coding.code"
    )
    assert "location" not in operation_outcome([expression_only])["issue"][0]
    mixed = operation_outcome([located, expression_only])["issue"]
    assert [i.get("location") for i in mixed] == [None, None]
    assert [i["expression"] for i in mixed] == [["Coding.system"], ["Coding.code"]]
    assert operation_outcome([located])["issue"][0]["location"] == ["Coding.system"]
