"""Errors and OperationOutcomes: one exception type, one issue builder, one message catalogue.

Message wording is compared literally by the tx-ecosystem suite, so every text comes from
data/messages.json (keyed by the reference server's message ids) and nowhere else. How
issues are then shaped into an answer (the deprecated `location`, message joins) is
rendering.py's; operation_outcome is re-exported from there.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from codesystem.fhir_types import JSON, Resource
from terminology.rendering import MESSAGE_ID, TX_ISSUE_TYPE
from terminology.rendering import operation_outcome as operation_outcome  # re-exported

_CATALOGUE = Path(__file__).parent / "data" / "messages.json"

# message id -> (severity, issue type, tx-issue-type): how each finding is reported.
KINDS: dict[str, tuple[str, str, str | None]] = {
    "ABSTRACT_CODE_NOT_ALLOWED": ("error", "business-rule", "code-rule"),
    "CODESYSTEM_CS_NO_SUPPLEMENT": ("error", "invalid", "invalid-data"),
    "CODE_CASE_DIFFERENCE": ("information", "business-rule", "code-rule"),
    "Coding_has_no_system__cannot_validate": ("warning", "invalid", "invalid-data"),
    "CODING_HAS_NO_CODE": ("error", "invalid", "invalid-data"),
    "CODING_HAS_NO_CODE_OR_SYSTEM": ("error", "invalid", "invalid-data"),
    "DEPRECATED_CONCEPT_FOUND": ("warning", "business-rule", "code-comment"),
    "Display_Name_WS_for__should_be_one_of__instead_of": ("error", "invalid", "invalid-display"),
    "Display_Name_for__should_be_one_of__instead_of": ("error", "invalid", "invalid-display"),
    "FILTER_NOT_UNDERSTOOD": ("error", "not-supported", "vs-invalid"),
    "REGEX_NOT_SUPPORTED": ("error", "not-supported", "vs-invalid"),
    "INACTIVE_CONCEPT_FOUND": ("warning", "business-rule", "code-comment"),
    "INACTIVE_DISPLAY_FOUND": ("warning", "invalid", "display-comment"),
    "INVALID_DISPLAY_NAME": ("error", "processing", "invalid-display"),
    "CONCEPT_RETIRED_REPLACED": ("warning", "business-rule", "code-comment"),
    "CONCEPT_RETIRED_NO_REPLACEMENT": ("warning", "business-rule", "code-comment"),
    "CONCEPT_NOT_YET_EFFECTIVE": ("error", "code-invalid", "invalid-code"),
    "CONCEPT_DEPRECATED_IN_VALUESET": ("warning", "business-rule", "code-comment"),
    "MSG_DEPRECATED": ("information", "business-rule", "status-check"),
    "MSG_DRAFT": ("information", "business-rule", "status-check"),
    "MSG_EXPERIMENTAL": ("information", "business-rule", "status-check"),
    "MSG_RETIRED": ("information", "business-rule", "status-check"),
    "MSG_WITHDRAWN": ("information", "business-rule", "status-check"),
    "NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_ERR": ("error", "invalid", "invalid-display"),
    "NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_OK": ("information", "invalid", "invalid-display"),
    "None_of_the_provided_codes_are_in_the_value_set_one": ("error", "code-invalid", "not-in-vs"),
    "STATUS_CODE_WARNING_CODE": ("error", "business-rule", "code-rule"),
    "SYSTEM_ALIAS": ("information", "informational", None),
    "TX_GENERAL_CC_ERROR_MESSAGE": ("error", "code-invalid", "not-in-vs"),
    "Terminology_TX_System_Relative": ("error", "invalid", "invalid-data"),
    "Terminology_TX_System_ValueSet2": ("error", "invalid", "invalid-data"),
    "UNABLE_TO_HANDLE_SYSTEM_FILTER_WITH_NO_VALUE": ("error", "invalid", "vs-invalid"),
    "UNABLE_TO_INFER_CODESYSTEM": ("error", "not-found", "cannot-infer"),
    "UNKNOWN_CODESYSTEM": ("error", "not-found", "not-found"),
    "UNKNOWN_CODESYSTEM_EXP": ("error", "not-found", "not-found"),
    "UNKNOWN_CODESYSTEM_VERSION": ("error", "not-found", "not-found"),
    "UNKNOWN_CODESYSTEM_VERSION_EXP": ("error", "not-found", "not-found"),
    "UNKNOWN_CODESYSTEM_VERSION_NONE": ("error", "not-found", "not-found"),
    "UNKNOWN_CODE_IN_FRAGMENT": ("warning", "code-invalid", "invalid-code"),
    "Unable_to_resolve_system__value_set_has_multiple_matches": (
        "error",
        "not-found",
        "cannot-infer",
    ),
    "Unable_to_resolve_value_Set_": ("error", "not-found", "not-found"),
    "Unknown_Code_in_Version": ("error", "code-invalid", "invalid-code"),
    "VALUESET_CIRCULAR_REFERENCE": ("error", "processing", "vs-invalid"),
    "VALUESET_SUPPLEMENT_MISSING": ("error", "not-found", "not-found"),
    "VALUESET_TOO_COSTLY": ("error", "too-costly", None),
    "VALUESET_VALUE_MISMATCH": ("error", "invalid", "vs-invalid"),
    "VALUESET_VALUE_MISMATCH_CHANGED": ("error", "invalid", "vs-invalid"),
    "VALUESET_VALUE_MISMATCH_DEFAULT": ("warning", "invalid", "vs-invalid"),
    "VALUESET_VERSION_CHECK": ("error", "exception", "version-error"),
    "VS_EXP_IMPORT_UNK_PINNED": ("error", "not-found", "not-found"),
}


@cache
def _messages() -> dict[str, str]:
    catalogue: dict[str, str] = json.loads(_CATALOGUE.read_text(encoding="utf-8"))
    return catalogue


# Message ids of our own (not the reference server's): their issues carry no message-id.
LOCAL_IDS = {
    "NO_CODE_TO_VALIDATE",
    "UNKNOWN_CODE_LOOKUP",
    "FILTER_NOT_UNDERSTOOD",
    "PARAM_MISSING",
    "PARAM_INVALID",
    "NOT_PARAMETERS",
    "UNKNOWN_OPERATION",
    "UNKNOWN_RESOURCE_ID",
    "UNKNOWN_CONCEPTMAP",
    "COUNT_TOO_LARGE",
    "SYSTEM_ALIAS",
    "MALFORMED_CONTENT",
    "CONCEPT_RETIRED_REPLACED",
    "CONCEPT_RETIRED_NO_REPLACEMENT",
    "CONCEPT_NOT_YET_EFFECTIVE",
    "TRANSLATE_NO_MAP",
    "TRANSLATE_STILL_VALID",
    "TRANSLATE_REVERSE_R5",
    "SUBSUMPTION_NO_SYSTEM",
    "CLOSURE_UNKNOWN",
    "CLOSURE_TOO_LARGE",
    "CODING_HAS_NO_CODE",
    "CODING_HAS_NO_CODE_OR_SYSTEM",
    "CS_VALIDATE_NO_SYSTEM",
    "SUBSUMPTION_SYSTEM_MISMATCH",
    "TRANSLATE_OTHER_MAP_UNKNOWN",
    "UNKNOWN_CODESYSTEM_CHANGES",
    "UNKNOWN_CODESYSTEM_VERSION_CHANGES",
    "REQUEST_TOO_COSTLY_WORK",
    "REQUEST_TOO_COSTLY_TIME",
    "BATCH_TOO_LARGE",
    "VALUESET_IMPORT_TOO_DEEP",
    "REGEX_NOT_SUPPORTED",
    "INVALID_RESOURCE",
    "REQUEST_TOO_DEEP",
    "PARAM_NOT_INTEGER",
    "TRANSLATE_OTHER_MAP_TOO_DEEP",
    "PARAMETERS_MALFORMED",
}


# tx-issue-type of request-level errors raised without one (a bad parameter, an unknown
# operation or resource, a count over the limit): every issue carries a type in
# issue.details. Two stay untyped because the tx-ecosystem suite this project is held to
# (1.9.3) pins them so: NO_CODE_TO_VALIDATE (batch-validate-bad) and VALUESET_TOO_COSTLY
# (big-echo-no-limit); later versions of the suite type them (invalid-data, too-costly).
REQUEST_TYPES: dict[str, str] = {
    "PARAM_INVALID": "invalid-data",
    "PARAM_MISSING": "invalid-data",
    "NOT_PARAMETERS": "invalid-data",
    "MALFORMED_CONTENT": "invalid-data",
    "UNKNOWN_OPERATION": "not-supported",
    "UNKNOWN_RESOURCE_ID": "not-found",
    "UNKNOWN_CONCEPTMAP": "not-found",
    "COUNT_TOO_LARGE": "too-costly",
    "CLOSURE_UNKNOWN": "not-found",
    "CS_VALIDATE_NO_SYSTEM": "invalid-data",
    "BATCH_TOO_LARGE": "too-costly",
    "VALUESET_IMPORT_TOO_DEEP": "too-costly",
    "REGEX_NOT_SUPPORTED": "vs-invalid",
    "INVALID_RESOURCE": "invalid-data",
    "REQUEST_TOO_DEEP": "invalid-data",
    "PARAM_NOT_INTEGER": "invalid-data",
    "TRANSLATE_OTHER_MAP_TOO_DEEP": "too-costly",
    "PARAMETERS_MALFORMED": "invalid-data",
}


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
) -> JSON:
    """One OperationOutcome.issue with a tx-issue-type coding and the message id; `location`
    (deprecated) repeats `expression`, and rendering.operation_outcome decides whether the
    answer keeps it."""
    message_id = key.split("#")[0]
    if tx_type is None:
        tx_type = REQUEST_TYPES.get(message_id)
    result: JSON = {
        "extension": [{"url": MESSAGE_ID, "valueString": message_id}],
        "severity": severity,
        "code": code,
        "details": {"text": text if text is not None else message(key, *args)},
    }
    if tx_type:
        result["details"] = {
            "coding": [{"system": TX_ISSUE_TYPE, "code": tx_type}],
            **result["details"],
        }
    if message_id in LOCAL_IDS:
        del result["extension"]
    if expression:
        result["location"] = [expression]
        result["expression"] = [expression]
    return result


def finding(
    key: str,
    *args: object,
    expression: str | None = None,
    severity: str | None = None,
) -> JSON:
    """An issue whose severity and types are the catalogue's for this message id
    (severity may be overridden, e.g. for lenient display validation)."""
    default, code, tx_type = KINDS[key.split("#")[0]]
    return issue(severity or default, code, tx_type, key, *args, expression=expression)


class TerminologyError(Exception):
    """A failed operation: the HTTP status and the R5 OperationOutcome to return."""

    def __init__(self, status: int, outcome: Resource) -> None:
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

    @classmethod
    def plain(cls, status: int, code: str, text: str) -> TerminologyError:
        """An error outside the catalogue (HTTP-level, search, bundles): one error issue
        with an issue type and a text."""
        found = {"severity": "error", "code": code, "details": {"text": text}}
        return cls(status, operation_outcome([found]))

    @property
    def text(self) -> str:
        return str(self)


def not_found(key: str, *args: object) -> TerminologyError:
    return TerminologyError.of(404, "not-found", "not-found", key, *args)


def invalid(key: str, *args: object, expression: str | None = None) -> TerminologyError:
    return TerminologyError.of(400, "invalid", "invalid-data", key, *args, expression=expression)
