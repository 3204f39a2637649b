"""Concepts over time: whether a code was valid on the request's `date`, and what replaces a
retired one.

General, not HCPCS-specific: validity comes from the standard concept properties
`effectiveDate` (first day of use) and `retirementDate` (read as the *last* day of use: a
code is valid on it and retired from the day after), replacements from the stored
ConceptMaps whose source is the code's system (their translate targets).
"""

from __future__ import annotations

from dataclasses import replace

from codesystem.fhir_types import JSON
from terminology.index import Concept
from terminology.operations import Context
from terminology.outcome import finding
from terminology.providers import CodeSystemProvider


def as_of(concept: Concept, date: str | None) -> Concept | None:
    """The concept as it stood on date: None before its effective date, retired after its
    last day of use, active on a day within them; as stored when there is no date."""
    if date is None:
        return concept
    if concept.effective and date < concept.effective:
        return None
    if concept.retired and date > concept.retired and not concept.inactive:
        return replace(concept, inactive=True, status="retired")
    if concept.retired and date <= concept.retired and concept.inactive:
        return replace(concept, inactive=False, status="active")
    return concept


def not_yet_issue(cs: CodeSystemProvider, concept: Concept, date: str, expression: str) -> JSON:
    """The code exists in the release but only took effect after date: unknown then."""
    return finding(
        "CONCEPT_NOT_YET_EFFECTIVE",
        concept.code,
        date,
        concept.effective,
        cs.url,
        cs.version or "",
        expression=expression,
    )


def replacements(context: Context, system: str, code: str) -> str:
    """'A9590 (display), ...' from the ConceptMaps held; '' when none names a target."""
    seen: dict[str, None] = {}
    for target_system, target in context.registry.translations(system, code):
        shown = target["code"] if target_system == system else f"{target_system}#{target['code']}"
        if target.get("display"):
            shown += f" ({target['display']})"
        seen[shown] = None
    return ", ".join(seen)


def retired_issue(
    context: Context, cs: CodeSystemProvider, concept: Concept, expression: str
) -> JSON | None:
    """The warning for an inactive code whose last day of use is known: when it ended and
    what replaces it. None when the code system gives no retirement date."""
    if not concept.retired:
        return None
    replaced_by = replacements(context, cs.url, concept.code)
    args: tuple[str, ...]
    if replaced_by:
        key, args = "CONCEPT_RETIRED_REPLACED", (concept.code, concept.retired, replaced_by)
    else:
        key, args = "CONCEPT_RETIRED_NO_REPLACEMENT", (concept.code, concept.retired)
    return finding(key, *args, expression=expression)
