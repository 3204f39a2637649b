"""Read: one stored CodeSystem / ValueSet / ConceptMap by id (or one of our own
OperationDefinitions), as `_summary` / `_elements` ask.

A `_summary=true` read of an HCPCS CodeSystem leaves its concepts out (they are not summary
elements): a few KB instead of about 13.5 MB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from terminology.operations import metadata
from terminology.outcome import TerminologyError, not_found
from terminology.registry import TYPES

if TYPE_CHECKING:
    from terminology.engine import Engine

DEFINITIONS = "OperationDefinition"
SEARCHABLE = (*TYPES, DEFINITIONS)
_DEFINED = {d["id"]: d for d in metadata.operation_definitions()}


def read(engine: Engine, resource_type: str, id: str, query: list | None = None) -> dict:
    """The stored resource (cut down as `_summary` / `_elements` in query ask), or a 404
    OperationOutcome naming what was asked."""
    from terminology.operations.search import read_view

    check_type(resource_type, searchable=True)
    own = resource_type == DEFINITIONS
    found = _DEFINED.get(id) if own else engine.resource(resource_type, id)
    if found is None:
        raise not_found("UNKNOWN_RESOURCE_ID", resource_type, id)
    return read_view(found, query) if query else found


def operation_definitions() -> list[dict]:
    """Our own OperationDefinitions (what a search of OperationDefinition runs over)."""
    return list(_DEFINED.values())


def check_type(resource_type: str, searchable: bool = False) -> None:
    """Only terminology resources are served (and, for read and search, our own
    OperationDefinitions): any other type is a 404, not an empty result."""
    if resource_type not in (SEARCHABLE if searchable else TYPES):
        text = f"Resource type '{resource_type}' is not supported by this server"
        raise TerminologyError.plain(404, "not-supported", text)
