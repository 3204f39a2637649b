"""R4 <-> R5 conversion: round trips, and both sides parse with fhir.resources."""

from __future__ import annotations

import copy

from terminology.versions import R4_EQUIVALENCE_EXT, to_r4, to_r5

from .conftest import parse

CM_R4 = {
    "resourceType": "ConceptMap",
    "url": "http://example.org/cm",
    "status": "active",
    "identifier": {"value": "cm-1"},
    "sourceUri": "http://example.org/vs-source",
    "targetCanonical": "http://example.org/vs-target",
    "group": [
        {
            "source": "http://example.org/source",
            "sourceVersion": "1",
            "target": "http://example.org/target",
            "element": [
                {
                    "code": "a",
                    "target": [
                        {
                            "code": "b",
                            "equivalence": "equal",
                            "dependsOn": [
                                {"property": "http://p", "system": "http://s", "value": "v"}
                            ],
                        }
                    ],
                },
                {"code": "c", "target": [{"code": "d", "equivalence": "wider"}]},
                {"code": "e", "target": [{"code": "f", "equivalence": "narrower"}]},
                {"code": "g", "target": [{"equivalence": "unmatched"}]},
            ],
            "unmapped": {"mode": "other-map", "url": "http://example.org/other"},
        }
    ],
}
VS_R5 = {
    "resourceType": "ValueSet",
    "url": "http://example.org/vs",
    "status": "active",
    "versionAlgorithmString": "semver",
    "copyrightLabel": "(c) example",
    "topic": [{"text": "billing"}],
    "scope": {"inclusionCriteria": "everything"},
    "compose": {"include": [{"system": "http://example.org/cs"}], "property": ["betos"]},
    "expansion": {
        "timestamp": "2026-01-01T00:00:00Z",
        "total": 1,
        "property": [{"code": "betos", "uri": "http://example.org/cs#betos"}],
        "contains": [
            {
                "system": "http://example.org/cs",
                "code": "c",
                "property": [{"code": "betos", "valueCoding": {"code": "O1E"}}],
                "contains": [
                    {
                        "code": "d",
                        "designation": [{"value": "x", "additionalUse": [{"code": "short"}]}],
                    }
                ],
            }
        ],
    },
}


def test_concept_map_r4_to_r5_and_back() -> None:
    r5 = to_r5(CM_R4)
    parse(r5, "r5")
    assert r5["sourceScopeUri"] == "http://example.org/vs-source"
    assert r5["targetScopeCanonical"] == "http://example.org/vs-target"
    assert r5["identifier"] == [{"value": "cm-1"}]
    group = r5["group"][0]
    assert group["source"] == "http://example.org/source|1"
    first, wider, narrower, unmatched = group["element"]
    assert first["target"][0]["relationship"] == "equivalent"
    assert first["target"][0]["extension"] == [{"url": R4_EQUIVALENCE_EXT, "valueCode": "equal"}]
    assert first["target"][0]["dependsOn"] == [
        {"attribute": "http://p", "valueCoding": {"system": "http://s", "code": "v"}}
    ]
    assert wider["target"][0]["relationship"] == "source-is-narrower-than-target"
    assert narrower["target"][0]["relationship"] == "source-is-broader-than-target"
    assert unmatched == {"code": "g", "noMap": True}
    assert group["unmapped"] == {"mode": "other-map", "otherMap": "http://example.org/other"}
    back = to_r4(r5)
    parse(back, "r4")
    assert back == CM_R4


def test_value_set_r5_only_elements_round_trip_through_extensions() -> None:
    parse(VS_R5, "r5")
    r4 = to_r4(VS_R5)
    parse(r4, "r4")
    assert "property" not in r4["expansion"] and "scope" not in r4
    urls = {e["url"] for e in r4["expansion"]["extension"]}
    assert urls == {
        "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.property"
    }
    contains = r4["expansion"]["contains"][0]
    assert contains["extension"][0]["extension"] == [
        {"url": "code", "valueCode": "betos"},
        {"url": "value", "valueCoding": {"code": "O1E"}},
    ]
    assert to_r5(r4) == VS_R5
    assert VS_R5["expansion"]["property"]  # the input is not changed


def test_parameters_nested_resources_and_translate_matches() -> None:
    r5 = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "result", "valueBoolean": True},
            {
                "name": "match",
                "part": [
                    {"name": "relationship", "valueCode": "source-is-broader-than-target"},
                    {"name": "concept", "valueCoding": {"system": "http://s", "code": "x"}},
                ],
            },
            {"name": "return", "resource": VS_R5},
            {
                "name": "issues",
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "information", "code": "success"}],
                },
            },
        ],
    }
    r4 = to_r4(r5)
    parse(r4, "r4")
    assert r4["parameter"][1]["part"][0] == {"name": "equivalence", "valueCode": "narrower"}
    assert "property" not in r4["parameter"][2]["resource"]["expansion"]
    assert r4["parameter"][3]["resource"]["issue"][0]["code"] == "informational"
    back = to_r5(r4)
    assert back["parameter"][2]["resource"] == VS_R5
    # An R4 $translate answer keeps its R4 part name, as HL7's converter does.
    assert back["parameter"][1]["part"][0] == {"name": "equivalence", "valueCode": "narrower"}


def test_unchanged_resources_are_not_copied() -> None:
    lookup = {"resourceType": "Parameters", "parameter": [{"name": "display", "valueString": "x"}]}
    assert to_r4(lookup) is lookup


def test_translate_inputs_r4_names_become_r5() -> None:
    r4 = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "code", "valueCode": "A1"},
            {"name": "system", "valueUri": "http://s"},
            {"name": "targetsystem", "valueUri": "http://t"},
        ],
    }
    names = [p["name"] for p in to_r5(r4, "translate")["parameter"]]
    assert names == ["sourceCode", "system", "targetSystem"]
    reverse = copy.deepcopy(r4)
    reverse["parameter"].append({"name": "reverse", "valueBoolean": True})
    names = [p["name"] for p in to_r5(reverse, "translate")["parameter"]]
    assert names == ["targetCode", "system", "targetSystem"]
    assert [p["name"] for p in to_r5(r4)["parameter"]] == ["code", "system", "targetsystem"]


def test_bundle_and_capability_statement() -> None:
    capability = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-01-01",
        "kind": "instance",
        "fhirVersion": "5.0.0",
        "format": ["json"],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": CM_R4}, {"resource": capability}],
    }
    r5 = to_r5(bundle)
    parse(r5, "r5")
    assert r5["entry"][1]["resource"]["fhirVersion"] == "5.0.0"
    r4 = to_r4(r5)
    parse(r4, "r4")
    assert r4["entry"][0]["resource"] == CM_R4
    assert r4["entry"][1]["resource"]["fhirVersion"] == "4.0.1"


def test_to_r5_is_idempotent_on_r5() -> None:
    r5 = to_r5(CM_R4)
    assert to_r5(r5) == r5
    assert to_r5(VS_R5) == VS_R5


def test_concept_map_unmapped_provided_is_use_source_code_in_r5() -> None:
    element = {"code": "a", "target": [{"code": "b", "equivalence": "equivalent"}]}
    group = {"source": "http://s", "element": [element], "unmapped": {"mode": "provided"}}
    r4 = {**CM_R4, "group": [group]}
    r5 = to_r5(r4)
    parse(r5, "r5")
    assert r5["group"][0]["unmapped"] == {"mode": "use-source-code"}
    assert to_r4(r5) == r4
    # R5-only elements of unmapped travel in R4 as the 5.0 cross-version extensions
    r5["group"][0]["unmapped"] |= {"relationship": "equivalent", "valueSet": "http://vs"}
    r4_form = to_r4(r5)
    parse(r4_form, "r4")
    assert "relationship" not in r4_form["group"][0]["unmapped"]
    assert to_r5(r4_form)["group"][0]["unmapped"] == {
        "mode": "use-source-code",
        "relationship": "equivalent",
        "valueSet": "http://vs",
    }
