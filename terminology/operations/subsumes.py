"""CodeSystem/$subsumes: how two codes of one code system relate in its hierarchy."""

from __future__ import annotations

from terminology.index import CodeSystemIndex
from terminology.operations import Context
from terminology.outcome import TerminologyError, not_found


def _side(context: Context, name: str) -> tuple[str | None, str | None, str | None]:
    coding = context.params.get(f"coding{name}")
    if isinstance(coding, dict):
        return coding.get("system"), coding.get("code"), coding.get("version")
    return None, context.params.get(f"code{name}"), None


def _code_system(context: Context, instance_id: str | None, systems: set) -> CodeSystemIndex:
    if instance_id:
        resource = context.registry.by_id("CodeSystem", instance_id)
        if resource is None:
            raise not_found("UNKNOWN_RESOURCE_ID", "CodeSystem", instance_id)
        systems.add(resource.get("url"))
    systems.discard(None)
    if not systems:
        raise TerminologyError.of(400, "required", "invalid-data", "PARAM_MISSING", "system")
    if len({context.registry.canonical(s) for s in systems}) > 1:
        raise TerminologyError.of(
            400, "invalid", "invalid-data", "PARAM_INVALID", "system", ", ".join(sorted(systems))
        )
    system = systems.pop()
    version = context.params.get("version")
    cs = context.registry.code_system(system, version)
    if cs is None:
        known = context.registry.versions("CodeSystem", system)
        if version and known:
            raise not_found("UNKNOWN_CODESYSTEM_VERSION", system, version, " or ".join(known))
        raise not_found("UNKNOWN_CODESYSTEM", system)
    return cs


def run(context: Context, instance_id: str | None = None) -> dict:
    system_a, code_a, _ = _side(context, "A")
    system_b, code_b, _ = _side(context, "B")
    for name, code in (("codeA", code_a), ("codeB", code_b)):
        if not code:
            raise TerminologyError.of(400, "required", "invalid-data", "PARAM_MISSING", name)
    cs = _code_system(context, instance_id, {context.params.get("system"), system_a, system_b})
    concepts = []
    for code in (code_a, code_b):
        concept = cs.find(str(code))
        if concept is None:
            raise not_found("Unknown_Code_in_Version", code, cs.url, cs.version or "")
        concepts.append(concept.code)
    a, b = concepts
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": "outcome", "valueCode": _relation(cs, a, b)}],
    }


def _relation(cs: CodeSystemIndex, a: str, b: str) -> str:
    if a == b:
        return "equivalent"
    if a in cs.ancestors(b):
        return "subsumes"
    if b in cs.ancestors(a):
        return "subsumed-by"
    return "not-subsumed"
