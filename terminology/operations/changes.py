"""CodeSystem/$changes (custom operation): what changed between two versions of a code system.

Inputs `system` (or the instance), `fromVersion`, `toVersion`; output the Parameters
documented in codesystem.history.changes_to_parameters: fromVersion, toVersion, a count per
kind of change, then one `change` per code (code, display, kind 1..*, previousDisplay, and
per changed property its old and new values). Works on any stored code system: concepts
are compared by code, nested ones included.
"""

from __future__ import annotations

from codesystem.fhir_types import JSON, Resource
from codesystem.history import changes_to_parameters, compare_releases
from terminology import resolver
from terminology.operations import Context
from terminology.outcome import TerminologyError


def changes(old_cs: Resource, new_cs: Resource) -> Resource:
    """The $changes response (R5 Parameters) from the older to the newer CodeSystem."""
    return changes_to_parameters(compare_releases(_flat(old_cs), _flat(new_cs)))


def run(context: Context, instance_id: str | None = None) -> Resource:
    system = _system(context, instance_id)
    old, new = (_version(context, system, name) for name in ("fromVersion", "toVersion"))
    return changes(old, new)


def _system(context: Context, instance_id: str | None) -> str:
    if instance_id:
        url: str = resolver.instance(context.registry, "CodeSystem", instance_id)["url"]
        return url
    system = context.params.get("system") or context.params.get("url")
    if not system:
        raise TerminologyError.of(400, "required", "invalid-data", "PARAM_MISSING", "system")
    return context.registry.canonical(str(system))


def _version(context: Context, system: str, name: str) -> Resource:
    """The stored CodeSystem at the version a parameter names (exactly, no wildcard)."""
    version = context.params.get(name)
    if not version:
        raise TerminologyError.of(400, "required", "invalid-data", "PARAM_MISSING", name)
    held = context.registry.candidates("CodeSystem", system)
    found = next((r for r in held if r.get("version") == version), None)
    if found is None:
        raise resolver.unknown_code_system_error(context.registry, system, version, "changes")
    return found


def _flat(cs: Resource) -> Resource:
    """The code system with nested concepts listed flat (compare_releases reads the top
    level), each without its children (they are compared on their own)."""
    if not any("concept" in c for c in cs.get("concept", [])):
        return cs
    flat: list[JSON] = []
    stack = list(reversed(cs.get("concept", [])))
    while stack:
        concept = stack.pop()
        flat.append({k: v for k, v in concept.items() if k != "concept"})
        stack.extend(reversed(concept.get("concept", [])))
    return {**cs, "concept": flat}
