"""CodeSystem/$subsumes: how two codes of one code system relate in its hierarchy.

Errors follow the operation outcome conventions of the terminology service: a request that
cannot be tested as given (no system, two systems, no code) is 400 with issue code `invalid`
and tx-issue-type `invalid-data`; a code the code system does not hold is 404 with
`code-invalid` / `invalid-code`, an unknown code system 404 `not-found`; each issue names
the parameter at fault in `expression`.
"""

from __future__ import annotations

from codesystem.fhir_types import Resource
from terminology import resolver
from terminology.operations import Context
from terminology.outcome import TerminologyError, issue, operation_outcome
from terminology.providers import CodeSystemProvider


def _side(context: Context, name: str) -> tuple[str | None, str | None, str]:
    """(system, code, parameter name) of side A or B."""
    coding = context.params.get(f"coding{name}")
    if isinstance(coding, dict):
        return coding.get("system"), coding.get("code"), f"coding{name}"
    return None, context.params.get(f"code{name}"), f"code{name}"


def _refused(
    status: int, code: str, tx_type: str, key: str, *args: object, where: str
) -> TerminologyError:
    found = issue("error", code, tx_type, key, *args, expression=where)
    return TerminologyError(status, operation_outcome([found]))


def _code_system(
    context: Context, instance_id: str | None, sides: list[tuple[str | None, str | None, str]]
) -> CodeSystemProvider:
    registry = context.registry
    systems: dict[str, str] = {}  # canonical system -> the parameter that gave it
    if instance_id:
        resource = resolver.instance(registry, "CodeSystem", instance_id)
        systems[registry.canonical(resource.get("url", ""))] = "url"
    if context.params.get("system"):
        systems.setdefault(registry.canonical(str(context.params.get("system"))), "system")
    for system, _, name in sides:
        if system:
            systems.setdefault(registry.canonical(system), name)
    if not systems:
        raise _refused(
            400, "invalid", "invalid-data", "SUBSUMPTION_NO_SYSTEM", sides[0][2], where=sides[0][2]
        )
    if len(systems) > 1:
        first, second = list(systems)[:2]
        where = systems[second]
        raise _refused(
            400,
            "invalid",
            "invalid-data",
            "SUBSUMPTION_SYSTEM_MISMATCH",
            first,
            second,
            where=where,
        )
    system = next(iter(systems))
    version = context.params.get("version")
    return resolver.code_system(registry, system, version, "lookup")


def run(context: Context, instance_id: str | None = None) -> Resource:
    sides = [_side(context, "A"), _side(context, "B")]
    for _, code, name in sides:
        if not code:
            raise _refused(400, "invalid", "invalid-data", "PARAM_MISSING", name, where=name)
    cs = _code_system(context, instance_id, sides)
    concepts = []
    for _, code, name in sides:
        concept = cs.find(str(code))
        if concept is None:
            key = "Unknown_Code_in_Version" if cs.version else "Unknown_Code_in_Version#none"
            args = (code, cs.url, cs.version or "")
            raise _refused(404, "code-invalid", "invalid-code", key, *args, where=name)
        concepts.append(concept.code)
    a, b = concepts
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": "outcome", "valueCode": _relation(cs, a, b)}],
    }


def _relation(cs: CodeSystemProvider, a: str, b: str) -> str:
    if a == b:
        return "equivalent"
    if a in cs.ancestors(b):
        return "subsumes"
    if b in cs.ancestors(a):
        return "subsumed-by"
    return "not-subsumed"
