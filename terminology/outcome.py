"""Errors and OperationOutcomes: one exception type, one issue builder, one message catalogue.

Message wording is compared literally by the tx-ecosystem suite, so every text comes from
data/messages.json (keyed by the reference server's message ids) and nowhere else.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

TX_ISSUE_TYPE = "http://hl7.org/fhir/tools/CodeSystem/tx-issue-type"
MESSAGE_ID = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"
_CATALOGUE = Path(__file__).parent / "data" / "messages.json"


@cache
def _messages() -> dict[str, str]:
    return json.loads(_CATALOGUE.read_text(encoding="utf-8"))


def message(key: str, *args: object) -> str:
    """The catalogue text for key with {0}, {1} ... filled in."""
    return _messages()[key].format(*args)


def issue(
    severity: str,
    code: str,
    tx_type: str | None,
    key: str,
    *args: object,
    expression: str | None = None,
    text: str | None = None,
) -> dict:
    """One OperationOutcome.issue with a tx-issue-type coding and the message id."""
    result: dict = {
        "extension": [{"url": MESSAGE_ID, "valueString": key.split("#")[0]}],
        "severity": severity,
        "code": code,
        "details": {"text": text if text is not None else message(key, *args)},
    }
    if tx_type:
        result["details"] = {
            "coding": [{"system": TX_ISSUE_TYPE, "code": tx_type}],
            **result["details"],
        }
    if expression:
        result["location"] = [expression]
        result["expression"] = [expression]
    return result


def operation_outcome(issues: list[dict]) -> dict:
    return {"resourceType": "OperationOutcome", "issue": issues}


class TerminologyError(Exception):
    """A failed operation: the HTTP status and the R5 OperationOutcome to return."""

    def __init__(self, status: int, outcome: dict) -> None:
        super().__init__(outcome["issue"][0]["details"]["text"] if outcome.get("issue") else "")
        self.status = status
        self.outcome = outcome

    @classmethod
    def of(
        cls,
        status: int,
        code: str,
        tx_type: str | None,
        key: str,
        *args: object,
        expression: str | None = None,
    ) -> TerminologyError:
        """An error with a single issue taken from the catalogue."""
        found = issue("error", code, tx_type, key, *args, expression=expression)
        return cls(status, operation_outcome([found]))

    @property
    def text(self) -> str:
        return str(self)


def not_found(key: str, *args: object) -> TerminologyError:
    return TerminologyError.of(404, "not-found", "not-found", key, *args)


def invalid(key: str, *args: object, expression: str | None = None) -> TerminologyError:
    return TerminologyError.of(400, "invalid", "invalid-data", key, *args, expression=expression)
