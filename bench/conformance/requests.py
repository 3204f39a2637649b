"""Build the HTTP request of one test exactly as the official runner sends it.

Body: the test's request Parameters (+ ``lenient-display-validation`` when the test sets
``lenient-display``) + every ``setup`` resource of the suite as a ``tx-resource`` parameter
+ the ``profile`` parameters (parameters-default.json adds a ``uuid`` the server must
ignore). Headers: Accept-Language and the manifest ``header``,
plus ``X-Request-Id: txTests:<suite>/<test>`` so server logs name the test.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .manifest import Manifest, TestCase

FHIR_JSON = "application/fhir+json"

# operation -> (HTTP method, path relative to the FHIR base); validate-code picks GET or POST
OPERATIONS: dict[str, tuple[str, str]] = {
    "expand": ("POST", "ValueSet/$expand"),
    "validate-code": ("AUTO", "ValueSet/$validate-code"),
    "cs-validate-code": ("AUTO", "CodeSystem/$validate-code"),
    "lookup": ("POST", "CodeSystem/$lookup"),
    "translate": ("POST", "ConceptMap/$translate"),
    "subsumes": ("POST", "CodeSystem/$subsumes"),
    "batch-validate": ("POST", "ValueSet/$batch-validate-code"),
    "batch": ("POST", ""),
    "metadata": ("GET", "metadata"),
    "term-caps": ("GET", "metadata?mode=terminology"),
}


class UnsupportedOperation(Exception):
    """The manifest names an operation the runner cannot send (``compare``: tx.fhir.org only)."""


@dataclass
class HttpRequest:
    """Everything needed to send one test: no I/O here, so it can be inspected and tested."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None = None
    query: list[tuple[str, str]] = field(default_factory=list)


def build_request(
    case: TestCase,
    manifest: Manifest,
    convert: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> HttpRequest:
    """The request for case; convert (R5 -> R4 for ``--fhir-version r4``) is applied to the
    finished body, tx-resources included. Raises MissingFile, UnsupportedOperation."""
    if case.operation not in OPERATIONS:
        raise UnsupportedOperation(f"operation '{case.operation}' is not supported by the runner")
    method, path = OPERATIONS[case.operation]
    headers = {"Accept": FHIR_JSON, "X-Request-Id": f"txTests:{case.key}"}
    if case.accept_language:
        headers["Accept-Language"] = case.accept_language
    if case.header:
        name, value = case.header
        headers[name] = value
    setup = [manifest.read(name, exact=False) for name in case.setup]
    if case.operation in ("metadata", "term-caps"):
        return HttpRequest("GET", path, headers)
    profile = manifest.read(case.profile_file, exact=False).get("parameter", [])
    body = manifest.read(case.request_file, exact=False) if case.request_file else None
    if body is None:
        body = {"resourceType": "Parameters"}
    if case.operation == "batch":
        body = _batch_body(body, setup, profile)
    else:
        parameters = body.setdefault("parameter", [])
        if case.lenient_display is not None:
            flag = {"name": "lenient-display-validation", "valueBoolean": case.lenient_display}
            parameters.append(flag)
        parameters += [{"name": "tx-resource", "resource": r} for r in setup]
        parameters += copy.deepcopy(profile)
    if method == "AUTO":
        query = _as_query(body)
        if query is not None:
            return HttpRequest("GET", path, headers, None, query)
        method = "POST"
    if convert is not None:
        body = convert(body)
    headers["Content-Type"] = FHIR_JSON
    return HttpRequest(method, path, headers, body)


def _batch_body(
    bundle: dict[str, Any], setup: list[dict[str, Any]], profile: list[dict[str, Any]]
) -> dict[str, Any]:
    """A batch Bundle: setup resources go on the first entry, profile parameters on each."""
    entries = bundle.get("entry", [])
    for index, entry in enumerate(entries):
        parameters = entry.setdefault("resource", {}).setdefault("parameter", [])
        if index == 0:
            parameters += [{"name": "tx-resource", "resource": r} for r in setup]
        parameters += copy.deepcopy(profile)
    return bundle


def _as_query(parameters: dict[str, Any]) -> list[tuple[str, str]] | None:
    """The Parameters as a query string when every parameter is a primitive, else None."""
    query: list[tuple[str, str]] = []
    for parameter in parameters.get("parameter", []):
        values = [k for k in parameter if k.startswith("value")]
        if "resource" in parameter or "part" in parameter or len(values) != 1:
            return None
        value = parameter[values[0]]
        if isinstance(value, dict | list):
            return None
        query.append((parameter["name"], primitive_text(value)))
    return query


def primitive_text(value: Any) -> str:
    """A JSON primitive as FHIR writes it in a URL or compares it: true/false, 1.0, text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
