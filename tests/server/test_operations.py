"""Every terminology operation over HTTP, R4 and R5, GET and POST, on the real 2020 release."""

from __future__ import annotations

import pytest

from .conftest import HCPCS
from .helpers import CASES, call, parts, values

ALL_CODES = "https://hcpcs-tx.org/fhir/ValueSet/hcpcs-all"
BETOS_O1E = "https://hcpcs-tx.org/fhir/ValueSet/hcpcs-betos-O1E"
HCPCS_ALT = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def _uri(name: str, value: str) -> dict:
    return {"name": name, "valueUri": value}


def _code(name: str, value: str) -> dict:
    return {"name": name, "valueCode": value}


def _string(name: str, value: str) -> dict:
    return {"name": name, "valueString": value}


@pytest.mark.parametrize(("base", "method"), CASES)
def test_lookup(client, base, method) -> None:
    asked = [_uri("system", HCPCS), _code("code", "Q4100"), _code("property", "betos")]
    status, result = call(client, base, method, "CodeSystem/$lookup", asked)
    assert status == 200
    found = values(result)
    assert found["name"] == "HCPCSLevelII"
    assert found["version"] == "2020-01"
    assert found["display"] == "Skin substitute, not otherwise specified"
    assert parts(result, "designation")[0]["value"] == "Skin substitute, nos"
    betos = parts(result, "property")
    assert betos == [
        {
            "code": "betos",
            "value": {
                "system": "https://hcpcs-tx.org/fhir/CodeSystem/betos",
                "code": "O1E",
                "display": "Other drugs",
            },
            "description": "Other drugs",
        }
    ]


@pytest.mark.parametrize(("base", "method"), CASES)
def test_lookup_all_properties_and_instance_level(client, base, method) -> None:
    status, result = call(
        client, base, method, "CodeSystem/hcpcs-2020-01/$lookup", [_code("code", "J0120")]
    )
    assert status == 200
    # the 2020 file's J0120 line: pricing 51, multiple pricing A, MCM 2049, coverage D,
    # BETOS O1E, type of service 1 and P, added 1986-01-01, action N effective 2018-01-01
    found = [(p["code"], p["value"]) for p in parts(result, "property")]
    properties = dict(found)
    assert properties["kind"] == "procedure"
    assert properties["added-date"] == "1986-01-01"
    assert properties["action-effective-date"] == "2018-01-01"
    assert properties["mcm-reference"] == "2049"
    for name, code in [("coverage", "D"), ("betos", "O1E"), ("pricing-indicator", "51")]:
        assert properties[name]["code"] == code
    assert properties["multiple-pricing-indicator"]["code"] == "A"
    assert properties["action"]["code"] == "N"
    assert [v["code"] for k, v in found if k == "type-of-service"] == ["1", "P"]
    assert [k for k, _ in found].count("inactive") == 1 and properties["inactive"] is False


@pytest.mark.parametrize(("base", "method"), CASES)
def test_lookup_unknown_code_is_404(client, base, method) -> None:
    asked = [_uri("system", HCPCS), _code("code", "ZZZZZ")]
    status, result = call(client, base, method, "CodeSystem/$lookup", asked)
    assert status == 404
    assert result["resourceType"] == "OperationOutcome"
    assert "ZZZZZ" in result["issue"][0]["details"]["text"]


@pytest.mark.parametrize(("base", "method"), CASES)
def test_code_system_validate_code_reports_a_wrong_display(client, base, method) -> None:
    asked = [_uri("url", HCPCS), _code("code", "J0120"), _string("display", "Tetracycline pill")]
    status, result = call(client, base, method, "CodeSystem/$validate-code", asked)
    assert status == 200
    found = values(result)
    assert found["result"] is False
    assert found["display"] == "Injection, tetracycline, up to 250 mg"
    assert found["message"].startswith("Wrong Display Name 'Tetracycline pill'")
    issue = found["issues"]["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "invalid-display"
    assert issue["details"]["coding"][0]["system"].endswith("tx-issue-type")


@pytest.mark.parametrize(("base", "method"), CASES)
def test_value_set_validate_code(client, base, method) -> None:
    asked = [_uri("url", ALL_CODES), _uri("system", HCPCS), _code("code", "J0120")]
    status, result = call(client, base, method, "ValueSet/$validate-code", asked)
    assert status == 200
    found = values(result)
    assert (found["result"], found["code"], found["system"]) == (True, "J0120", HCPCS)
    assert found["version"] == "2020-01"
    asked = [
        _uri("url", BETOS_O1E),
        {"name": "coding", "valueCoding": {"system": HCPCS, "code": "AA"}},
    ]
    status, result = call(client, base, method, "ValueSet/$validate-code", asked)
    assert values(result)["result"] is False


@pytest.mark.parametrize(("base", "method"), CASES)
def test_expand_text_filter(client, base, method) -> None:
    asked = [
        _uri("url", ALL_CODES),
        _string("filter", "skin sub"),
        {"name": "count", "valueInteger": 3},
    ]
    status, result = call(client, base, method, "ValueSet/$expand", asked)
    assert status == 200 and result["resourceType"] == "ValueSet"
    expansion = result["expansion"]
    assert expansion["total"] == 12
    assert expansion["identifier"].startswith("urn:uuid:")
    assert len(expansion["contains"]) == 3
    assert all("skin sub" in c["display"].lower() for c in expansion["contains"])
    used = [p for p in expansion["parameter"] if p["name"] == "used-codesystem"]
    assert used[0]["valueUri"] == f"{HCPCS}|2020-01"


@pytest.mark.parametrize(("base", "method"), CASES)
def test_expand_property_filtered_value_set(client, base, method) -> None:
    asked = [_uri("url", BETOS_O1E), {"name": "count", "valueInteger": 2}]
    asked.append(_string("property", "betos"))
    status, result = call(client, base, method, "ValueSet/$expand", asked)
    assert status == 200
    assert result["url"] == BETOS_O1E
    assert result["expansion"]["total"] == 897
    codes = [c["code"] for c in result["expansion"]["contains"]]
    assert codes == ["A4218", "A9150"]
    contains = result["expansion"]["contains"][0]
    betos = {
        "system": "https://hcpcs-tx.org/fhir/CodeSystem/betos",
        "code": "O1E",
        "display": "Other drugs",
    }
    if base == "r5":
        assert result["expansion"]["property"] == [
            {"code": "betos", "uri": "https://hcpcs-tx.org/fhir/CodeSystem/hcpcs#betos"}
        ]
        assert contains["property"] == [{"code": "betos", "valueCoding": betos}]
    else:  # R5-only elements travel as cross-version extensions
        assert "property" not in result["expansion"] and "property" not in contains
        (extension,) = contains["extension"]
        assert extension["url"].endswith("extension-ValueSet.expansion.contains.property")
        assert extension["extension"] == [
            {"url": "code", "valueCode": "betos"},
            {"url": "value", "valueCoding": betos},
        ]


@pytest.mark.parametrize(("base", "method"), CASES)
def test_subsumes(client, base, method) -> None:
    asked = [_uri("system", HCPCS), _code("codeA", "J0120"), _code("codeB", "J0120")]
    status, result = call(client, base, method, "CodeSystem/$subsumes", asked)
    assert status == 200
    assert values(result)["outcome"] == "equivalent"
    asked = [_uri("system", HCPCS), _code("codeA", "J0120"), _code("codeB", "Q4100")]
    status, result = call(client, base, method, "CodeSystem/$subsumes", asked)
    assert values(result)["outcome"] == "not-subsumed"


@pytest.mark.parametrize(("base", "method"), CASES)
def test_translate(client, base, method) -> None:
    if base == "r4":
        asked = [_uri("system", HCPCS), _code("code", "J0120"), _uri("targetsystem", HCPCS)]
    else:
        asked = [_uri("system", HCPCS), _code("sourceCode", "J0120"), _uri("targetSystem", HCPCS)]
    status, result = call(client, base, method, "ConceptMap/$translate", asked)
    assert status == 200
    assert values(result)["result"] is True
    (match,) = parts(result, "match")
    assert match["concept"] == {"system": HCPCS, "code": "J0130"}
    if base == "r4":
        assert match["equivalence"] == "equivalent"
    else:
        assert match["relationship"] == "equivalent"


@pytest.mark.parametrize("base", ["r4", "r5"])
def test_batch_validate_code(client, base) -> None:
    def validation(code: str) -> dict:
        coding = {"name": "coding", "valueCoding": {"system": HCPCS, "code": code}}
        return {
            "name": "validation",
            "resource": {"resourceType": "Parameters", "parameter": [coding]},
        }

    asked = [_uri("url", ALL_CODES), validation("J0120"), validation("ZZZZZ")]
    status, result = call(client, base, "POST", "ValueSet/$batch-validate-code", asked)
    assert status == 200
    answers = [p["resource"] for p in result["parameter"] if p["name"] == "validation"]
    assert [values(a)["result"] for a in answers] == [True, False]


@pytest.mark.parametrize(("base", "method"), CASES)
def test_alternate_system_uri_is_answered_with_the_canonical_one(client, base, method) -> None:
    asked = [_uri("system", HCPCS_ALT), _code("code", "J0120")]
    status, result = call(client, base, method, "CodeSystem/$lookup", asked)
    assert status == 200
    assert values(result)["system"] == HCPCS


def test_accept_language_reaches_the_engine(client) -> None:
    asked = [_uri("system", HCPCS), _code("code", "J0120")]
    headers = {"Accept-Language": "en"}
    status, result = call(client, "r5", "GET", "CodeSystem/$lookup", asked, headers=headers)
    assert status == 200 and values(result)["display"].startswith("Injection")


@pytest.mark.parametrize(("base", "method"), CASES)
def test_instance_level_expand_and_validate(client, base, method) -> None:
    path = "ValueSet/hcpcs-betos-O1E-2020-01"
    status, result = call(
        client, base, method, f"{path}/$expand", [{"name": "count", "valueInteger": 1}]
    )
    assert status == 200 and result["expansion"]["total"] == 897
    asked = [_uri("system", HCPCS), _code("code", "J0120")]
    status, result = call(client, base, method, f"{path}/$validate-code", asked)
    assert status == 200 and values(result)["result"] is True
