"""Engine fixtures: the tx-ecosystem test resources and the real 2020 HCPCS release."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.operationoutcome import OperationOutcome
from fhir.resources.parameters import Parameters
from fhir.resources.valueset import ValueSet

import codesystem
from terminology.engine import Engine, OperationRequest
from terminology.outcome import TerminologyError
from tests.conftest import shared_file

HCPCS = codesystem.HCPCS_URL
SIMPLE = "http://hl7.org/fhir/test/CodeSystem/simple"
MODELS = {"Parameters": Parameters, "ValueSet": ValueSet, "OperationOutcome": OperationOutcome}


def tx_resource(relative: str) -> dict:
    path = shared_file(f"tx-ecosystem/{relative}")
    return json.loads(Path(path).read_text(encoding="utf-8-sig"))


@pytest.fixture(scope="session")
def simple_engine() -> Engine:
    names = [
        "simple/codesystem-simple.json",
        "simple/valueset-all.json",
        "simple/valueset-enumerated.json",
        "simple/valueset-filter-isa.json",
        "simple/valueset-filter-regex.json",
        "simple/valueset-filter-property.json",
        "simple/valueset-import.json",
        "exclude/codesystem-exclude.json",
        "exclude/valueset-exclude.json",
        "translate/codesystem-source.json",
        "translate/codesystem-target.json",
        "translate/ConceptMap-full.json",
    ]
    return Engine([tx_resource(n) for n in names])


@pytest.fixture(scope="session")
def hcpcs_resources() -> list[dict]:
    zip_path = shared_file("data/hcpcs/cms-2020-annual/2020-Alpha-Numeric-HCPCS-File.zip")
    release = codesystem.read_release(zip_path)
    return [codesystem.to_fhir(release), *codesystem.hcpcs_valuesets(release)]


@pytest.fixture(scope="session")
def hcpcs(hcpcs_resources) -> Engine:
    return Engine(hcpcs_resources, codesystem.HCPCS_ALIASES)


def params(**values) -> dict:
    """A Parameters resource from keyword arguments: name__Type=value (the type defaults from
    the Python value; `_` in a name stands for `-`)."""
    out = []
    for key, value in values.items():
        name, _, kind = key.partition("__")
        name = name.replace("_", "-")
        if not kind:
            kind = {bool: "Boolean", int: "Integer", dict: "Coding"}.get(type(value), "String")
        if kind == "resource":
            out.append({"name": name, "resource": value})
        else:
            out.append({"name": name, f"value{kind}": value})
    return {"resourceType": "Parameters", "parameter": out}


def run(engine: Engine, operation: str, rtype: str, instance: str | None = None, **values):
    """Run and check the answer parses with the fhir.resources R5 models."""
    result = engine.run(OperationRequest(operation, rtype, params(**values), instance))
    MODELS[result["resourceType"]].model_validate(result)
    return result


def validate_in(engine: Engine, value_set: str, **values) -> dict:
    """$validate-code against the ValueSet at url value_set: most validate tests make this
    request, so each names only what it varies."""
    return run(engine, "validate-code", "ValueSet", url__Uri=value_set, **values)


def validate_in_system(engine: Engine, system: str, **values) -> dict:
    """$validate-code against the CodeSystem at url system, as validate_in is for value sets."""
    return run(engine, "validate-code", "CodeSystem", url__Uri=system, **values)


def fail(engine: Engine, operation: str, rtype: str, **values) -> TerminologyError:
    """Run expecting a TerminologyError; its outcome must parse too."""
    with pytest.raises(TerminologyError) as caught:
        engine.run(OperationRequest(operation, rtype, params(**values)))
    OperationOutcome.model_validate(caught.value.outcome)
    return caught.value


def get(result: dict, name: str, default=None):
    """The value of the first parameter called name."""
    for parameter in result["parameter"]:
        if parameter["name"] == name:
            return next((v for k, v in parameter.items() if k.startswith("value")), parameter)
    return default


def issues(result: dict) -> list[dict]:
    outcome = get(result, "issues")
    return outcome["resource"]["issue"] if outcome else []


def tx_codes(found: list[dict]) -> list[str]:
    return [i["details"].get("coding", [{}])[0].get("code") for i in found]
