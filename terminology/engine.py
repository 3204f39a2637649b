"""The engine facade: Engine(resources, aliases).run(OperationRequest) -> R5 resource dict.

Pure Python, no HTTP: the API, the CLI and the tests all call this.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from terminology.operations import (
    Context,
    batch,
    changes,
    expand,
    lookup,
    subsumes,
    translate,
    validate,
)
from terminology.outcome import TerminologyError
from terminology.params import Params
from terminology.registry import TYPES, Registry

Handler = Callable[[Context, "str | None"], dict]
_HANDLERS: dict[tuple[str, str], Handler] = {
    ("lookup", "CodeSystem"): lookup.run,
    ("validate-code", "CodeSystem"): validate.run_code_system,
    ("validate-code", "ValueSet"): validate.run_value_set,
    ("expand", "ValueSet"): expand.run,
    ("subsumes", "CodeSystem"): subsumes.run,
    ("translate", "ConceptMap"): translate.run,
    ("batch-validate-code", "ValueSet"): batch.run,
    ("changes", "CodeSystem"): changes.run,
}


@dataclass(frozen=True)
class OperationRequest:
    operation: str
    resource_type: str
    parameters: dict
    instance_id: str | None = None
    languages: str | None = None


class Engine:
    """Stored CodeSystem / ValueSet / ConceptMap resources and the operations over them."""

    def __init__(self, resources: Iterable[dict], aliases: Mapping[str, str] | None = None) -> None:
        self.registry = Registry(resources, aliases or {})

    def run(self, request: OperationRequest) -> dict:
        """Run one operation; raises TerminologyError on any failure."""
        handler = _HANDLERS.get((request.operation, request.resource_type))
        if handler is None:
            raise TerminologyError.of(
                400,
                "not-supported",
                None,
                "UNKNOWN_OPERATION",
                request.operation,
                request.resource_type,
            )
        params = Params(request.parameters)
        tx = [r for r in params.all("tx-resource") if isinstance(r, dict)]
        registry = self.registry.layer(tx)
        context = Context.build(registry, params, request.languages, stored_only=not tx)
        try:
            return handler(context, request.instance_id)
        except (TypeError, AttributeError, KeyError) as error:
            # Well-typed parameters can still carry malformed resources (a compose that is
            # a string, a coding without structure): refuse the content, do not crash.
            raise TerminologyError.of(
                422, "structure", "invalid-data", "MALFORMED_CONTENT", type(error).__name__
            ) from error

    def resources(self, resource_type: str) -> list[dict]:
        return self.registry.all(resource_type) if resource_type in TYPES else []

    def resource(self, resource_type: str, id: str) -> dict | None:
        return self.registry.by_id(resource_type, id) if resource_type in TYPES else None
