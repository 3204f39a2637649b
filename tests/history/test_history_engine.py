"""HCPCS over time through the engine, on the real 2019 and 2020 releases loaded together:
which release a request gets, date-aware validity, replacements, and $changes."""

from __future__ import annotations

import pytest
from fhir.resources.parameters import Parameters
from fhir.resources.valueset import ValueSet

from terminology.engine import OperationRequest
from terminology.outcome import TerminologyError
from tests.history.conftest import HCPCS, VS, issue_texts, parameters, run, value

# C9408: in 2019-01 active; in 2020-01 terminated (last day 2019-12-31), XREF A9590.
# A9590: added 2020-01-01. G0365: terminated 2019-12-31 without XREF. C8904: ended
# 2018-12-31, XREF CPT 77046 (retired in both releases).


def validate(engine, code: str, **values: object) -> dict:
    result = run(engine, "validate-code", "CodeSystem", url=HCPCS, code=code, **values)
    Parameters.model_validate(result)
    return result


def test_both_releases_are_held_and_the_latest_is_the_default(engine) -> None:
    assert engine.registry.versions("CodeSystem", HCPCS) == ["2019-01", "2020-01"]
    assert value(validate(engine, "J0120"), "version") == "2020-01"


def test_code_added_in_2020_is_unknown_in_2019_and_valid_in_2020(engine) -> None:
    before = validate(engine, "A9590", version="2019-01")
    assert value(before, "result") is False
    assert (
        value(before, "message")
        == f"Unknown code 'A9590' in the CodeSystem '{HCPCS}' version '2019-01'"
    )
    after = validate(engine, "A9590", version="2020-01")
    assert value(after, "result") is True and value(after, "inactive") is None


@pytest.mark.parametrize(
    ("date", "release"),
    [
        ("2019-06-01", "2019-01"),
        ("2020-03-01", "2020-01"),
        ("2019-12-31", "2019-01"),
        ("2020-01-01T08:00:00Z", "2020-01"),
        ("2018-06-01", "2019-01"),
        ("2031", "2020-01"),
    ],
)
def test_date_picks_the_release_in_force(engine, date, release) -> None:
    """The largest effectivePeriod.start <= date (before every release: the earliest)."""
    found = run(engine, "lookup", "CodeSystem", system=HCPCS, code="J0120", date=date)
    assert value(found, "version") == release
    assert value(validate(engine, "J0120", date=date), "version") == release


def test_date_decides_whether_an_added_code_is_known(engine) -> None:
    assert value(validate(engine, "A9590", date="2019-06-01"), "result") is False
    assert value(validate(engine, "A9590", date="2020-03-01"), "result") is True


def test_code_not_yet_in_use_on_the_date_within_a_release(engine) -> None:
    """Release 2020-01 holds A9590, but on 2019-06-01 it was not in use yet."""
    result = validate(engine, "A9590", version="2020-01", date="2019-06-01")
    assert value(result, "result") is False
    assert value(result, "message") == (
        "The concept 'A9590' was not valid on 2019-06-01: its first day of use was 2020-01-01 "
        f"(CodeSystem '{HCPCS}' version '2020-01')"
    )
    with pytest.raises(TerminologyError) as caught:
        run(
            engine,
            "lookup",
            "CodeSystem",
            system=HCPCS,
            code="A9590",
            version="2020-01",
            date="2019-12-31",
        )
    assert caught.value.status == 404 and "first day of use was 2020-01-01" in caught.value.text


REPLACED = (
    "The concept 'C9408' is retired: its last day of use was 2019-12-31. "
    "Replaced by A9590 (Iodine i-131, iobenguane, 1 millicurie)"
)


@pytest.mark.parametrize("extra", [{}, {"version": "2020-01"}, {"date": "2020-02-15"}])
def test_terminated_code_is_inactive_and_names_its_replacement(engine, extra) -> None:
    result = validate(engine, "C9408", **extra)
    assert value(result, "result") is True
    assert value(result, "inactive") is True and value(result, "status") == "retired"
    assert value(result, "message") == REPLACED
    (issue,) = value(result, "issues")["resource"]["issue"]
    assert issue["severity"] == "warning"


def test_terminated_code_was_valid_before_its_last_day(engine) -> None:
    for extra in ({"date": "2019-06-01"}, {"version": "2020-01", "date": "2019-12-31"}):
        result = validate(engine, "C9408", **extra)
        assert value(result, "result") is True and value(result, "inactive") is None
        assert not issue_texts(result)


def test_terminated_code_after_its_last_day_in_the_older_release(engine) -> None:
    """2019-01 does not know C9408 ends, but a termination date in it does count."""
    result = validate(engine, "C8904", version="2019-01", date="2019-06-01")
    assert value(result, "inactive") is True
    assert value(result, "message") == (
        "The concept 'C8904' is retired: its last day of use was 2018-12-31. "
        "Replaced by http://www.ama-assn.org/go/cpt#77046"
    )


def test_terminated_code_without_replacement_says_so(engine) -> None:
    result = validate(engine, "G0365", version="2020-01")
    assert value(result, "message") == (
        "The concept 'G0365' is retired: its last day of use was 2019-12-31. "
        "No replacement is named"
    )


def test_active_only_refuses_a_terminated_code(engine) -> None:
    result = validate(engine, "C9408", date="2020-02-15", activeOnly=True)
    assert value(result, "result") is False
    assert "The concept 'C9408' is valid but is not active" in value(result, "message")


def test_lookup_with_date_reports_the_status_then(engine) -> None:
    def inactive(**extra: object) -> list[bool]:
        found = run(
            engine, "lookup", "CodeSystem", system=HCPCS, code="C9408", property="inactive", **extra
        )
        Parameters.model_validate(found)
        return [p["part"][1]["valueBoolean"] for p in found["parameter"] if p["name"] == "property"]

    assert set(inactive(version="2020-01")) == {True}
    assert set(inactive(version="2020-01", date="2019-06-01")) == {False}


def expand(engine, **values: object) -> dict:
    result = run(engine, "expand", "ValueSet", **values)
    ValueSet.model_validate(result)
    return result


def test_expand_with_date_uses_that_release_and_status(engine) -> None:
    def codes(**extra: object) -> dict[str, bool]:
        found = expand(engine, url=f"{HCPCS}?fhir_vs", filter="iobenguane", **extra)
        used = [
            p["valueUri"] for p in found["expansion"]["parameter"] if p["name"] == "used-codesystem"
        ]
        contains = found["expansion"].get("contains", [])
        return {"used": used, **{c["code"]: c.get("inactive", False) for c in contains}}

    before = codes(date="2019-06-01")
    assert before["used"] == [f"{HCPCS}|2019-01"] and before["C9408"] is False
    assert "A9590" not in before
    later = codes(date="2020-03-01")
    assert later["used"] == [f"{HCPCS}|2020-01"] and later["C9408"] is True
    assert later["A9590"] is False
    assert "C9408" not in codes(date="2020-03-01", activeOnly=True)


def test_pinned_value_set_follows_the_date(engine) -> None:
    found = expand(engine, url=f"{VS}hcpcs-betos-O1E", count="0", date="2019-06-01")
    assert found["version"] == "2019-01"
    assert {"name": "date", "valueString": "2019-06-01"} in found["expansion"]["parameter"]
    assert expand(engine, url=f"{VS}hcpcs-betos-O1E", count="0")["version"] == "2020-01"


def test_added_in_2020_value_set(engine, expected) -> None:
    found = expand(engine, url=f"{VS}hcpcs-added-2020-01")
    assert found["expansion"]["total"] == len(expected["added"])
    assert {c["code"] for c in found["expansion"]["contains"]} == expected["added"]


def translate(engine, code: str, **values: object) -> dict:
    result = run(engine, "translate", "ConceptMap", sourceCode=code, system=HCPCS, **values)
    Parameters.model_validate(result)
    return result


def test_translate_gives_the_replacement(engine) -> None:
    result = translate(engine, "C9408", targetSystem=HCPCS)
    assert value(result, "result") is True and value(result, "message") is None
    parts = {p["name"]: p for p in value(result, "match")["part"]}
    assert parts["concept"]["valueCoding"]["code"] == "A9590"
    assert parts["relationship"]["valueCode"] == "related-to"
    assert parts["originMap"]["valueCanonical"].startswith(
        "https://hcpcs-tx.org/fhir/ConceptMap/hcpcs-replacements|"
    )


def test_translate_with_date_before_the_last_day_says_it_does_not_apply_yet(engine) -> None:
    result = translate(engine, "C9408", date="2019-06-01")
    assert value(result, "result") is True
    assert value(result, "message") == (
        f"{HCPCS}#C9408 was still valid on 2019-06-01 (its last day of use is 2019-12-31): "
        "the translation applies after that day"
    )
    assert value(translate(engine, "C9408", date="2020-01-01"), "message") is None


def test_translate_no_map_is_honest(engine) -> None:
    result = translate(engine, "G0365")
    assert value(result, "result") is False
    assert "states that it has none (noMap)" in value(result, "message")
    assert (
        value(translate(engine, "J0120"), "message") == f"No translations found for {HCPCS}#J0120"
    )


def changes(engine, **values: object) -> dict:
    result = run(engine, "changes", "CodeSystem", system=HCPCS, **values)
    Parameters.model_validate(result)
    return result


def test_changes_counts_match_the_raw_files(engine, expected) -> None:
    result = changes(engine, fromVersion="2019-01", toVersion="2020-01")
    counts = {kind: value(result, kind) for kind in expected}
    assert counts == {kind: len(codes) for kind, codes in expected.items()}
    assert counts == {
        "added": 279,
        "removed": 0,
        "terminated": 89,
        "redescribed": 70,
        "property-changed": 656,
    }
    listed = {
        kind: {
            next(p["valueCode"] for p in c["part"] if p["name"] == "code")
            for c in result["parameter"]
            if c["name"] == "change" and {"name": "kind", "valueCode": kind} in c["part"]
        }
        for kind in expected
    }
    assert listed == expected


def _change(result: dict, code: str) -> list[dict]:
    return next(
        c["part"]
        for c in result["parameter"]
        if c["name"] == "change" and c["part"][0]["valueCode"] == code
    )


def test_changes_spot_checks(engine) -> None:
    result = changes(engine, fromVersion="2019-01", toVersion="2020-01")
    assert {"name": "kind", "valueCode": "added"} in _change(result, "A9590")
    c9408 = _change(result, "C9408")
    assert {"name": "kind", "valueCode": "terminated"} in c9408
    xref = next(
        p
        for p in c9408
        if p["name"] == "property" and p["part"][0]["valueCode"] == "cross-reference"
    )
    assert xref["part"][1:] == [{"name": "new", "valueCode": "A9590"}]
    j9355 = {p["name"]: p for p in _change(result, "J9355")}
    assert j9355["previousDisplay"]["valueString"] == "Injection, trastuzumab, 10 mg"
    assert j9355["display"]["valueString"] == "Injection, trastuzumab, excludes biosimilar, 10 mg"


def test_changes_errors(engine) -> None:
    with pytest.raises(TerminologyError) as caught:
        run(
            engine,
            "changes",
            "CodeSystem",
            system=HCPCS,
            fromVersion="2018-01",
            toVersion="2020-01",
        )
    assert caught.value.status == 404
    assert caught.value.text == (
        f"A definition for CodeSystem '{HCPCS}' version '2018-01' could not be found, so its "
        "changes cannot be listed. Valid versions: 2019-01, 2020-01"
    )
    with pytest.raises(TerminologyError) as caught:
        run(
            engine,
            "changes",
            "CodeSystem",
            system="http://example.org/none",
            fromVersion="1",
            toVersion="2",
        )
    assert caught.value.status == 404
    with pytest.raises(TerminologyError) as caught:
        run(engine, "changes", "CodeSystem", system=HCPCS, fromVersion="2019-01")
    assert (
        caught.value.status == 400 and caught.value.text == "Missing required parameter: toVersion"
    )


def test_changes_on_a_general_code_system_with_nested_concepts() -> None:
    """Not HCPCS-specific: any two versions of a stored code system, nested concepts too."""
    from terminology.engine import Engine

    def cs(version: str, children: list[dict]) -> dict:
        return {
            "resourceType": "CodeSystem",
            "url": "http://example.org/cs",
            "version": version,
            "status": "active",
            "content": "complete",
            "concept": [{"code": "a", "display": "A", "concept": children}],
        }

    engine = Engine(
        [
            cs("1", [{"code": "b", "display": "B"}]),
            cs("2", [{"code": "b", "display": "Bee"}, {"code": "c", "display": "C"}]),
        ]
    )
    request = parameters(system="http://example.org/cs", fromVersion="1", toVersion="2")
    result = engine.run(OperationRequest("changes", "CodeSystem", request))
    assert value(result, "added") == 1 and value(result, "redescribed") == 1
