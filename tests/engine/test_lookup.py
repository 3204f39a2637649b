"""CodeSystem/$lookup over the tx-ecosystem simple code system and real HCPCS 2020."""

from __future__ import annotations

from tests.engine.conftest import HCPCS, SIMPLE, fail, get, run


def _properties(result: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for parameter in result["parameter"]:
        if parameter["name"] == "property":
            parts = {p["name"]: p for p in parameter["part"]}
            found.setdefault(parts["code"]["valueCode"], []).append(parts)
    return found


def test_lookup_returns_name_version_display_definition(simple_engine) -> None:
    result = run(simple_engine, "lookup", "CodeSystem", system__Uri=SIMPLE, code__Code="code2a")
    assert get(result, "name") == "SimpleTestCodeSystem"
    assert get(result, "version") == "0.1.0"
    assert get(result, "display") == "Display 2a"
    assert get(result, "definition") == "My first second level code"
    assert get(result, "abstract") is False


def test_lookup_hierarchy_properties_carry_descriptions(simple_engine) -> None:
    result = run(simple_engine, "lookup", "CodeSystem", system__Uri=SIMPLE, code__Code="code2a")
    props = _properties(result)
    assert props["parent"][0]["value"]["valueCode"] == "code2"
    assert props["parent"][0]["description"]["valueString"] == "Display 2"
    assert [c["value"]["valueCode"] for c in props["child"]] == ["code2aI", "code2aII"]
    assert props["prop"][0]["value"] == {"name": "value", "valueCode": "new"}
    assert props["inactive"][0]["value"]["valueBoolean"] is False


def test_lookup_designations(simple_engine) -> None:
    result = run(simple_engine, "lookup", "CodeSystem", system__Uri=SIMPLE, code__Code="code1")
    values = [
        next(p["valueString"] for p in d["part"] if p["name"] == "value")
        for d in result["parameter"]
        if d["name"] == "designation"
    ]
    assert "mine own first code" in values and "Display 1" in values


def test_lookup_abstract_concept(simple_engine) -> None:
    result = run(simple_engine, "lookup", "CodeSystem", system__Uri=SIMPLE, code__Code="code2")
    assert get(result, "abstract") is True
    assert _properties(result)["status"][0]["value"]["valueCode"] == "retired"


def test_lookup_by_coding_and_selected_property(simple_engine) -> None:
    result = run(
        simple_engine,
        "lookup",
        "CodeSystem",
        coding={"system": SIMPLE, "code": "code3"},
        property__Code="prop",
    )
    assert get(result, "display") == "Display 3"
    assert set(_properties(result)) == {"prop"}


def test_lookup_hcpcs_typed_properties(hcpcs) -> None:
    result = run(hcpcs, "lookup", "CodeSystem", system__Uri=HCPCS, code__Code="A0021")
    assert get(result, "system") == HCPCS
    assert get(result, "version") == "2020-01"
    assert get(result, "display").startswith("Ambulance service, outside state per mile")
    props = _properties(result)
    betos = props["betos"][0]
    assert betos["value"]["valueCoding"]["code"] == betos["value"]["valueCoding"]["code"].strip()
    assert betos["description"]["valueString"] == betos["value"]["valueCoding"]["display"]
    assert "valueDateTime" in props["added-date"][0]["value"]
    assert "valueInteger" in props["anesthesia-base-units"][0]["value"]
    assert props["kind"][0]["value"]["valueCode"] == "procedure"


def test_lookup_hcpcs_terminated_code_is_inactive(hcpcs) -> None:
    result = run(hcpcs, "lookup", "CodeSystem", system__Uri=HCPCS, code__Code="CP")
    props = _properties(result)
    assert props["inactive"][0]["value"]["valueBoolean"] is True
    assert props["termination-date"][0]["value"]["valueDateTime"] == "2017-12-31"


def test_lookup_via_alias_and_instance(hcpcs, hcpcs_resources) -> None:
    alias = "urn:oid:2.16.840.1.113883.6.285"
    result = run(hcpcs, "lookup", "CodeSystem", system__Uri=alias, code__Code="A0021")
    assert get(result, "system") == HCPCS
    instance = hcpcs_resources[0]["id"]
    result = run(hcpcs, "lookup", "CodeSystem", instance, code__Code="A0021")
    assert get(result, "code") == "A0021"


def test_lookup_errors(simple_engine) -> None:
    error = fail(simple_engine, "lookup", "CodeSystem", system__Uri=SIMPLE, code__Code="nope")
    assert error.status == 404
    assert "Unable to find code 'nope'" in error.text
    error = fail(
        simple_engine, "lookup", "CodeSystem", system__Uri="http://x.org/cs", code__Code="a"
    )
    assert error.status == 404 and "http://x.org/cs" in error.text
    error = fail(simple_engine, "lookup", "CodeSystem", code__Code="a")
    assert error.status == 400 and "system" in error.text
    version = fail(
        simple_engine,
        "lookup",
        "CodeSystem",
        system__Uri=SIMPLE,
        code__Code="code1",
        version="9.9",
    )
    assert "Valid versions: 0.1.0" in version.text
