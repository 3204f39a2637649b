"""One operation's request as a frozen value, built once from its Parameters; and the state
the operation keeps while it runs, apart from it.

`Request.build` is the one constructor: `Engine.run` calls it for every operation, and a
`$batch-validate-code` calls it for each validation with the validation's own parameters
put before the batch's (`Request.for_validation`), so a validation is the request the single
`ValueSet/$validate-code` with those parameters would be. BATCH_ITEM_SCOPE is the one table
of what a validation's own parameter changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NamedTuple

from terminology import version_policy
from terminology.budget import Budget, Limits
from terminology.outcome import TerminologyError, finding
from terminology.params import Params
from terminology.registry import Registry
from terminology.rendering import operation_outcome
from terminology.version_policy import VersionPolicy, request_date

UNLIMITED = Limits(work=1 << 62, seconds=1e12, batch=1 << 62)  # requests built without


class Edge(NamedTuple):
    """What comes with a request besides its parameters (HTTP headers, the clock, the
    engine's limits). Immutable as the Request; a NamedTuple, since one is made per request
    and a frozen dataclass costs a microsecond more to make (a tenth of a $lookup)."""

    languages: str | None = None  # the Accept-Language header, verbatim
    stored_only: bool = True  # no tx-resources: what is worked out may be kept across requests
    limits: Limits = UNLIMITED
    started: float = 0.0  # time.monotonic() when the request came in (0: when first spent)
    deadline: float | None = None  # the caller's deadline, if earlier than the limits'
    cost_limit: int | None = None  # X-TOO-COSTLY-THRESHOLD: a lower limit on an expansion


class Scope(IntEnum):
    """What a $batch-validate-code validation's own parameter changes, least first."""

    CODING = 0  # only what is validated: the batch's request and prepared value set hold
    OPTIONS = 1  # the request's options: its request is built again; the value set holds
    VERSIONS = 2  # the versions in play: its request is built again, it runs on its own
    VALUE_SET = 3  # the value set (or its supplements / resources): it runs on its own


# Every parameter a validation may carry; any other runs on its own (Scope.VALUE_SET).
BATCH_ITEM_SCOPE: Mapping[str, Scope] = {
    "code": Scope.CODING,
    "system": Scope.CODING,
    "systemVersion": Scope.CODING,
    "version": Scope.CODING,
    "display": Scope.CODING,
    "coding": Scope.CODING,
    "codeableConcept": Scope.CODING,
    "diagnostics": Scope.CODING,
    "displayLanguage": Scope.OPTIONS,
    "activeOnly": Scope.OPTIONS,
    "inferSystem": Scope.OPTIONS,
    "lenient-display-validation": Scope.OPTIONS,
    "valueset-membership-only": Scope.OPTIONS,
    "abstract": Scope.OPTIONS,
    "date": Scope.VERSIONS,
    "system-version": Scope.VERSIONS,
    "force-system-version": Scope.VERSIONS,
    "check-system-version": Scope.VERSIONS,
    "default-valueset-version": Scope.VERSIONS,
    "default-to-latest-version": Scope.VERSIONS,
    "url": Scope.VALUE_SET,
    "context": Scope.VALUE_SET,
    "valueSet": Scope.VALUE_SET,
    "valueSetVersion": Scope.VALUE_SET,
    "useSupplement": Scope.VALUE_SET,
    "tx-resource": Scope.VALUE_SET,
}


def batch_scope(names: Iterable[str]) -> Scope:
    """The most a validation with these own parameters changes."""
    return max((BATCH_ITEM_SCOPE.get(n, Scope.VALUE_SET) for n in names), default=Scope.CODING)


# the same table as sets, for the per-validation test (`own_names <= ...`)
CODING_ONLY = frozenset(n for n, scope in BATCH_ITEM_SCOPE.items() if scope is Scope.CODING)
SAME_VALUE_SET = frozenset(n for n, scope in BATCH_ITEM_SCOPE.items() if scope <= Scope.OPTIONS)
# what Options are read from: a request giving none of them has PLAIN options
OPTION_NAMES = frozenset(
    n for n, scope in BATCH_ITEM_SCOPE.items() if scope in (Scope.OPTIONS, Scope.VERSIONS)
)

_LANGUAGE_TAG = re.compile(r"\*|[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")


def _language_list(value: str) -> bool:
    """Whether value is a language tag, or a list of them with weights (as Accept-Language)."""
    tags = [part.split(";")[0].strip() for part in value.split(",")]
    return all(_LANGUAGE_TAG.fullmatch(tag) for tag in tags)


@dataclass(frozen=True, slots=True, eq=False)
class Options:
    """What is read from a request's parameters once, for every operation: the parameters
    of Scope.OPTIONS and Scope.VERSIONS (and useSupplement, read with the value set)."""

    display_language: str | None  # displayLanguage (a checked language list)
    date: str | None  # `date` as YYYY-MM-DD: answer as of that day
    versions: VersionPolicy  # which code system versions apply (version_policy.py)
    active_only: bool  # activeOnly
    membership_only: bool  # valueset-membership-only
    infer_system: bool  # inferSystem
    lenient_display: bool  # lenient-display-validation=true
    abstract_refused: bool  # abstract=false

    @classmethod
    def from_parameters(cls, registry: Registry, params: Params) -> Options:
        """Raises a 400 when displayLanguage is not a language list."""
        if not params.has_any(OPTION_NAMES):
            return PLAIN  # most requests
        shown = params.get("displayLanguage")
        if shown is not None and not _language_list(str(shown)):
            found = finding("INVALID_DISPLAY_NAME", shown)
            raise TerminologyError(400, operation_outcome([found]))
        date = request_date(params.get("date"))
        return cls(
            display_language=str(shown) if shown else None,
            date=date,
            versions=VersionPolicy.from_parameters(registry, params, date),
            active_only=params.flag("activeOnly"),
            membership_only=params.flag("valueset-membership-only"),
            infer_system=params.flag("inferSystem"),
            lenient_display=params.flag("lenient-display-validation"),
            abstract_refused=params.get("abstract") is False,
        )


PLAIN = Options(None, None, version_policy.NONE, False, False, False, False, False)


@dataclass(frozen=True, slots=True, eq=False)
class Request:
    """What one operation was asked: its parameters (operation-specific ones are read where
    they matter), what came with them, and what is read from them once."""

    params: Params
    edge: Edge
    options: Options

    @classmethod
    def build(
        cls, registry: Registry, params: Params, edge: Edge, over: Request | None = None
    ) -> Request:
        """The request these parameters make. `over`: the request that params' own
        parameters (Params.preceded_by) were put before; when those are all of Scope.CODING,
        its Options are these parameters' too (a batch of a thousand validations reads
        them once)."""
        if over is not None and params.own_names <= CODING_ONLY:
            return cls(params, edge, over.options)
        return cls(params, edge, Options.from_parameters(registry, params))


class RunState:
    """What an operation changes while it runs, apart from its Request: the budget it spends
    (shared by a batch's validations), the imported value sets it evaluated, the value set
    it validates against and that value set's language, and Facts (operations/__init__.py)
    worked out for it."""

    __slots__ = ("_budget", "edge", "imported", "value_set", "value_set_language", "shared")

    def __init__(
        self, edge: Edge, budget: Budget | None = None, shared: dict[Any, Any] | None = None
    ) -> None:
        """shared: a batch's memo of Facts, for validations whose own parameters are only
        of Scope.CODING (the caller keys and bounds it)."""
        self.edge, self._budget, self.shared = edge, budget, shared
        # imported value sets evaluated in this run: (id(vs), strict) -> (vs, Expanded);
        # made by the first import (most requests import none)
        self.imported: dict[Any, Any] | None = None
        self.value_set: dict[str, Any] | None = None
        self.value_set_language: str | None = None

    @property
    def budget(self) -> Budget:
        """The budget (terminology/budget.py), counted from when the request came in; made
        on first use (a $lookup never spends)."""
        found = self._budget
        if found is None:
            edge = self.edge
            limits = edge.limits
            found = self._budget = Budget(
                limits.work, limits.seconds, edge.deadline, limits.batch, edge.started
            )
        return found
