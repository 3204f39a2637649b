"""Terminology operations, one module per operation, over a per-request Context."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from terminology.budget import Budget, Limits
from terminology.index import day
from terminology.outcome import TerminologyError, finding, operation_outcome
from terminology.params import Params
from terminology.registry import Registry


def canonical_parts(value: str) -> tuple[str, str | None]:
    """'url|version' -> (url, version)."""
    url, _, version = value.partition("|")
    return url, version or None


_LANGUAGE_TAG = re.compile(r"\*|[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")


def _language_list(value: str) -> bool:
    """Whether value is a language tag, or a list of them with weights (as Accept-Language)."""
    tags = [part.split(";")[0].strip() for part in value.split(",")]
    return all(_LANGUAGE_TAG.fullmatch(tag) for tag in tags)


# The parameters Facts are worked out from (and nothing else in a request's parameters).
FACT_PARAMETERS = frozenset(
    {
        "displayLanguage",
        "useSupplement",
        "activeOnly",
        "valueset-membership-only",
        "inferSystem",
        "lenient-display-validation",
        "abstract",
    }
)
FACTS_KEPT = 8  # Facts remembered per set of parameters (one per value set / languages)


@dataclass(slots=True)
class Facts:
    """What a context says that the check of every coding asks: the languages and the
    supplements asked for, and the request's flags. Reading them from the parameters for
    each coding was a visible share of a batch's time; they are worked out once per
    context (see Context.facts), and a batch's validations that repeat none of
    FACT_PARAMETERS share their batch's. Read only once made."""

    value_set: dict | None  # the value set they were worked out with (context.value_set)
    languages: tuple[str, ...]  # language tags asked for, best first (no q-values, no *)
    supplements: tuple[str, ...]  # supplement canonicals asked for, by request or value set
    active_only: bool  # activeOnly
    membership_only: bool  # valueset-membership-only
    infer_system: bool  # inferSystem
    lenient_display: bool  # lenient-display-validation
    abstract_refused: bool  # abstract=false


def language_tags(raw: object) -> tuple[str, ...]:
    """Language tags of a displayLanguage / Accept-Language value, best first, without
    q-values or wildcards."""
    if not raw:
        return ()
    tags = []
    for part in str(raw).split(","):
        tag = part.split(";")[0].strip()
        if tag and tag != "*":
            tags.append(tag)
    return tuple(tags)


SUPPLEMENT_EXT = "http://hl7.org/fhir/StructureDefinition/valueset-supplement"


def requested_supplements(params: Params, vs: dict | None) -> list[str]:
    """Supplement canonicals asked for by the request or by the value set's extension."""
    if not params.has("useSupplement") and not (vs and vs.get("extension")):
        return []  # the usual request: none
    asked = [str(v) for v in params.all("useSupplement")]
    for ext in (vs or {}).get("extension", []):
        if ext.get("url") == SUPPLEMENT_EXT and ext.get("valueCanonical"):
            asked.append(ext["valueCanonical"])
    return asked


UNLIMITED = Limits(work=1 << 62, seconds=1e12, batch=1 << 62)  # contexts built without


@dataclass
class Context:
    """What one request knows: resources in scope, its parameters, its languages."""

    registry: Registry
    params: Params
    languages: str | None = None
    stored_only: bool = True
    force_versions: dict[str, str] = field(default_factory=dict)
    default_versions: dict[str, str] = field(default_factory=dict)
    check_versions: dict[str, str] = field(default_factory=dict)
    value_set_language: str | None = None
    value_set: dict | None = None
    valueset_versions: dict[str, str] = field(default_factory=dict)
    date: str | None = None  # the `date` parameter (YYYY-MM-DD): answer as of that day
    cost_limit: int | None = None  # a client's lower limit on an expansion's size
    # what the request may spend: made from these on first use (a $lookup never spends)
    limits: Limits = UNLIMITED
    started: float = 0.0  # time.monotonic() when the request came in
    deadline: float | None = None  # the caller's deadline, if it is earlier than the limits'
    _budget: Budget | None = None
    # imported value sets evaluated in this request: (id(vs), strict) -> (vs, Expanded);
    # made by the first import (most requests import none)
    imported: dict[tuple, tuple] | None = None

    @classmethod
    def build(
        cls,
        registry: Registry,
        params: Params,
        languages: str | None,
        stored_only: bool,
        limits: Limits = UNLIMITED,
        started: float = 0.0,
        deadline: float | None = None,
    ) -> Context:
        context = cls(registry, params, languages, stored_only)
        context.limits, context.started, context.deadline = limits, started, deadline
        for name, target in (
            ("force-system-version", context.force_versions),
            ("system-version", context.default_versions),
            ("check-system-version", context.check_versions),
            ("default-valueset-version", context.valueset_versions),
        ):
            for value in params.all(name):
                url, version = canonical_parts(str(value))
                if version:
                    target[registry.canonical(url)] = version
        shown = params.get("displayLanguage")
        if shown is not None and not _language_list(str(shown)):
            found = finding("INVALID_DISPLAY_NAME", shown)
            raise TerminologyError(400, operation_outcome([found]))
        if params.get("date"):
            context.date = day(str(params.get("date")))
            # the release in force at that date, unless a version is asked for
            for url, version in registry.in_force(context.date).items():
                context.default_versions.setdefault(url, version)
        return context

    @property
    def budget(self) -> Budget:
        """The request's budget (terminology/budget.py), counted from when it came in."""
        found = self._budget
        if found is None:
            limits = self.limits
            found = self._budget = Budget(
                limits.work, limits.seconds, self.deadline, limits.batch, self.started
            )
        return found

    @property
    def display_language(self) -> str | None:
        return self.params.get("displayLanguage") or self.languages or self.value_set_language

    def facts(self) -> Facts:
        """This context's Facts: a batch's validations share them when their own parameters
        do not change them (and the languages and the value set are the same)."""
        kept = self.params.shared_memo(FACT_PARAMETERS)
        if kept is None:  # a request of its own: worked out once, by its caller
            return self._facts()
        key = ("facts", self.languages, self.value_set_language, id(self.value_set))
        found = kept.get(key)
        if found is None or found.value_set is not self.value_set:  # (an id reused)
            if len(kept) >= FACTS_KEPT:
                kept.clear()
            found = kept[key] = self._facts()
        return found

    def _facts(self) -> Facts:
        params, vs = self.params, self.value_set
        return Facts(
            value_set=vs,
            languages=language_tags(self.display_language),
            supplements=tuple(requested_supplements(params, vs)),
            active_only=params.flag("activeOnly"),
            membership_only=params.flag("valueset-membership-only"),
            infer_system=params.flag("inferSystem"),
            lenient_display=params.flag("lenient-display-validation"),
            abstract_refused=params.get("abstract") is False,
        )

    def use_value_set_language(self, vs: dict) -> None:
        """A value set's own display language (expansion-parameter extension or language)."""
        for ext in vs.get("compose", {}).get("extension", []):
            if ext.get("url", "").endswith("valueset-expansion-parameter"):
                parts = {e.get("url"): e for e in ext.get("extension", [])}
                if parts.get("name", {}).get("valueCode") == "displayLanguage":
                    self.value_set_language = parts.get("value", {}).get("valueCode")
                    return
        self.value_set_language = vs.get("language")
