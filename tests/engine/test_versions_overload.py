"""Two versions of one code system in a value set (tx-ecosystem `overload`): pinned includes
newest first, versionsMatch (explicit, or implied by excluding one version from another),
the display choosing the version in $validate-code; a client's too-costly threshold."""

from __future__ import annotations

import pytest

from terminology.engine import Engine, OperationRequest
from terminology.outcome import TerminologyError
from tests.engine.conftest import get, issues, params, run, tx_resource

OVERLOAD = "http://hl7.org/fhir/test/CodeSystem/overload"
VS = "http://hl7.org/fhir/test/ValueSet/overload-"


@pytest.fixture(scope="module")
def overload() -> Engine:
    names = ["codesystem-overload-1", "codesystem-overload-2", "valueset-overload-all"]
    names += ["valueset-overload-exclude", "valueset-overload-all-merged"]
    return Engine([tx_resource(f"overload/{n}.json") for n in names])


def _contains(result: dict) -> list[tuple[str, str]]:
    return [(c["code"], c.get("version")) for c in result["expansion"]["contains"]]


def test_pinned_versions_expand_newest_first(overload):
    found = _contains(run(overload, "expand", "ValueSet", url=VS + "all"))
    assert found[:3] == [("code1", "2.0.0"), ("code2", "2.0.0"), ("code4", "2.0.0")]
    assert len(found) == 6


def test_excluding_one_version_from_another_matches_codes_across_versions(overload):
    result = run(overload, "expand", "ValueSet", url=VS + "exclude")
    assert _contains(result) == [("code4", "2.0.0")]
    assert {"name": "versionsMatch", "valueBoolean": True} in result["expansion"]["parameter"]


def test_versions_match_merges_codes(overload):
    result = run(overload, "expand", "ValueSet", url=VS + "all-merged")
    assert [code for code, _ in _contains(result)] == ["code1", "code2", "code4", "code3"]


@pytest.mark.parametrize(("display", "version"), [("Display #2", "2.0.0"), ("Display 2", "1.0.0")])
def test_unversioned_coding_takes_the_version_its_display_agrees_with(overload, display, version):
    coding = {"system": OVERLOAD, "code": "code2", "display": display}
    result = run(overload, "validate-code", "ValueSet", url=VS + "all", coding=coding)
    assert get(result, "result") is True and get(result, "version") == version
    assert not issues(result)


def test_too_costly_threshold_from_the_client(overload):
    asked = params(url=VS + "all")
    with pytest.raises(TerminologyError) as caught:
        overload.run(OperationRequest("expand", "ValueSet", asked, cost_limit=5))
    assert caught.value.status == 422
    assert caught.value.outcome["issue"][0]["code"] == "too-costly"
    assert overload.run(OperationRequest("expand", "ValueSet", asked, cost_limit=6))


# -- displays: languages, supplements, retired designations -------------------------------------
@pytest.fixture(scope="module")
def displays_engine() -> Engine:
    names = ["display/codesystem-none.json", "display/valueset-none.json"]
    names += ["extensions/codesystem-extensions.json", "extensions/codesystem-supplement.json"]
    names += ["extensions/valueset-extensions-enumerated.json"]
    return Engine([tx_resource(n) for n in names])


NONE = "http://hl7.org/fhir/test/CodeSystem/lang-none"
EXTENSIONS = "http://hl7.org/fhir/test/CodeSystem/extensions"


def test_a_display_of_no_known_language_is_valid_in_any(displays_engine):
    coding = {"system": NONE, "code": "code1", "display": "Code1"}
    url = "http://hl7.org/fhir/test/ValueSet/lang-none"
    result = run(
        displays_engine,
        "validate-code",
        "ValueSet",
        url=url,
        coding=coding,
        displayLanguage__Code="de",
    )
    assert get(result, "result") is True and not issues(result)


def test_an_invalid_display_language_is_refused(displays_engine):
    asked = params(url=EXTENSIONS, code__Code="code1", displayLanguage__Code="-")
    with pytest.raises(TerminologyError) as caught:
        displays_engine.run(OperationRequest("validate-code", "CodeSystem", asked))
    assert caught.value.status == 400
    assert caught.value.outcome["issue"][0]["details"]["text"] == "Invalid displayLanguage: '-'"


def test_a_withdrawn_designation_is_an_inactive_display(displays_engine):
    result = run(
        displays_engine,
        "validate-code",
        "CodeSystem",
        url=EXTENSIONS,
        code__Code="code2",
        display="2nd Code",
    )
    assert get(result, "result") is True and get(result, "message") is None
    found = issues(result)
    assert [i["severity"] for i in found] == ["warning"]
    assert found[0]["details"]["coding"][0]["code"] == "display-comment"


def test_a_concept_deprecated_by_extension(displays_engine):
    result = run(displays_engine, "validate-code", "CodeSystem", url=EXTENSIONS, code__Code="code5")
    assert get(result, "status") == "deprecated"
    assert "deprecated" in get(result, "message")


def test_findings_on_an_overloaded_system_carry_expression_only(overload):
    coding = {"system": OVERLOAD, "code": "code9"}
    result = run(overload, "validate-code", "ValueSet", url=VS + "all", coding=coding)
    found = issues(result)
    assert get(result, "result") is False and found
    assert all(i["expression"] == ["Coding.code"] for i in found)
    assert all("location" not in i for i in found)
