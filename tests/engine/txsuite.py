"""A small dev harness over the tx-ecosystem suites: build each request, run the Engine
directly, compare with the expected file (placeholder-aware). Not the product runner."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fhir.resources.operationoutcome import OperationOutcome
from fhir.resources.parameters import Parameters
from fhir.resources.valueset import ValueSet

from terminology.engine import Engine, OperationRequest
from terminology.loader import load_files, shipped_fhir_core
from terminology.outcome import TerminologyError

OPERATIONS = {
    "expand": ("expand", "ValueSet"),
    "validate-code": ("validate-code", "ValueSet"),
    "cs-validate-code": ("validate-code", "CodeSystem"),
    "lookup": ("lookup", "CodeSystem"),
    "translate": ("translate", "ConceptMap"),
    "batch-validate": ("batch-validate-code", "ValueSet"),
}
SCRUB = {"meta", "text", "diagnostics"}
MODELS = {"Parameters": Parameters, "ValueSet": ValueSet, "OperationOutcome": OperationOutcome}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8-sig"))


@dataclass
class Case:
    suite: str
    name: str
    test: dict
    setup: list[str]


def cases(root: Path, suites: set[str] | None = None) -> list[Case]:
    """Tests of the general mode (and no test-level mode), optionally limited to suites."""
    manifest = load(root / "test-cases.json")
    out = []
    for suite in manifest["suites"]:
        if suite.get("mode") != "general" or (suites and suite["name"] not in suites):
            continue
        for test in suite["tests"]:
            if test.get("mode") or test["operation"] not in OPERATIONS:
                continue
            out.append(Case(suite["name"], test["name"], test, suite.get("setup", [])))
    return out


def run_case(root: Path, case: Case, externals: dict) -> str | None:
    """Run one test; None when it passes, else the first difference."""
    test = case.test
    params = load(root / test["request"])
    params.setdefault("parameter", [])
    profile = load(root / test.get("profile", "parameters-default.json"))
    params["parameter"] += profile.get("parameter", [])
    for name in case.setup:
        params["parameter"].append({"name": "tx-resource", "resource": load(root / name)})
    operation, rtype = OPERATIONS[test["operation"]]
    engine = Engine(_fhir_core())
    request = OperationRequest(operation, rtype, params, languages=test.get("Accept-Language"))
    status = 200
    try:
        actual = engine.run(request)
    except TerminologyError as error:
        status, actual = error.status, error.outcome
    problem = _parses(actual)
    if problem and all(_source_valid(root, name) for name in case.setup):
        return problem
    expected_code = test.get("http-code", "2xx")
    if str(status)[0] != expected_code[0]:
        return f"http {status} != {expected_code}: {json.dumps(actual)[:600]}"
    rfile = test["response"]  # the default run is not in `flat` mode
    expected = load(root / rfile)
    ext = externals.get(rfile, {})
    return compare(normalise(expected), normalise(scrub(actual)), "", ext)


@cache
def _fhir_core() -> tuple[dict, ...]:
    """The FHIR core resources a fresh store holds (administrative-gender ...)."""
    return tuple(load_files(shipped_fhir_core()))


def _parses(resource: dict) -> str | None:
    """Every answer must be a valid R5 resource (fhir.resources models)."""
    model = MODELS.get(resource.get("resourceType"))
    if model is None:
        return f"unexpected resource type {resource.get('resourceType')}"
    try:
        model.model_validate(resource)
    except ValueError as error:
        return f"not a valid R5 {resource['resourceType']}: {str(error)[:300]}"
    return None


@cache
def _source_valid(root: Path, name: str) -> bool:
    """Whether a suite resource is itself valid R5 (garbage in excuses garbage out)."""
    resource = load(root / name)
    if resource.get("resourceType") != "ValueSet":
        return True
    try:
        ValueSet.model_validate(resource)
    except ValueError:
        return False
    return True


def scrub(value):
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in SCRUB and (key != "text" or isinstance(item, dict)):
                continue
            out[key] = scrub(item)
        return out
    if isinstance(value, list):
        return [scrub(item) for item in value]
    return value


def _issue_key(issue: dict) -> tuple:
    return (
        issue.get("severity", ""),
        issue.get("code", ""),
        ",".join(issue.get("expression", [])),
        issue.get("details", {}).get("text", ""),
    )


def _parameter_key(parameter: dict) -> tuple:
    if parameter.get("name") != "property":
        return (parameter.get("name", ""), "")
    code = next(
        (p.get("valueCode", "") for p in parameter.get("part", []) if p.get("name") == "code"), ""
    )
    return ("property", code)


def _part_key(part: dict) -> tuple:
    return (part.get("name", ""), json.dumps({k: v for k, v in part.items() if k != "name"}))


def _expansion_parameter_key(parameter: dict) -> tuple[str, str]:
    value = next(
        (v for k, v in parameter.items() if k.startswith("value") and not isinstance(v, dict)),
        "",
    )
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return (parameter.get("name", ""), text)


def normalise(value):
    """Sort the arrays the official runner sorts and split messages."""
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: normalise(v) for k, v in value.items()}
    if out.get("resourceType") == "Parameters" and "parameter" in out:
        out["parameter"] = sorted(out["parameter"], key=_parameter_key)
        for p in out["parameter"]:
            if p.get("name") == "message" and "valueString" in p and "$" not in p["valueString"]:
                p["valueString"] = "; ".join(sorted(p["valueString"].split("; ")))
    if out.get("resourceType") == "OperationOutcome" and "issue" in out:
        out["issue"] = sorted(out["issue"], key=_issue_key)
    if "contains" in out:
        out["contains"] = sorted(out["contains"], key=lambda c: c.get("code", ""))
        for item in out["contains"]:
            if isinstance(item.get("property"), list):
                item["property"] = sorted(item["property"], key=lambda p: p.get("code", ""))
    if "timestamp" in out and isinstance(out.get("parameter"), list):  # as the runner
        out["parameter"] = sorted(out["parameter"], key=_expansion_parameter_key)
    if "contains" in out or "timestamp" in out:  # an expansion: properties by uri, code
        key = lambda p: (p.get("uri", ""), p.get("code", ""))  # noqa: E731
        if isinstance(out.get("property"), list):
            out["property"] = sorted(out["property"], key=key)
    if out.get("name") == "property" and "part" in out:
        out["part"] = sorted(out["part"], key=_part_key)
    return out


def _optional(value) -> bool:
    return isinstance(value, dict) and bool(value.get("$optional$"))


def compare(expected, actual, path: str, ext: dict) -> str | None:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected object, got {actual!r}"[:400]
        allowed = set(expected.get("$optional-properties$", []))
        for key in actual:
            if key not in expected and key not in allowed:
                return f"{path}.{key}: unexpected {json.dumps(actual[key])[:300]}"
        for key, value in expected.items():
            if key.startswith("$") and key.endswith("$"):
                continue
            if key not in actual:
                if _optional(value) or key in allowed:
                    continue
                if isinstance(value, list) and all(_optional(v) for v in value):
                    continue
                return f"{path}.{key}: missing (expected {json.dumps(value)[:200]})"
            diff = compare(value, actual[key], f"{path}.{key}", ext)
            if diff:
                return diff
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{path}: expected array"
        i = 0
        for j, item in enumerate(expected):
            if i < len(actual) and compare(item, actual[i], "", ext) is None:
                i += 1
                continue
            if _optional(item):
                continue
            if i >= len(actual):
                return f"{path}[{j}]: missing {json.dumps(item)[:300]}"
            return compare(item, actual[i], f"{path}[{i}]", ext)
        if i < len(actual):
            return f"{path}[{i}]: unexpected {json.dumps(actual[i])[:300]}"
        return None
    if isinstance(expected, str) and expected.startswith("$") and expected.endswith("$"):
        return _placeholder(expected, actual, path, ext)
    if isinstance(expected, str) and "$version$" in expected:  # the engine speaks R5
        expected = expected.replace("$version$", "5.0.0")
    if expected != actual:
        return f"{path}: expected {expected!r}, got {actual!r}"[:600]
    return None


def _placeholder(expected: str, actual, path: str, ext: dict) -> str | None:
    body = expected[1:-1]
    ok = True
    if body.startswith("external:"):
        key = body.split(":")[1]
        if key in ext:
            want = ext[key]
            if "; " in want and isinstance(actual, str):
                want = "; ".join(sorted(want.split("; ")))
            ok = actual == want
            expected = want
        else:
            ok = all(f in str(actual) for f in body.split(":")[2:] if f)
    elif body.startswith("choice:"):
        ok = actual in body[7:].split("|")
    elif body.startswith("fragments:"):
        ok = all(f in str(actual) for f in body[10:].split("|"))
    elif body == "uuid":
        ok = isinstance(actual, str) and re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", actual) is not None
    elif body == "instant":
        ok = isinstance(actual, str) and re.match(r"\d{4}-\d\d-\d\dT", actual) is not None
    elif body in ("", "string", "id", "token", "url", "date", "semver", "version"):
        ok = isinstance(actual, str)
    if ok:
        return None
    return f"{path}: expected {expected!r}, got {actual!r}"[:600]
