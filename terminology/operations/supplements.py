"""CodeSystem supplements: extra designations (and properties) for another code system's
concepts, applied when a request or a value set asks for them."""

from __future__ import annotations

from dataclasses import dataclass, field

from terminology.index import CodeSystemIndex
from terminology.operations import Context, requested_supplements
from terminology.outcome import TerminologyError, finding, operation_outcome


@dataclass
class Supplemented:
    """Designations by code (with the supplement's canonical) and the supplements used."""

    designations: dict[str, list[tuple[dict, str]]] = field(default_factory=dict)
    used: list[str] = field(default_factory=list)


def requested(context: Context, vs: dict | None = None) -> list[str]:
    """Supplement canonicals asked for by the request or by the value set's extension."""
    return requested_supplements(context.params, vs)


def missing_error(url: str) -> TerminologyError:
    found = finding("VALUESET_SUPPLEMENT_MISSING", url)
    return TerminologyError(404, operation_outcome([found]))


def apply_supplements(
    context: Context, cs: CodeSystemIndex, vs: dict | None = None
) -> Supplemented:
    """The supplements of cs that are asked for; an asked-for supplement that does not
    exist is an error."""
    result = Supplemented()
    for url in requested(context, vs):
        supplement = context.registry.supplement(url)
        if supplement is None:
            raise missing_error(url)
        if (supplement.get("supplements") or "").split("|")[0] != cs.url:
            continue
        key = f"{supplement['url']}|{supplement.get('version')}"
        result.used.append(key)
        _collect(supplement.get("concept", []), key, result)
    return result


def _collect(concepts: list[dict], key: str, result: Supplemented) -> None:
    for concept in concepts:
        for designation in concept.get("designation", []):
            result.designations.setdefault(concept["code"], []).append((designation, key))
        _collect(concept.get("concept", []), key, result)
