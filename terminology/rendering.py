"""How answers are shaped to read as the reference server's, apart from the domain logic.

The operations say what is true (which findings, on which element, how severe); this module
decides what the reference server's answers make of them, which the tx-ecosystem suite
compares literally:

- the deprecated `issue.location`: one decision, made when an OperationOutcome is assembled
  (operation_outcome), from the message id, the tx-issue-type and, for a finding on a coding,
  whether the coding carried a display and whether its code system was overloaded;
- `message`: which issues a $validate-code message joins, and with what (validation_message,
  failure_message); which warnings stay quiet (QUIET).

An issue as outcome.issue builds it carries `location` wherever it has an `expression`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from codesystem.fhir_types import JSON

TX_ISSUE_TYPE = "http://hl7.org/fhir/tools/CodeSystem/tx-issue-type"
MESSAGE_ID = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"

Issue = JSON  # an OperationOutcome.issue (R5 JSON)

# -- the deprecated issue.location: one rule ------------------------------------------------
# FHIR R5 deprecates OperationOutcome.issue.location ("XML specific ... replaced by
# issue.expression"). Every issue carries `expression`; `location` repeats it only where it
# locates the problem without doubt, which is what the reference server's answers (and the
# tx-ecosystem files, 164 issues requiring it, 81 forbidding it) amount to. An issue is
# reported by `expression` only when:
#   1. its finding is one the reference server never locates (EXPRESSION_ONLY), or
#   2. it is a finding on a coding's code that carried a display (the code, not the display,
#      is at fault, and the coding as a whole is what was judged: DISPLAYED_FINDINGS), or
#   3. it is a finding on a code or display (CODE_FINDINGS) of a code system with several
#      definitions in scope (versions, supplements): which definition is at fault is open;
# and an OperationOutcome is located all or nothing: once one issue is reported by
# `expression` only, none repeats it (no expected file of the suite mixes the two).
EXPRESSION_ONLY = frozenset({"ABSTRACT_CODE_NOT_ALLOWED"})
DISPLAYED_FINDINGS = frozenset(
    {
        "Unknown_Code_in_Version",
        "INACTIVE_CONCEPT_FOUND",
        "None_of_the_provided_codes_are_in_the_value_set_one",
    }
)
# (this-code-not-in-vs: a not-in-vs finding on one coding of a CodeableConcept, downgraded)
CODE_FINDINGS = frozenset({"not-in-vs", "this-code-not-in-vs", "invalid-code", "invalid-display"})


@dataclass(frozen=True, slots=True)
class OnCoding:
    """What the location rule needs to know of the coding a finding is about."""

    displayed: bool  # the coding carried a display
    overloaded: bool  # its code system has several definitions in scope


def message_id(found: Issue) -> str | None:
    for extension in found.get("extension", ()):
        if extension.get("url") == MESSAGE_ID:
            return extension.get("valueString")  # type: ignore[no-any-return]
    return None


def tx_type(found: Issue) -> str | None:
    codings = found.get("details", {}).get("coding") or [{}]
    return codings[0].get("code")  # type: ignore[no-any-return]


def may_be_unlocated(issues: Iterable[Issue]) -> bool:
    """Whether the coding a finding is about can matter to these issues' location (rule 3
    needs it; rule 2 only when the coding carried a display): when not, the caller need not
    work out whether the code system is overloaded."""
    return any(tx_type(i) in CODE_FINDINGS for i in issues)


def located(found: Issue, on: OnCoding | None = None) -> bool:
    """Whether the issue repeats its expression as `location` (the rule above)."""
    if "location" not in found:
        return False
    kind = message_id(found)
    if kind in EXPRESSION_ONLY:
        return False
    if on is None:
        return True
    if on.displayed and kind in DISPLAYED_FINDINGS:
        return False
    return not (on.overloaded and tx_type(found) in CODE_FINDINGS)


def operation_outcome(
    issues: list[Issue], on: Sequence[OnCoding | None] | None = None
) -> dict[str, object]:
    """The issues as one OperationOutcome, `location` decided by the rule above; `on` gives,
    issue by issue, the coding each finding is about (None: not about a coding)."""
    judged = on if on is not None else [None] * len(issues)
    if all(located(i, c) or "expression" not in i for i, c in zip(issues, judged, strict=True)):
        return {"resourceType": "OperationOutcome", "issue": issues}
    return {"resourceType": "OperationOutcome", "issue": [_unlocated(i) for i in issues]}


def _unlocated(found: Issue) -> Issue:
    if "location" not in found:
        return found
    return {k: v for k, v in found.items() if k != "location"}


# -- $validate-code `message` ----------------------------------------------------------
QUIET = frozenset(
    {"UNKNOWN_CODE_IN_FRAGMENT", "CONCEPT_DEPRECATED_IN_VALUESET", "INACTIVE_DISPLAY_FOUND"}
)
"""Warnings the reference server reports as issues but leaves out of `message` (an error
always counts: a display no longer correct, under strict display validation)."""


def validation_message(issues: Iterable[Issue]) -> str:
    """Errors, warnings and display findings, joined as the reference server does."""
    return "; ".join(
        i["details"]["text"]
        for i in issues
        if (
            i["severity"] == "error"
            or tx_type(i) == "invalid-display"
            or (i["severity"] == "warning" and tx_type(i) != "vs-invalid")
        )
        and not _quiet(i)
    )


def failure_message(issues: Iterable[Issue]) -> str:
    """Why a value set could not be evaluated: every issue's text."""
    return "; ".join(i["details"]["text"] for i in issues)


def _quiet(found: Issue) -> bool:
    return found["severity"] != "error" and any(
        e.get("valueString") in QUIET for e in found.get("extension", ())
    )
