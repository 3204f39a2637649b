"""Read: one stored CodeSystem / ValueSet / ConceptMap by id (or one of our own
OperationDefinitions), as `_summary` / `_elements` ask, from the asked FHIR release's
resources (the /r4 read of administrative-gender is its 4.0.1 copy).

A `_summary=true` read of an HCPCS CodeSystem leaves its concepts out (they are not summary
elements): a few KB instead of about 13.5 MB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codesystem.fhir_types import Resource
from terminology.resolver import unknown_resource
from terminology.rest import DEFINITIONS, capabilities, check_type
from terminology.rest.views import Query, read_view

if TYPE_CHECKING:
    from terminology.engine import Engine

_DEFINED = {d["id"]: d for d in capabilities.operation_definitions()}


def read(
    engine: Engine,
    resource_type: str,
    id: str,
    query: Query | None = None,
    fhir_version: str | None = None,
) -> Resource:
    """The stored resource as fhir_version's endpoint sees it (cut down as `_summary` /
    `_elements` in query ask), or a 404 OperationOutcome naming what was asked."""
    check_type(resource_type, searchable=True)
    if resource_type == DEFINITIONS:
        found = _DEFINED.get(id)
    else:
        found = engine.resource(resource_type, id, fhir_version)
    if found is None:
        raise unknown_resource(resource_type, id)
    return read_view(found, query) if query else found


def operation_definitions() -> list[Resource]:
    """Our own OperationDefinitions (what a search of OperationDefinition runs over)."""
    return list(_DEFINED.values())
