"""CodeSystem/$validate-code and ValueSet/$validate-code.

Each coding given (code+system, coding, or each coding of a codeableConcept) is checked
against its code system (existence, display, status) and, for ValueSet, membership; the
issues found are reported as an OperationOutcome with tx-issue-type codings, and the
error/warning texts joined as `message`.
"""

from __future__ import annotations

import copy
from collections.abc import Set
from dataclasses import dataclass, field, replace
from typing import cast

from codesystem.fhir_types import JSON, Resource
from terminology import rendering, resolver
from terminology.budget import TooCostly
from terminology.caches import Kept
from terminology.index import Concept
from terminology.operations import Context, Facts, dated
from terminology.operations.compose import (
    PLANS_KEPT,
    SYSTEMS_KEPT,
    Composer,
    Expanded,
    UnknownSystem,
    resolve_include_system,
    status_flag,
    vs_key,
)
from terminology.operations.displays import check_display, display_for
from terminology.operations.expand import resolve_value_set
from terminology.operations.supplements import missing_error, requested
from terminology.outcome import TerminologyError, finding, operation_outcome
from terminology.providers import CodeSystemProvider
from terminology.version_policy import VersionPlan, check_version, display_versions, plan


@dataclass(slots=True)
class Input:
    """One coding to check and where it came from (for issue expressions)."""

    system: str | None
    code: str
    version: str | None
    display: str | None
    path: str  # "" for code+system parameters, "Coding" or "CodeableConcept.coding[i]"

    def at(self, element: str) -> str:
        return f"{self.path}.{element}" if self.path else element

    @property
    def whole(self) -> str:
        return self.path or "code"


@dataclass(slots=True)
class Outcome:
    """What checking one coding found."""

    input: Input
    valid: bool = False
    cs: CodeSystemProvider | None = None
    concept: Concept | None = None
    display: str | None = None
    issues: list[JSON] = field(default_factory=list)
    unknown_system: str | None = None
    caused_by_unknown: bool = False
    system: str | None = None
    member: bool = False


# -- inputs ---------------------------------------------------------------------------------
def _inputs(context: Context, code_system_url: str | None = None) -> tuple[list[Input], JSON]:
    """The codings to check, and the codeableConcept to echo (if one was given)."""
    params = context.params
    concept = params.get("codeableConcept")
    if isinstance(concept, dict):
        codings = concept.get("coding", [])
        inputs = [_coding_input(c, f"CodeableConcept.coding[{i}]") for i, c in enumerate(codings)]
        return inputs, concept
    coding = params.get("coding")
    if isinstance(coding, dict):
        return [_coding_input(coding, "Coding")], {}
    code = params.get("code")
    if code is None:
        raise TerminologyError.of(400, "invalid", None, "NO_CODE_TO_VALIDATE")
    system = params.get("system") or code_system_url
    version = params.get("systemVersion") or params.get("version")
    return [Input(system, str(code), version, params.get("display"), "")], {}


def _coding_input(coding: JSON, path: str) -> Input:
    return Input(
        coding.get("system"),
        coding.get("code", ""),
        coding.get("version"),
        coding.get("display"),
        path,
    )


# -- code system checks ----------------------------------------------------------------------
def _check_in_code_system(
    context: Context, facts: Facts, item: Input, out: Outcome, cs: CodeSystemProvider
) -> None:
    out.cs, out.system = cs, cs.url
    stored = cs.find(item.code)
    if stored is None:
        if cs.content == "fragment":
            out.issues.append(
                finding(
                    "UNKNOWN_CODE_IN_FRAGMENT",
                    item.code,
                    cs.url,
                    cs.version,
                    expression=item.at("code"),
                )
            )
            out.valid = out.member = True
            return
        key = "Unknown_Code_in_Version" if cs.version else "Unknown_Code_in_Version#none"
        where = item.at("code")
        out.issues.append(finding(key, item.code, cs.url, cs.version, expression=where))
        return
    date = context.date
    concept = dated.as_of(stored, date)
    if concept is None:  # in the release, but not yet in use on that date (so a date is given)
        early = dated.not_yet_issue(cs, stored, cast(str, date), item.at("code"))
        out.issues.append(early)
        return
    out.concept, out.valid = concept, True
    if concept.code != item.code:
        out.issues.append(
            finding(
                "CODE_CASE_DIFFERENCE",
                item.code,
                concept.code,
                cs.key,
                expression=item.at("code"),
            )
        )
    out.display = display_for(context, cs, concept, facts.languages)
    _status_issues(context, facts, item, out, cs, concept)
    if item.display is not None and not _own_display(facts, concept, item.display):
        found = check_display(context, cs, concept, item)
        if found:
            out.issues.append(found)
            if found["severity"] == "error":
                out.valid = False


def _own_display(facts: Facts, concept: Concept, given: str) -> bool:
    """Whether the display given is the concept's own display, with no language and no
    supplement asked for, and no designation that could mark that text retired: then
    check_display has nothing to report. Most codings are sent with their own display, and
    the full check (every designation, supplements, languages) was a fifth of a batch."""
    if not given or given != concept.display:
        return False
    if facts.languages or facts.supplements:
        return False
    return not concept.display_designated  # else possibly retired: let check_display decide


def _active_only(facts: Facts) -> bool:
    """Inactive codes are excluded by the request (activeOnly) or by the value set."""
    compose = (facts.value_set or {}).get("compose", {})
    return facts.active_only or compose.get("inactive") is False


def _status_issues(
    context: Context,
    facts: Facts,
    item: Input,
    out: Outcome,
    cs: CodeSystemProvider,
    concept: Concept,
) -> None:
    if concept.inactive:
        status = f"{concept.status} and inactive" if concept.status else "inactive"
        if concept.status == "inactive":
            status = "inactive"
        retired = dated.retired_issue(context, cs, concept, item.whole)
        out.issues.append(
            retired
            or finding(
                "INACTIVE_CONCEPT_FOUND",
                concept.code,
                status,
                expression=item.whole,
            )
        )
        if _active_only(facts):
            out.issues.append(
                finding(
                    "STATUS_CODE_WARNING_CODE",
                    concept.code,
                    expression=item.at("code"),
                )
            )
            out.valid = False
    elif concept.deprecated:
        out.issues.append(
            finding(
                "DEPRECATED_CONCEPT_FOUND",
                concept.code,
                expression=item.whole,
            )
        )
    if concept.abstract and facts.abstract_refused:
        out.issues.append(
            finding(
                "ABSTRACT_CODE_NOT_ALLOWED#nover",
                cs.url,
                concept.code,
                expression=item.at("code"),
            )
        )
        out.valid = False


def _system_problem(context: Context, item: Input, out: Outcome) -> bool:
    """Relative systems, value set URLs and supplements given as a system; True if found."""
    system = item.system or ""
    if ":" not in system:
        out.issues.append(
            finding(
                "Terminology_TX_System_Relative",
                expression=item.at("system"),
            )
        )
        out.issues.append(_unknown_system_issue(context, item, quoted=True))
        out.unknown_system = system
        return True
    if context.registry.value_set(system) is not None:
        where = item.at("system")
        out.issues.append(finding("Terminology_TX_System_ValueSet2", system, expression=where))
        return True
    supplement = context.registry.supplement(system, item.version)
    if supplement is not None:
        key = f"{supplement['url']}|{supplement.get('version')}"
        out.issues.append(
            finding(
                "CODESYSTEM_CS_NO_SUPPLEMENT",
                key,
                expression=item.at("system"),
            )
        )
        return True
    return False


def _unknown_system_issue(context: Context, item: Input, quoted: bool) -> JSON:
    system = context.registry.canonical(item.system or "")
    return resolver.unknown_code_system(
        context.registry, system, item.version, quoted=quoted, expression=item.at("system")
    )


def _incomplete(item: Input, out: Outcome) -> bool:
    """A coding without a code (a system alone, or only a display) has nothing to validate:
    one issue says what is missing, and the answer names no code. True if so."""
    if item.code:
        return False
    if item.system:
        out.issues.append(finding("CODING_HAS_NO_CODE", item.system, expression=item.whole))
    else:
        out.issues.append(finding("CODING_HAS_NO_CODE_OR_SYSTEM", expression=item.whole))
    return True


def check_coding(context: Context, facts: Facts, item: Input) -> Outcome:
    """A coding against its code system only ($validate-code on a CodeSystem)."""
    out = Outcome(item, system=item.system)
    if _incomplete(item, out):
        return out
    if not item.system:
        out.issues.append(
            finding(
                "Coding_has_no_system__cannot_validate",
                expression=item.whole,
            )
        )
        return out
    if _system_problem(context, item, out):
        return out
    cs, _ = resolve_include_system(context, item.system, item.version)
    if cs is None:
        out.issues.append(_unknown_system_issue(context, item, quoted=True))
        out.unknown_system = context.registry.canonical(item.system)
        out.caused_by_unknown = True
        return out
    check_version(context.versions, cs)
    _check_in_code_system(context, facts, item, out, cs)
    out.member = out.concept is not None
    return out


# -- value set checks ------------------------------------------------------------------------
def _not_in_vs(item: Input, vs: Resource) -> JSON:
    system = f"{item.system}|{item.version}" if item.version else item.system or ""
    shown = f"{system}#{item.code}"
    if item.display:
        shown += f" ('{item.display}')"
    key = "None_of_the_provided_codes_are_in_the_value_set_one"
    return finding(key, shown, vs_key(vs), expression=item.at("code"))


def _infer_system(
    context: Context, item: Input, vs: Resource, expanded: Expanded, out: Outcome
) -> bool:
    context.budget.spend(len(expanded.entries))
    systems = sorted({e.system for e in expanded.entries.values() if e.code == item.code})
    if len(systems) == 1:
        item.system = systems[0]
        return True
    if systems:
        out.issues.append(
            finding(
                "Unable_to_resolve_system__value_set_has_multiple_matches",
                item.code,
                vs_key(vs),
                ", ".join(systems),
                expression=item.at("code"),
            )
        )
    elif (fixed := _fixed_system(vs)) is not None:
        # the value set draws on one code system only: the code is not in it
        out.issues.append(_not_in_vs(replace(item, system=fixed), vs))
        return False
    else:
        out.issues.append(
            finding(
                "UNABLE_TO_INFER_CODESYSTEM",
                item.code,
                vs_key(vs),
                expression=item.at("code"),
            )
        )
    out.issues.append(_not_in_vs(item, vs))
    return False


def _fixed_system(vs: Resource) -> str | None:
    """The one code system a value set's compose draws on (no imports), if there is one."""
    includes = vs.get("compose", {}).get("include", [])
    systems: set[str | None] = {inc.get("system") for inc in includes}
    if len(systems) != 1 or any(inc.get("valueSet") for inc in includes):
        return None
    return systems.pop()


def _vs_systems(vs: Resource) -> set[str]:
    compose = vs.get("compose", {})
    return {inc.get("system") for inc in compose.get("include", []) if inc.get("system")}


def check_in_value_set(
    context: Context, facts: Facts, item: Input, prepared: PreparedValueSet
) -> Outcome:
    """A coding against a prepared value set: its system, its code system version, the code
    in that code system, then membership. What repeats from coding to coding (version plans,
    systems found plain) is kept in `prepared` (see PreparedValueSet); facts:
    context.facts()."""
    vs, expanded, unknown = prepared.vs, prepared.expanded, prepared.unknown
    out = Outcome(item, system=item.system)
    if _incomplete(item, out):
        return out
    if not item.system and not _settle_system(context, facts, item, vs, expanded, out):
        return out
    out.system = item.system
    system = context.registry.canonical(cast(str, item.system))  # given, or just inferred
    if not _known_plain(item, prepared):
        if _system_problem(context, item, out):
            out.issues.insert(0, _not_in_vs(item, vs))
            return out
        if not _checkable(context, system, unknown):
            return _unknown_in_value_set(context, item, vs, out, unknown)
        _remember_plain(item, prepared)
    members: Set[str] = (
        expanded.versions_of(system, item.code) if expanded is not None else frozenset()
    )
    members = display_versions(context, system, item, members)
    versions = _plan(context, vs, system, item, members, prepared.plans)
    out.issues += versions.issues
    if versions.caused_by:
        out.unknown_system, out.caused_by_unknown = versions.caused_by, True
    if versions.cs is None:
        return out
    _check_in_code_system(context, facts, item, out, versions.cs)
    if versions.failed or expanded is None:
        out.valid = False
    if expanded is not None:
        _check_membership(facts, item, vs, expanded, out)
    return out


KEY_TEXT_MAX = 256  # a system or version longer than this is worked out, never remembered


def _known_plain(item: Input, prepared: PreparedValueSet) -> bool:
    """Whether the coding's system and version were found plain before: no system problem
    (_system_problem) and a code system the value set can be checked against (_checkable).
    That depends only on the system and version given (the registry and the evaluated value
    set are fixed for what `prepared` keeps), and most codings name the same system."""
    return prepared.plain_systems.get(_plain_key(item), False) is True  # (a dict lookup)


def _remember_plain(item: Input, prepared: PreparedValueSet) -> None:
    key = _plain_key(item)
    if key is not None and _short(key[0]) and _short(key[1]):
        prepared.plain_systems[key] = True  # bounded (caches.Kept): systems come from requests


def _plain_key(item: Input) -> tuple[str | None, str | None] | None:
    """(system, version); None for a version that is not a string (malformed: it fails
    where it would have, uncached)."""
    version = item.version
    return (item.system, version) if version is None or isinstance(version, str) else None


def _short(text: str | None) -> bool:
    """Whether a request's text may be part of what an expansion remembers (cached across
    requests: its memo counts an expansion's plans as bounded, see compose._expanded_size)."""
    return text is None or len(text) <= KEY_TEXT_MAX


def _checkable(context: Context, system: str, unknown: UnknownSystem | None) -> bool:
    """Whether system is a known code system and the value set's compose did not fail on
    another one (else _unknown_in_value_set reports it)."""
    known = context.registry.versions("CodeSystem", system) or context.registry.code_system(system)
    return bool(known) and (unknown is None or (unknown.system == system and bool(unknown.known)))


def _plan(
    context: Context,
    vs: Resource,
    system: str,
    item: Input,
    members: Set[str],
    plans: Kept | None,
) -> VersionPlan:
    """version_policy.plan, remembered in `plans`: given the value set and the version
    parameters (fixed for a context), a plan depends only on the system, the coding's
    version, the versions having the code and where the coding was (issue expressions).
    Plans are only read once made, so one may serve many codings."""
    if plans is None or not (_short(system) and _short(item.version)):
        return plan(context, vs, system, item.version, item, members)
    # the version parameters for this system: the expansion is shared by requests that
    # differ in the parameters of systems it does not consult (compose._relevant)
    asked = context.versions.asked(system)
    key = (system, item.version, frozenset(members), item.path, asked)
    found = plans.get(key)
    if found is None:
        # bounded (caches.Kept): codings come from requests
        found = plans[key] = plan(context, vs, system, item.version, item, members)
    return found  # type: ignore[return-value]  # plans holds what this function put


def _settle_system(
    context: Context,
    facts: Facts,
    item: Input,
    vs: Resource,
    expanded: Expanded | None,
    out: Outcome,
) -> bool:
    """A coding without a system: infer it from the value set when asked (inferSystem
    applies to a bare `code` only, not to a Coding or a CodeableConcept), else report it."""
    if facts.infer_system and expanded is not None and not item.path:
        return _infer_system(context, item, vs, expanded, out)
    out.issues.append(finding("Coding_has_no_system__cannot_validate", expression=item.whole))
    out.issues.append(_not_in_vs(item, vs))
    return False


def _check_membership(
    facts: Facts, item: Input, vs: Resource, expanded: Expanded, out: Outcome
) -> None:
    """Whether the concept found is in the value set (inactive and abstract codes may be
    excluded by the request)."""
    if facts.membership_only:
        out.issues = []
    concept, cs = out.concept, out.cs
    if concept is None or cs is None:
        if not out.valid:
            out.issues.insert(0, _not_in_vs(item, vs))
        return
    member = expanded.find(cs.url, concept.code, cs.version)
    if facts.active_only and concept.inactive:
        member = None
    if concept.abstract and facts.abstract_refused:
        member = None
    out.member = member is not None
    if member is None:
        out.issues.insert(0, _not_in_vs(item, vs))
        out.valid = False
        return
    if member.display and out.display is None:
        out.display = member.display
    if member.deprecated:
        key, where = "CONCEPT_DEPRECATED_IN_VALUESET", item.at("code")
        out.issues.append(finding(key, member.code, cs.url, vs_key(vs), expression=where))


def _unknown_in_value_set(
    context: Context, item: Input, vs: Resource, out: Outcome, unknown: UnknownSystem | None
) -> Outcome:
    """The value set (or the coding) names a code system we do not have."""
    system = context.registry.canonical(item.system or "")
    if system in _vs_systems(vs) or (unknown and unknown.system == system):
        out.issues.append(_unknown_system_issue(context, item, quoted=True))
        out.unknown_system = system
        out.caused_by_unknown = True
        return out
    out.issues.append(_not_in_vs(item, vs))
    quoted = item.path != "Coding" and unknown is None
    out.issues.append(_unknown_system_issue(context, item, quoted=quoted))
    out.unknown_system = system
    return out


# -- results ---------------------------------------------------------------------------------
def _tx_code(found: JSON) -> str | None:
    code: str | None = found["details"].get("coding", [{}])[0].get("code")
    return code


def _downgrade(found: JSON) -> JSON:
    """not-in-vs for one coding of a codeableConcept is information, not an error."""
    coding = {**found["details"]["coding"][0], "code": "this-code-not-in-vs"}
    return {**found, "severity": "information", "details": {**found["details"], "coding": [coding]}}


def _overloaded(context: Context, system: str | None) -> bool:
    """Several definitions of the system in scope: versions, or supplements of it."""
    if not system:
        return False
    registry = context.registry
    return len(registry.versions("CodeSystem", system)) > 1 or bool(
        registry.supplements_for(system)
    )


def _on_coding(context: Context, outcome: Outcome) -> rendering.OnCoding | None:
    """What rendering's location rule needs to know of the coding these issues are about
    (None when it cannot matter: most codings)."""
    displayed = outcome.input.display is not None
    if not displayed and not rendering.may_be_unlocated(outcome.issues):
        return None
    return rendering.OnCoding(displayed, _overloaded(context, outcome.input.system))


def _unchecked_are_warnings(outcomes: list[Outcome], vs: Resource | None) -> None:
    """A CodeableConcept is valid when one of its codings is: a coding whose code system is
    unknown was not checked, and says so with a warning instead of failing the concept."""
    if len(outcomes) < 2 or not any(_sound(o, vs) for o in outcomes):
        return
    for o in outcomes:
        if o.unknown_system and not o.valid:
            o.issues = [
                {**i, "severity": "warning"} if i["severity"] == "error" else i for i in o.issues
            ]
            o.caused_by_unknown = False


def _sound(outcome: Outcome, vs: Resource | None) -> bool:
    """A coding checked and found good (in the value set, when there is one)."""
    if not outcome.valid or (vs is not None and not outcome.member):
        return False
    return not any(i["severity"] == "error" for i in outcome.issues)


def _collect(
    context: Context, outcomes: list[Outcome], concept: JSON, vs: Resource | None
) -> tuple[list[JSON], list[rendering.OnCoding | None]]:
    """The issues of every coding, and (issue by issue) the coding each is about."""
    if concept:
        _unchecked_are_warnings(outcomes, vs)
    issues: list[JSON] = []
    on: list[rendering.OnCoding | None] = []
    for o in outcomes:
        if o.issues:
            issues += o.issues
            on += [_on_coding(context, o)] * len(o.issues)
    if not concept or vs is None:
        return issues, on
    issues = [_downgrade(i) if _tx_code(i) == "not-in-vs" else i for i in issues]
    if not any(o.member or o.caused_by_unknown for o in outcomes):
        general = finding("TX_GENERAL_CC_ERROR_MESSAGE", vs_key(vs))
        issues.insert(0, general)
        on.insert(0, None)
    return issues, on


def _chosen(outcomes: list[Outcome]) -> Outcome | None:
    """The outcome reported on: the first valid one, else member, else known, else first."""
    if len(outcomes) == 1:  # most requests give one coding: it is the one, whatever it found
        return outcomes[0]
    for test in (
        lambda o: o.valid,
        lambda o: o.member,
        lambda o: o.concept is not None,
        lambda o: True,
    ):
        found = next((o for o in outcomes if test(o)), None)
        if found is not None:
            return found
    return None


def _result(
    context: Context, outcomes: list[Outcome], concept: JSON, vs: Resource | None
) -> Resource:
    """The $validate-code Parameters: the coding reported on, issues, message, result."""
    issues, on = _collect(context, outcomes, concept, vs)
    chosen = _chosen(outcomes)
    valid = chosen is not None and chosen.valid  # _chosen takes a valid one if there is one
    params = _coding_params(chosen, concept, vs)
    if issues:  # most codings have none: skip the reading of them
        valid = valid and not any(i["severity"] == "error" for i in issues)
        params.append({"name": "issues", "resource": rendering.operation_outcome(issues, on)})
        if message := rendering.validation_message(issues):
            params.append({"name": "message", "valueString": message})
    params.append({"name": "result", "valueBoolean": valid})
    for o in outcomes:
        if o.unknown_system:
            name = "x-caused-by-unknown-system" if o.caused_by_unknown else "x-unknown-system"
            params.append({"name": name, "valueCanonical": o.unknown_system})
    return {"resourceType": "Parameters", "parameter": params}


def _coding_params(chosen: Outcome | None, concept: JSON, vs: Resource | None) -> list[JSON]:
    """code, codeableConcept, display, inactive, status, system, version, normalized-code."""
    params: list[JSON] = []
    if concept:
        params.append({"name": "codeableConcept", "valueCodeableConcept": concept})
    if chosen is None:
        return params
    known = chosen.concept is not None or chosen.valid
    if concept and vs is not None:
        known = chosen.member
    found = chosen.concept
    if known or not concept:
        if chosen.input.code:
            params.append({"name": "code", "valueCode": chosen.input.code})
        if chosen.system:
            params.append({"name": "system", "valueUri": chosen.system})
    if chosen.display and known:
        params.append({"name": "display", "valueString": chosen.display})
    if chosen.cs is not None and chosen.cs.version and known:
        params.append({"name": "version", "valueString": chosen.cs.version})
    if found is not None and found.inactive:
        params.append({"name": "inactive", "valueBoolean": True})
    if (
        found is not None
        and (found.inactive or found.deprecated)  # flagged
        and known
        and found.status not in (None, "active")
    ):
        params.append({"name": "status", "valueCode": found.status})
    if found is not None and found.code != chosen.input.code:
        params.append({"name": "normalized-code", "valueCode": found.code})
    return params


# -- operations ------------------------------------------------------------------------------
def _canonical_systems(context: Context, inputs: list[Input]) -> list[JSON]:
    """Alternate system URIs (aliases) are answered with the canonical URL, and say so."""
    notes: list[JSON] = []
    for item in inputs:
        canonical = context.registry.canonical(item.system) if item.system else None
        if canonical and canonical != item.system:
            notes.append(
                finding(
                    "SYSTEM_ALIAS",
                    item.system,
                    canonical,
                    expression=item.at("system"),
                )
            )
            item.system = canonical
    return notes


def _statuses(vs: Resource, expanded: Expanded | None) -> dict[str, tuple[str, str]]:
    """Resources used that are draft / experimental / deprecated / withdrawn: the value set
    and what its compose drew on (key -> (resource type, flag))."""
    statuses = dict(expanded.statuses) if expanded is not None else {}
    if flag := status_flag(vs):
        statuses[vs_key(vs)] = ("ValueSet", flag)
    return statuses


def _status_notes(statuses: dict[str, tuple[str, str]], outcomes: list[Outcome]) -> list[JSON]:
    """Information issues for the flagged resources used: the value set, and the code
    systems the codings were checked in."""
    if not statuses:
        return []
    used = {o.cs.key for o in outcomes if o.cs is not None}
    notes = []
    for key, (rtype, flag) in statuses.items():
        if rtype == "ValueSet" or key in used:
            notes.append(finding(f"MSG_{flag.upper()}", rtype, key))
    return notes


def _with_notes(result: Resource, notes: list[JSON]) -> Resource:
    if not notes:
        return result
    params = result["parameter"]
    found = next((p for p in params if p["name"] == "issues"), None)
    if found is None:
        params.append({"name": "issues", "resource": operation_outcome(notes)})
    else:
        found["resource"]["issue"] += notes
    return result


def run_code_system(context: Context, instance_id: str | None = None) -> Resource:
    url = None
    if instance_id:
        url = resolver.instance(context.registry, "CodeSystem", instance_id).get("url")
    else:
        url = context.params.get("url") or context.params.get("system")
    inputs, concept = _inputs(context, url)
    if len(inputs) == 1 and not inputs[0].path and not inputs[0].system:
        # a bare code and no code system named: nothing it could be validated against
        raise TerminologyError.of(
            400, "invalid", None, "CS_VALIDATE_NO_SYSTEM", inputs[0].code, expression="code"
        )
    notes = _canonical_systems(context, inputs)
    facts = context.facts()
    outcomes = [check_coding(context, facts, item) for item in inputs]
    return _with_notes(_result(context, outcomes, concept, None), notes)


@dataclass
class PreparedValueSet:
    """What ValueSet/$validate-code works out before it looks at any coding: the value set,
    its display language and its evaluated compose (or why that failed). A batch prepares
    once and checks each validation's codings against it: doing this per coding was most
    of a batch's time, and the answers do not depend on which coding asked."""

    vs: Resource
    language: str | None
    expanded: Expanded | None = None
    unknown: UnknownSystem | None = None
    error: TerminologyError | None = None  # evaluating the compose failed
    statuses: dict[str, tuple[str, str]] = field(default_factory=dict)  # see _statuses
    # what checking codings works out that repeats from coding to coding (see
    # check_in_value_set): the expansion's when there is one (cached per registry, value set
    # and version parameters, all a plan depends on besides the coding), else this batch's
    plans: Kept = field(default_factory=lambda: Kept(PLANS_KEPT))
    plain_systems: Kept = field(default_factory=lambda: Kept(SYSTEMS_KEPT))


def prepare_value_set(context: Context, instance_id: str | None = None) -> PreparedValueSet:
    """Resolve the value set (instance, `valueSet` or url+version), check the supplements it
    asks for and evaluate its compose. Raises what a $validate-code raises before it reads
    its codings; a failed evaluation is kept, since the codings are read before it counts."""
    vs = resolve_value_set(context, instance_id)
    context.use_value_set_language(vs)
    context.against(vs, context.value_set_language)
    for url in requested(context, vs):
        if context.registry.supplement(url) is None:
            raise missing_error(url)
    expanded = unknown = failed = None
    try:
        expanded, unknown = _expand_for_validation(context, vs)
    except TooCostly:
        raise  # the request stops: never an answer per coding
    except TerminologyError as error:
        failed = error
    language, statuses = context.value_set_language, _statuses(vs, expanded)
    if expanded is None:  # what checking codings works out is this request's own
        return PreparedValueSet(vs, language, None, unknown, failed, statuses)
    # else the expansion's, cached across requests with it (not made per request)
    plans, plain = expanded.plans, expanded.plain_systems
    return PreparedValueSet(vs, language, expanded, unknown, failed, statuses, plans, plain)


def validate_prepared(context: Context, prepared: PreparedValueSet) -> Resource:
    """The $validate-code answer for this context's codings against a prepared value set."""
    vs = prepared.vs
    context.against(vs, prepared.language)
    inputs, concept = _inputs(context)
    if prepared.error is not None:
        # a fresh copy per answer: a batch may report the same failure many times
        error = TerminologyError(prepared.error.status, copy.deepcopy(prepared.error.outcome))
        if error.status != 404:
            raise error
        return _failed(error.outcome["issue"], concept)
    notes = _canonical_systems(context, inputs)
    facts = context.facts()
    outcomes = [check_in_value_set(context, facts, item, prepared) for item in inputs]
    notes += _status_notes(prepared.statuses, outcomes)
    return _with_notes(_result(context, outcomes, concept, vs), notes)


def run_value_set(context: Context, instance_id: str | None = None) -> Resource:
    return validate_prepared(context, prepare_value_set(context, instance_id))


def _failed(issues: list[JSON], concept: JSON) -> Resource:
    """The value set could not be evaluated (e.g. an import is missing): result false."""
    echo = [{"name": "codeableConcept", "valueCodeableConcept": concept}] if concept else []
    return {
        "resourceType": "Parameters",
        "parameter": echo
        + [
            {"name": "issues", "resource": operation_outcome(issues)},
            {"name": "message", "valueString": rendering.failure_message(issues)},
            {"name": "result", "valueBoolean": False},
        ],
    }


def _expand_for_validation(
    context: Context, vs: Resource
) -> tuple[Expanded | None, UnknownSystem | None]:
    try:
        return Composer(context, strict=False).evaluate(vs), None
    except UnknownSystem as unknown:
        return None, unknown
