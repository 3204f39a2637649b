"""The OpenAPI 3 description of the HTTP API (/openapi.json, shown by /docs).

The FHIR routes are raw (api.py: no pydantic models, no FastAPI validation on the hot
path), so FastAPI cannot infer their parameters: they are declared here from the tables the
server runs on — each operation's input parameters and their FHIR types
(params.PARAMETER_TYPES), the operations routed (capabilities.OPERATIONS), the search
parameters (rest/search.py) — with examples taken from the data being served. Every
other route of the app (health, readiness, the web pages) is listed from the app's route
table. Schema-driven tools (schemathesis, client generators) can drive the API from it.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, TypeAlias, TypedDict

from starlette.applications import Starlette

from codesystem import HCPCS_URL
from codesystem.fhir_types import Resource
from terminology.params import PARAMETER_TYPES
from terminology.registry import TYPES, preference_key
from terminology.rest import capabilities, search, views

VERSION = "3.0.3"
FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
FORM = "application/x-www-form-urlencoded"
SEARCHED = (*TYPES, "OperationDefinition")

OpenAPI: TypeAlias = dict[str, Any]
"""An object of the OpenAPI document (JSON): the document, a path item, a schema..."""


class Examples(TypedDict):
    """Example values for the document, from the data served (see _examples)."""

    system: str
    valueset: str
    conceptmap: str
    versions: list[str]
    id: dict[str, str | None]  # resource type -> an id held
    values: dict[str, object]  # operation parameter -> an example value
    search: dict[str, dict[str, str]]  # resource type -> search parameter -> example


class Served(Protocol):
    """What the examples are taken from: the engine an app serves."""

    def resources(self, resource_type: str) -> list[Resource]: ...


_SCHEMAS: dict[str, OpenAPI] = {
    "boolean": {"type": "boolean"},
    "integer": {"type": "integer", "minimum": 0},
    "Coding": {"type": "string", "description": "A Coding written system|code"},
    "dateTime": {"type": "string", "description": "A FHIR date or dateTime (YYYY[-MM[-DD]])"},
}
_REF = {"$ref": "#/components/schemas/Resource"}
_OUTCOME = {"$ref": "#/components/responses/Failure"}


def document(app: Starlette) -> OpenAPI:
    """The OpenAPI document of an app made by api.create_app (examples from the data it
    serves now)."""
    examples = _examples(getattr(app.state, "engine", None))
    paths: dict[str, OpenAPI] = {}
    _fhir_paths(paths, examples)
    _other_paths(paths, app)
    return {
        "openapi": VERSION,
        "info": {
            "title": "hcpcs-tx: HCPCS Level II FHIR terminology server",
            "version": capabilities.SOFTWARE_VERSION,
            "description": (
                "FHIR R4 (/r4, /fhir) and R5 (/r5) terminology operations, read and search"
                " over every stored CMS HCPCS release; errors are OperationOutcomes. See"
                " docs/http.md for caching (ETag, If-None-Match), compression, CORS and"
                " Bundles."
            ),
        },
        "tags": [{"name": kind} for kind in (*SEARCHED, "server", "web")],
        "paths": paths,
        "components": _components(),
    }


# --- FHIR routes ------------------------------------------------------------------------------


def _fhir_paths(paths: dict[str, OpenAPI], examples: Examples) -> None:
    for kind, operation, definition in capabilities.OPERATIONS:
        table = PARAMETER_TYPES.get(operation, {})
        for instance in (False, True):
            path = f"/{{base}}/{kind}/{{id}}/${operation}" if instance else None
            path = path or f"/{{base}}/{kind}/${operation}"
            tag = f"{kind}_{operation.replace('-', '_')}{'_instance' if instance else ''}"
            shared = [_BASE, *([_id(kind, examples)] if instance else [])]
            summary = f"{kind}/{'{id}/' if instance else ''}${operation}"
            query = [_query(name, kind, operation, examples) for name in _get_names(table)]
            paths[path] = {
                "parameters": shared,
                "get": {
                    "tags": [kind],
                    "operationId": f"{tag}_get",
                    "summary": summary,
                    "description": f"FHIR operation ${operation} ({definition}), parameters"
                    " in the query.",
                    "parameters": [*query, _FORMAT, _LANGUAGE, _IF_NONE_MATCH, _COSTLY],
                    "responses": _ok(
                        "The operation's answer (Parameters, or a ValueSet for $expand)",
                        cached=True,
                    ),
                },
                "post": {
                    "tags": [kind],
                    "operationId": f"{tag}_post",
                    "summary": summary,
                    "description": f"FHIR operation ${operation} ({definition}) with a"
                    " Parameters resource (JSON or XML) or a form as the body.",
                    "parameters": [_FORMAT, _LANGUAGE, _COSTLY],
                    "requestBody": _parameters_body(table, kind, operation, examples),
                    "responses": _ok("The operation's answer"),
                },
            }
    for kind in SEARCHED:
        example_id = examples["id"].get(kind)
        paths[f"/{{base}}/{kind}"] = {
            "parameters": [_BASE],
            "get": {
                "tags": [kind],
                "operationId": f"{kind}_search",
                "summary": f"Search {kind}",
                "description": capabilities.SEARCH_DOC,
                "parameters": [*_search_params(kind, examples), _FORMAT, _PREFER, _IF_NONE_MATCH],
                "responses": _ok("A searchset Bundle", cached=True),
            },
        }
        paths[f"/{{base}}/{kind}/_search"] = {
            "parameters": [_BASE],
            "post": {
                "tags": [kind],
                "operationId": f"{kind}_search_post",
                "summary": f"Search {kind} (parameters in a form body)",
                "parameters": [_FORMAT, _PREFER],
                "requestBody": {
                    "required": False,
                    "content": {FORM: {"schema": _search_form(kind, examples)}},
                },
                "responses": _ok("A searchset Bundle"),
            },
        }
        paths[f"/{{base}}/{kind}/{{id}}"] = {
            "parameters": [_BASE, {**_id(kind, examples), "example": example_id}],
            "get": {
                "tags": [kind],
                "operationId": f"{kind}_read",
                "summary": f"Read a {kind}",
                "description": "_summary=true leaves out the big elements (a CodeSystem's"
                " concepts); _elements keeps the ones named.",
                "parameters": [_SUMMARY_READ, _ELEMENTS, _FORMAT, _IF_NONE_MATCH],
                "responses": _ok(f"The {kind}", cached=True),
            },
        }
    paths["/{base}/metadata"] = {
        "parameters": [_BASE],
        "get": {
            "tags": ["server"],
            "operationId": "metadata",
            "summary": "CapabilityStatement, or TerminologyCapabilities with mode=terminology",
            "parameters": [
                _param(
                    "mode",
                    "query",
                    {"type": "string", "enum": ["full", "normative", "terminology"]},
                ),
                _FORMAT,
                _IF_NONE_MATCH,
            ],
            "responses": _ok("The statement", cached=True),
        },
    }
    paths["/{base}/$versions"] = {
        "parameters": [_BASE],
        **{
            method: {
                "tags": ["server"],
                "operationId": f"versions_{method}",
                "summary": "The FHIR versions served ($versions)",
                "parameters": [_FORMAT],
                "responses": _ok("Parameters: version (each), default"),
            }
            for method in ("get", "post")
        },
    }
    paths["/{base}"] = {
        "parameters": [_BASE],
        "post": {
            "tags": ["server"],
            "operationId": "bundle",
            "summary": "A batch or transaction Bundle of reads, searches and operations",
            "description": "Answered by a batch-response / transaction-response Bundle; at"
            " most HCPCS_TX_BUNDLE_MAX_ENTRIES entries (1,000 by default; more is a 413).",
            "parameters": [_FORMAT, _LANGUAGE],
            "requestBody": {
                "required": True,
                "content": {FHIR_JSON: {"schema": _REF, "example": _bundle_example(examples)}},
            },
            "responses": _ok("The batch-response or transaction-response Bundle"),
        },
    }


def _get_names(table: dict[str, str]) -> list[str]:
    return [name for name, kind in table.items() if kind != "Resource"]


def _query(name: str, kind: str, operation: str, examples: Examples) -> OpenAPI:
    fhir_type = PARAMETER_TYPES[operation][name]
    found = _param(name, "query", _SCHEMAS.get(fhir_type, {"type": "string"}))
    found["description"] = f"FHIR type {fhir_type}"
    example = _example(name, kind, operation, examples)
    if example is not None:
        found["example"] = example
    return found


def _parameters_body(
    table: dict[str, str], kind: str, operation: str, examples: Examples
) -> OpenAPI:
    parameter = []
    for name in _get_names(table):
        example = _example(name, kind, operation, examples)
        if example is None:
            continue
        fhir_type = table[name]
        key = "value" + fhir_type[0].upper() + fhir_type[1:]
        if fhir_type == "Coding":
            system, _, code = str(example).rpartition("|")
            example = {"system": system, "code": code}
        parameter.append({"name": name, key: example})
    form = {
        "type": "object",
        "properties": {
            name: _SCHEMAS.get(fhir_type, {"type": "string"})
            for name, fhir_type in table.items()
            if fhir_type != "Resource"
        },
    }
    return {
        "required": True,
        "content": {
            FHIR_JSON: {
                "schema": {"$ref": "#/components/schemas/Parameters"},
                "example": {"resourceType": "Parameters", "parameter": parameter},
            },
            FHIR_XML: {"schema": {"type": "string"}},
            FORM: {"schema": form},
        },
    }


def _search_params(kind: str, examples: Examples) -> list[OpenAPI]:
    found = []
    for name in ("url", "version", "name", "title", "status", "_id"):
        parameter = _param(name, "query", {"type": "string"})
        example = examples["search"].get(kind, {}).get(name)
        if example:
            parameter["example"] = example
        found.append(parameter)
    return found + [
        _param("_summary", "query", {"type": "string", "enum": list(views.SUMMARIES)}),
        _ELEMENTS,
        _param("_count", "query", {"type": "integer", "minimum": 0, "maximum": search.MAX_COUNT}),
        _param("_offset", "query", {"type": "integer", "minimum": 0}),
        _param("_total", "query", {"type": "string", "enum": list(search.TOTALS)}),
        {
            **_param("_sort", "query", {"type": "string"}),
            "description": f"Comma-separated {', '.join(search.SORTS)}; - for descending",
            "example": "-version",
        },
    ]


def _search_form(kind: str, examples: Examples) -> OpenAPI:
    properties = {p["name"]: p["schema"] for p in _search_params(kind, examples)}
    return {"type": "object", "properties": properties}


def _example(name: str, kind: str, operation: str, examples: Examples) -> object:
    if name == "url":
        return {
            "CodeSystem": examples["system"],
            "ValueSet": examples["valueset"],
            "ConceptMap": examples["conceptmap"],
        }[kind]
    if operation == "changes" and name in ("fromVersion", "toVersion"):
        versions = examples["versions"]
        return versions[0] if name == "fromVersion" else versions[-1]
    return examples["values"].get(name)


def _examples(engine: Served | None) -> Examples:
    """Example values from the data served (the default HCPCS release, its value sets)."""
    held = {kind: engine.resources(kind) if engine is not None else [] for kind in TYPES}
    hcpcs = [cs for cs in held["CodeSystem"] if cs.get("url") == HCPCS_URL]
    default = max(hcpcs, key=preference_key) if hcpcs else {}
    version = default.get("version", "2020-01")
    value_sets = [vs for vs in held["ValueSet"] if vs.get("version") == version]
    all_codes = next((vs for vs in value_sets if vs.get("name") == "HCPCSAllCodes"), None)
    maps = held["ConceptMap"]
    ids = {kind: (held[kind][0].get("id") if held[kind] else None) for kind in TYPES}
    ids["CodeSystem"] = default.get("id") or ids["CodeSystem"]
    ids["ValueSet"] = (all_codes or {}).get("id") or ids["ValueSet"]
    ids["OperationDefinition"] = "batch-validate-code"
    versions = sorted(cs["version"] for cs in hcpcs if cs.get("version")) or [version]
    return {
        "system": HCPCS_URL,
        "valueset": (all_codes or {}).get("url", HCPCS_URL + "?fhir_vs"),
        "conceptmap": (maps[0].get("url") if maps else None)
        or "https://hcpcs-tx.org/fhir/ConceptMap/x",
        "versions": versions,
        "id": ids,
        "values": {
            "system": HCPCS_URL,
            "code": "J0120",
            "version": version,
            "display": "Injection, tetracycline, up to 250 mg",
            "coding": f"{HCPCS_URL}|J0120",
            "property": "betos",
            "filter": "skin sub",
            "count": 10,
            "offset": 0,
            "date": "2020-08-15",
            "codeA": "J0120",
            "codeB": "J0130",
            "sourceCode": "C9408",
            "targetSystem": HCPCS_URL,
            "activeOnly": False,
        },
        "search": {
            "CodeSystem": {"url": HCPCS_URL, "version": version},
            "ValueSet": {"name": "HCPCSBETOS", "version": version},
            "OperationDefinition": {"_id": "batch-validate-code"},
        },
    }


def _bundle_example(examples: Examples) -> OpenAPI:
    lookup = f"CodeSystem/$lookup?system={HCPCS_URL}&code=J0120"
    validate = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": examples["valueset"]},
            {"name": "coding", "valueCoding": {"system": HCPCS_URL, "code": "E0100"}},
        ],
    }
    return {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": lookup}},
            {"request": {"method": "GET", "url": "ValueSet?name=HCPCSBETOS&_count=5"}},
            {
                "request": {"method": "POST", "url": "ValueSet/$validate-code"},
                "resource": validate,
            },
        ],
    }


# --- every other route --------------------------------------------------------------------


def _other_paths(paths: dict[str, OpenAPI], app: Starlette) -> None:
    """Routes not declared above (health, readiness, the web pages...), from the route
    table: path parameters from the route's template, summary from the endpoint's doc."""
    for route in getattr(app, "routes", []):
        template = getattr(route, "path", "")
        methods = sorted(m for m in (getattr(route, "methods", None) or ()) if m != "HEAD")
        if not template or not methods or template.startswith("/{base}"):
            continue
        if not getattr(route, "include_in_schema", True):
            continue
        path = re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", template)
        if path in paths:
            continue
        names = re.findall(r"\{(\w+)\}", path)
        doc = (getattr(route, "endpoint", None).__doc__ or "").strip().split("\n")[0]
        tag = "server" if path in ("/health", "/ready", "/openapi.json", "/docs") else "web"
        item: OpenAPI = {}
        if names:
            item["parameters"] = [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                for n in names
            ]
        for method in methods:
            operation_id = re.sub(r"\W+", "_", f"{method}{path}").strip("_").lower()
            item[method.lower()] = {
                "tags": [tag],
                "operationId": operation_id,
                "summary": doc or _SUMMARIES.get(path, f"{method} {path}"),
                "responses": {"200": {"description": "OK"}, "default": {"description": "Error"}},
            }
        paths[path] = item


_SUMMARIES = {
    "/health": "Liveness: 200 while the process answers",
    "/ready": "Readiness: 200 with the HCPCS releases served, 503 before any is loaded",
    "/openapi.json": "This document",
    "/docs": "Swagger UI over this document",
}


# --- shared pieces ------------------------------------------------------------------------


def _param(name: str, where: str, schema: OpenAPI) -> OpenAPI:
    return {"name": name, "in": where, "required": where == "path", "schema": schema}


def _id(kind: str, examples: Examples) -> OpenAPI:
    found = _param("id", "path", {"type": "string", "pattern": "^[A-Za-z0-9\\-\\.]{1,64}$"})
    example = examples["id"].get(kind)
    return {**found, "example": example} if example else found


def _ok(text: str, cached: bool = False) -> OpenAPI:
    found: OpenAPI = {
        "200": {
            "description": text,
            "content": {FHIR_JSON: {"schema": _REF}, FHIR_XML: {"schema": {"type": "string"}}},
        },
    }
    if cached:
        found["200"]["headers"] = {
            "ETag": {"schema": {"type": "string"}},
            "Last-Modified": {"schema": {"type": "string"}},
            "Cache-Control": {"schema": {"type": "string"}},
        }
        found["304"] = {"description": "Not modified: If-None-Match holds the current ETag"}
    for status in ("400", "404"):
        found[status] = _OUTCOME
    found["default"] = _OUTCOME
    return found


def _components() -> OpenAPI:
    resource = {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string"}},
        "additionalProperties": True,
    }
    parameters = {
        "type": "object",
        "required": ["resourceType"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["Parameters"]},
            "parameter": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}},
                    "additionalProperties": True,
                },
            },
        },
    }
    failure = {
        "description": "An OperationOutcome saying what went wrong",
        "content": {FHIR_JSON: {"schema": _REF}, FHIR_XML: {"schema": {"type": "string"}}},
    }
    return {
        "schemas": {"Resource": resource, "Parameters": parameters},
        "responses": {"Failure": failure},
    }


_BASE = {
    "name": "base",
    "in": "path",
    "required": True,
    "description": "r4 (FHIR 4.0.1), r5 (5.0.0) or fhir (= r4)",
    "schema": {"type": "string", "enum": ["r4", "r5", "fhir"]},
    "example": "r4",
}
_FORMAT = {
    **_param("_format", "query", {"type": "string", "enum": ["json", "xml", FHIR_JSON, FHIR_XML]}),
    "description": "json (the default) or xml; also the Accept header",
}
_LANGUAGE = {**_param("Accept-Language", "header", {"type": "string"}), "example": "en"}
_IF_NONE_MATCH = {
    **_param("If-None-Match", "header", {"type": "string"}),
    "description": "An ETag from an earlier answer: 304 while it is current",
}
_COSTLY = {
    **_param("X-TOO-COSTLY-THRESHOLD", "header", {"type": "integer", "minimum": 1}),
    "description": "A lower limit on an expansion's size",
}
_PREFER = {
    **_param(
        "Prefer", "header", {"type": "string", "enum": ["handling=lenient", "handling=strict"]}
    ),
    "description": "Unknown search parameters: ignored and reported (lenient, the default)"
    " or a 400 (strict)",
}
_ELEMENTS = {
    **_param("_elements", "query", {"type": "string"}),
    "description": "Comma-separated elements to keep",
    "example": "url,version,title",
}
_SUMMARY_READ = _param(
    "_summary", "query", {"type": "string", "enum": ["true", "false", "text", "data"]}
)
