"""Calling an operation the way a client does (GET query or POST Parameters) and reading
the answer."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .conftest import parse

BASES = ("r4", "r5")
METHODS = ("GET", "POST")
CASES = [(base, method) for base in BASES for method in METHODS]


def _query_value(parameter: dict) -> str:
    for key, value in parameter.items():
        if key == "valueCoding":
            return f"{value.get('system', '')}|{value['code']}".lstrip("|")
        if key.startswith("value"):
            return str(value).lower() if isinstance(value, bool) else str(value)
    raise ValueError(f"no query form for {parameter}")


def call(
    client: TestClient, base: str, method: str, path: str, parameters: list[dict], **kwargs
) -> tuple[int, dict]:
    """The status and the parsed JSON body of an operation call; the body is checked to
    parse with fhir.resources (R4B models on /r4, R5 models on /r5)."""
    if method == "GET":
        query = [(p["name"], _query_value(p)) for p in parameters]
        response = client.get(f"/{base}/{path}", params=query, **kwargs)
    else:
        body = {"resourceType": "Parameters", "parameter": parameters}
        response = client.post(f"/{base}/{path}", json=body, **kwargs)
    assert response.headers["content-type"] == "application/fhir+json"
    resource = response.json()
    parse(resource, base)
    return response.status_code, resource


def values(parameters: dict) -> dict:
    """name -> value[x] of the top-level parameters (the last one wins when repeated)."""
    found = {}
    for parameter in parameters.get("parameter", []):
        for key, value in parameter.items():
            if key.startswith("value") or key == "resource":
                found[parameter["name"]] = value
    return found


def parts(parameters: dict, name: str) -> list[dict]:
    """Each repeat of a part parameter as {part name: value}."""
    result = []
    for parameter in parameters.get("parameter", []):
        if parameter["name"] == name:
            result.append(values({"parameter": parameter.get("part", [])}))
    return result
