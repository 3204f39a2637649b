"""Read: one stored CodeSystem / ValueSet / ConceptMap by id."""

from __future__ import annotations

from typing import TYPE_CHECKING

from terminology.outcome import TerminologyError, not_found
from terminology.registry import TYPES

if TYPE_CHECKING:
    from terminology.engine import Engine


def read(engine: Engine, resource_type: str, id: str) -> dict:
    """The stored resource, or a 404 OperationOutcome naming what was asked."""
    check_type(resource_type)
    found = engine.resource(resource_type, id)
    if found is None:
        raise not_found("UNKNOWN_RESOURCE_ID", resource_type, id)
    return found


def check_type(resource_type: str) -> None:
    """Only terminology resources are served: any other type is a 404, not an empty result."""
    if resource_type not in TYPES:
        text = f"Resource type '{resource_type}' is not supported by this server"
        issue = {"severity": "error", "code": "not-supported", "details": {"text": text}}
        raise TerminologyError(404, {"resourceType": "OperationOutcome", "issue": [issue]})
