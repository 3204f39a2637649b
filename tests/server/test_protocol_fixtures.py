"""Shared material for the protocol tests (tests/server/test_protocol_*.py): a small body-part
code system with a hierarchy, properties and retired designations, a region code system, and
concept maps that use every part of ConceptMap.group the $translate tests need; the server
over them (R4 and R5), every answer parsed with fhir.resources (R4B models for /r4)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from terminology.api import create_app
from terminology.engine import Engine
from tests.server.conftest import parse

BODY = "http://example.org/fhir/CodeSystem/body"
REGION = "http://example.org/fhir/CodeSystem/region"
COPY = "http://example.org/fhir/CodeSystem/body-copy"
MAP = "http://example.org/fhir/ConceptMap/body-region"
FALLBACK = "http://example.org/fhir/ConceptMap/body-region-fallback"
IDENTITY = "http://example.org/fhir/ConceptMap/body-copy"
STATUS_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"
BASES = pytest.mark.parametrize("base", ["r4", "r5"])


def _concept(code: str, display: str, side: str, *children: dict, **extra) -> dict:
    concept = {
        "code": code,
        "display": display,
        "property": [{"code": "side", "valueCode": side}],
        **extra,
    }
    if children:
        concept["concept"] = list(children)
    return concept


RETIRED_DESIGNATIONS = [
    {
        "language": "en",
        "value": "Upper limb (old)",
        "extension": [{"url": STATUS_EXT, "valueCode": "withdrawn"}],
    },
    {
        "language": "en",
        "value": "Brachium",
        "extension": [{"url": STATUS_EXT, "valueCode": "deprecated"}],
    },
]

BODY_CS = {
    "resourceType": "CodeSystem",
    "id": "body",
    "url": BODY,
    "version": "1.0.0",
    "name": "Body",
    "status": "active",
    "content": "complete",
    "hierarchyMeaning": "is-a",
    "property": [{"code": "side", "uri": "http://example.org/side", "type": "code"}],
    "concept": [
        _concept(
            "body",
            "Body",
            "none",
            _concept(
                "limb",
                "Limb",
                "both",
                _concept(
                    "arm",
                    "Arm",
                    "both",
                    _concept("hand", "Hand", "both"),
                    designation=RETIRED_DESIGNATIONS,
                ),
                _concept("leg", "Leg", "both"),
            ),
            _concept("head", "Head", "none"),
        )
    ],
}
REGION_CS = {
    "resourceType": "CodeSystem",
    "id": "region",
    "url": REGION,
    "version": "1",
    "name": "Region",
    "status": "active",
    "content": "complete",
    "concept": [{"code": c, "display": c.title()} for c in ("upper", "lower", "other", "unknown")],
}
MAP_CM = {
    "resourceType": "ConceptMap",
    "id": "body-region",
    "url": MAP,
    "version": "1",
    "name": "BodyRegion",
    "status": "active",
    "group": [
        {
            "source": BODY,
            "target": REGION,
            "element": [
                {
                    "code": "arm",
                    "target": [
                        {"code": "upper", "relationship": "equivalent", "comment": "arms are upper"}
                    ],
                },
                {
                    "code": "leg",
                    "target": [{"code": "lower", "relationship": "source-is-narrower-than-target"}],
                },
                {"code": "hand", "target": [{"code": "upper", "relationship": "not-related-to"}]},
                {"code": "head", "noMap": True},
            ],
            "unmapped": {"mode": "other-map", "otherMap": FALLBACK},
        }
    ],
}
FALLBACK_CM = {
    "resourceType": "ConceptMap",
    "id": "body-region-fallback",
    "url": FALLBACK,
    "version": "2",
    "name": "BodyRegionFallback",
    "status": "active",
    "group": [
        {
            "source": BODY,
            "target": REGION,
            "element": [
                {"code": "limb", "target": [{"code": "other", "relationship": "related-to"}]}
            ],
            "unmapped": {"mode": "fixed", "code": "unknown", "relationship": "related-to"},
        }
    ],
}
IDENTITY_CM = {
    "resourceType": "ConceptMap",
    "id": "body-copy",
    "url": IDENTITY,
    "version": "1",
    "name": "BodyCopy",
    "status": "active",
    "group": [
        {
            "source": BODY,
            "target": COPY,
            "element": [
                {"code": "body", "target": [{"code": "whole", "relationship": "equivalent"}]}
            ],
            "unmapped": {"mode": "use-source-code", "relationship": "equivalent"},
        }
    ],
}
SIDED_VS = {
    "resourceType": "ValueSet",
    "id": "sided",
    "url": "http://example.org/fhir/ValueSet/sided",
    "version": "1",
    "name": "Sided",
    "status": "active",
    "compose": {
        "include": [
            {"system": BODY, "filter": [{"property": "concept", "op": "is-a", "value": "limb"}]}
        ],
        "property": ["side"],
    },
}
RESOURCES = [BODY_CS, REGION_CS, MAP_CM, FALLBACK_CM, IDENTITY_CM, SIDED_VS]


def make_client() -> TestClient:
    """The server over RESOURCES (each test module keeps one: its `client` fixture)."""
    return TestClient(create_app(Engine(RESOURCES)))


def post(client: TestClient, base: str, path: str, parameters: list[dict]) -> tuple[int, dict]:
    """POST a Parameters body to /{base}/{path}; the answer parsed with fhir.resources."""
    body = {"resourceType": "Parameters", "parameter": parameters}
    response = client.post(f"/{base}/{path}", json=body)
    answer = response.json()
    parse(answer, base)
    return response.status_code, answer


def get(client: TestClient, base: str, path: str, **query: str) -> tuple[int, dict]:
    response = client.get(f"/{base}/{path}", params=query)
    answer = response.json()
    parse(answer, base)
    return response.status_code, answer


def value(parameters: dict, name: str):
    """The value of the first parameter called name (None when absent)."""
    for parameter in parameters.get("parameter", []):
        if parameter["name"] == name:
            return next((v for k, v in parameter.items() if k.startswith("value")), None)
    return None


def named(parameters: dict, name: str) -> list[dict]:
    return [p for p in parameters.get("parameter", []) if p["name"] == name]


def parts(match: dict) -> dict[str, list]:
    """A match's parts by name -> their values (a name may repeat in R4: never here)."""
    found: dict[str, list] = {}
    for part in match["part"]:
        found.setdefault(part["name"], []).append(
            next(v for k, v in part.items() if k.startswith("value"))
        )
    return found


def issues(parameters_or_outcome: dict) -> list[dict]:
    if parameters_or_outcome["resourceType"] == "OperationOutcome":
        return parameters_or_outcome["issue"]
    found = [p for p in parameters_or_outcome["parameter"] if p["name"] == "issues"]
    return found[0]["resource"]["issue"] if found else []


def tx_type(issue: dict) -> str | None:
    codings = issue.get("details", {}).get("coding", [])
    return codings[0]["code"] if codings else None
