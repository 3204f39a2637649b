"""What the operations resolve, and every "unknown …" error, in one place.

The registry (registry.py) finds resources by url, version (wildcards included), alias and
id, answering None when it holds nothing. Here a failed resolution becomes the error the
reference server reports: a resource by instance id, a code system (its message depends on
what the operation was doing: validating, expanding, looking up, listing changes), a value
set, a concept map. The message ids and texts are the catalogue's (data/messages.json).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from codesystem.fhir_types import Resource
from terminology.canonical import canonical_of
from terminology.outcome import TerminologyError, issue
from terminology.providers import CodeSystemProvider
from terminology.registry import Registry
from terminology.rendering import Issue, operation_outcome

ResourceType = Literal["CodeSystem", "ValueSet", "ConceptMap"]
Purpose = Literal["validate", "expand", "lookup", "changes"]
"""What an operation was doing when it met an unknown code system (it names it)."""


@dataclass(frozen=True, slots=True)
class _Wording:
    """The message ids an unknown code system is reported with, for one purpose."""

    unknown: str  # no version asked (or, without no_versions, none held)
    version: str  # a version asked and other versions held: "Valid versions: …"
    no_versions: str | None  # a version asked and none held; None: reported as unknown
    join: str  # between the valid versions listed


_WORDING: dict[Purpose, _Wording] = {
    "validate": _Wording(
        "UNKNOWN_CODESYSTEM",
        "UNKNOWN_CODESYSTEM_VERSION",
        "UNKNOWN_CODESYSTEM_VERSION_NONE",
        " or ",
    ),
    "expand": _Wording(
        "UNKNOWN_CODESYSTEM_EXP",
        "UNKNOWN_CODESYSTEM_VERSION_EXP",
        "UNKNOWN_CODESYSTEM_VERSION_NONE",
        " or ",
    ),
    "lookup": _Wording("UNKNOWN_CODESYSTEM", "UNKNOWN_CODESYSTEM_VERSION", None, " or "),
    "changes": _Wording(
        "UNKNOWN_CODESYSTEM_CHANGES", "UNKNOWN_CODESYSTEM_VERSION_CHANGES", None, ", "
    ),
}


# -- by instance id ---------------------------------------------------------------------
def instance(registry: Registry, resource_type: ResourceType, id: str) -> Resource:
    """The resource at /{resource_type}/{id}; unknown_resource when none is held."""
    found = registry.by_id(resource_type, id)
    if found is None:
        raise unknown_resource(resource_type, id)
    return found


def unknown_resource(resource_type: str, id: str) -> TerminologyError:
    return _not_found("UNKNOWN_RESOURCE_ID", resource_type, id)


# -- code systems -----------------------------------------------------------------------
def code_system(
    registry: Registry, system: str, version: str | None = None, purpose: Purpose = "lookup"
) -> CodeSystemProvider:
    """The code system at url|version (wildcards, aliases); the unknown error otherwise."""
    found = registry.code_system(system, version)
    if found is None:
        raise TerminologyError(
            404, operation_outcome([unknown_code_system(registry, system, version, purpose)])
        )
    return found


def unknown_code_system(
    registry: Registry,
    system: str,
    version: str | None,
    purpose: Purpose = "validate",
    *,
    known: Sequence[str] | None = None,
    quoted: bool = True,
    expression: str | None = None,
) -> Issue:
    """The issue for a code system (version) not held: with the versions that are held when
    a version was asked (`known`, else the registry's). A version message names the system
    as asked, the others its canonical url. quoted=False: the unquoted wording validation
    uses for a coding of a system outside the value set."""
    wording = _WORDING[purpose]
    held = registry.versions("CodeSystem", system) if known is None else known
    if version and held:
        args: tuple[str, ...] = (system, version, wording.join.join(held))
        key = wording.version
    elif version and wording.no_versions:
        key, args = wording.no_versions, (system, version)
    else:
        key, args = wording.unknown, (registry.canonical(system),)
        if not quoted:
            key += "#unquoted"
    return issue("error", "not-found", "not-found", key, *args, expression=expression)


def unknown_code_system_error(
    registry: Registry,
    system: str,
    version: str | None,
    purpose: Purpose,
    *,
    known: Sequence[str] | None = None,
) -> TerminologyError:
    found = unknown_code_system(registry, system, version, purpose, known=known)
    return TerminologyError(404, operation_outcome([found]))


# -- value sets and concept maps --------------------------------------------------------
def unknown_value_set_issue(url: str, version: str | None = None) -> Issue:
    """A value set (url, url|version, or url and version apart) that is not held."""
    shown = canonical_of(url, version)
    return issue("error", "not-found", "not-found", "Unable_to_resolve_value_Set_", shown)


def unknown_value_set(url: str, version: str | None = None) -> TerminologyError:
    return TerminologyError(404, operation_outcome([unknown_value_set_issue(url, version)]))


def unknown_concept_map(url: str) -> TerminologyError:
    return _not_found("UNKNOWN_CONCEPTMAP", url)


def _not_found(key: str, *args: object) -> TerminologyError:
    return TerminologyError(
        404, operation_outcome([issue("error", "not-found", "not-found", key, *args)])
    )
