"""Which code system version applies: the one place that decides it.

Inputs (fixed per request, see terminology/request.py): the version parameters
`force-system-version` (wins over everything), `system-version` (the version a reference
without one takes), `check-system-version` (the version the one chosen must match, else an
error), `default-valueset-version` (the same for imported value sets), and `date` (the
release in force that day becomes the default of each dated code system, unless
`system-version` names one). Without any, a reference takes the version it names, else the
registry's latest (registry.preference_key).

Per coding in a value set (`plan`): the coding's own version, the value set's include
version and the parameters above are weighed, with the issues the reference server reports
when they disagree (messages in data/messages.json, kept byte for byte).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from terminology.canonical import canonical_parts
from terminology.index import day
from terminology.outcome import TerminologyError, finding
from terminology.providers import CodeSystemProvider
from terminology.registry import Registry, version_key, version_matches
from terminology.rendering import Issue, operation_outcome
from terminology.resolver import unknown_code_system

if TYPE_CHECKING:
    from terminology.operations import Context
    from terminology.params import Params

Finding = Issue  # an OperationOutcome issue (outcome.finding)
ValueSet = Mapping[str, Any]  # an R5 ValueSet (JSON)
VersionKey = tuple[tuple[tuple[str, str], ...], ...]  # see VersionPolicy.relevant
NO_VERSIONS: VersionKey = ((), (), (), ())
# the parameters a policy is built from (request.py's table marks them as version inputs)
VERSION_PARAMETERS = (
    "force-system-version",
    "system-version",
    "check-system-version",
    "default-valueset-version",
)

_NAMES = frozenset(VERSION_PARAMETERS)


@dataclass(frozen=True, slots=True, eq=False)
class VersionPolicy:
    """A request's version parameters (canonical url -> version), read only once built."""

    force: Mapping[str, str]
    default: Mapping[str, str]
    check: Mapping[str, str]
    value_sets: Mapping[str, str]

    @classmethod
    def from_parameters(cls, registry: Registry, params: Params, date: str | None) -> VersionPolicy:
        """The policy the parameters ask for; `date` (YYYY-MM-DD) adds the release in force
        that day as the default of every dated code system `system-version` leaves open."""
        if not date and not params.has_any(_NAMES):
            return NONE  # most requests
        found: tuple[dict[str, str], ...] = ({}, {}, {}, {})
        for name, target in zip(VERSION_PARAMETERS, found, strict=True):
            for value in params.all(name):
                url, version = canonical_parts(str(value))
                if version:
                    target[registry.canonical(url)] = version
        force, default, check, value_sets = found
        if date:
            for url, version in registry.in_force(date).items():
                default.setdefault(url, version)
        if not (force or default or check or value_sets):
            return NONE
        return cls(force, default, check, value_sets)

    def chosen(self, system: str, version: str | None) -> str | None:
        """The version a reference to system (canonical) at version (None: unversioned)
        resolves: forced, else its own, else the default, else the one to check against;
        None: the latest."""
        return (
            self.force.get(system) or version or self.default.get(system) or self.check.get(system)
        )

    def forced(self, system: str) -> str | None:
        return self.force.get(system)

    def default_for(self, system: str) -> str | None:
        """The version an unversioned reference to system takes by parameter (system-version,
        or the release in force at `date`); None: the latest."""
        return self.default.get(system)

    def fallback(self, system: str) -> str | None:
        """The version an unversioned coding falls back to: the default, else the checked one."""
        return self.default.get(system) or self.check.get(system)

    def required(self, system: str) -> str | None:
        """The version check-system-version requires of system."""
        return self.check.get(system)

    def defaults(self, system: str) -> bool:
        """Whether a parameter (not force) picks the version of an unversioned include."""
        return system not in self.force and (system in self.default or system in self.check)

    def value_set(self, url: str) -> str:
        """An imported value set's canonical, with default-valueset-version when unversioned."""
        if "|" not in url and url in self.value_sets:
            return f"{url}|{self.value_sets[url]}"
        return url

    def asked(self, system: str) -> tuple[str | None, str | None, str | None]:
        """What the parameters say about system (a key for what is worked out per system)."""
        return self.force.get(system), self.default.get(system), self.check.get(system)

    def relevant(
        self, systems: Set[str], versionless: Set[str], value_sets: Set[str]
    ) -> VersionKey:
        """The parameters that concern an evaluation that consulted these code systems (the
        versionless ones take defaults) and value sets: all a cached evaluation depends on
        besides its compose. Versions given for anything else (a flood of distinct
        `system-version` values, say) reuse it instead of caching it again."""
        if self is NONE:
            return NO_VERSIONS  # most requests give none
        return (
            _restricted(self.force, systems),
            _restricted(self.default, versionless),
            _restricted(self.check, systems),
            _restricted(self.value_sets, value_sets),
        )


NONE = VersionPolicy({}, {}, {}, {})  # no version parameters (most requests)


def _restricted(versions: Mapping[str, str], keys: Set[str]) -> tuple[tuple[str, str], ...]:
    if not versions:
        return ()
    return tuple(sorted((k, v) for k, v in versions.items() if k in keys))


def request_date(raw: object) -> str | None:
    """The `date` parameter as YYYY-MM-DD (answer as of that day), None when not given."""
    return day(str(raw)) if raw else None


def value_set_version(
    registry: Registry, url: str, asked: str | None, date: str | None
) -> str | None:
    """The version of the value set at url a request means: the one asked (valueSetVersion,
    or `url|version`), else at a `date` the one in force that day, else none (the latest)."""
    if asked or not date or "|" in url:
        return asked
    return registry.version_at("ValueSet", url, date)


def check_version(policy: VersionPolicy, cs: CodeSystemProvider) -> None:
    """Raise when check-system-version asks for another version than cs."""
    required = policy.required(cs.url)
    if required and not version_matches(required, cs.version):
        found = finding("VALUESET_VERSION_CHECK", cs.version, cs.url, required)
        raise TerminologyError(400, operation_outcome([found]))


# -- a coding in a value set -------------------------------------------------------------------
class Coded(Protocol):
    """What a plan reads of a coding (validate.Input)."""

    @property
    def code(self) -> str: ...
    @property
    def version(self) -> str | None: ...
    @property
    def display(self) -> str | None: ...
    def at(self, element: str) -> str: ...


@dataclass
class VersionPlan:
    cs: CodeSystemProvider | None
    issues: list[Finding] = field(default_factory=list)
    caused_by: str | None = None

    _failed: bool | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def failed(self) -> bool:
        """Whether an issue is an error. Asked once the plan is made (plans are not changed
        after), per coding, and a batch reuses one plan for many codings: worked out once."""
        if self._failed is None:
            self._failed = any(i["severity"] == "error" for i in self.issues)
        return self._failed


def display_versions(context: Context, system: str, item: Coded, members: Set[str]) -> Set[str]:
    """Of the versions whose value set entry holds a coding's code (members), those where its
    display is valid, when the coding names no version and that narrows them (the reference
    server takes the version that agrees with the display); else members."""
    if item.version or item.display is None or len(members) < 2:
        return members
    if context.versions.forced(system):
        return members
    from terminology.operations.displays import check_display

    agreeing = set()
    for version in members:
        cs = _resolve(context, system, version)
        concept = cs.find(item.code) if cs is not None else None
        if (
            cs is not None
            and concept is not None
            and check_display(context, cs, concept, item) is None
        ):
            agreeing.add(version)
    return agreeing or members


def _include_version(
    vs: ValueSet, system: str, given: str | None = None, members: Iterable[str] | None = None
) -> str | None:
    """The version the value set includes system at: the coding's own version when the value
    set includes that one, else the latest included one that has the code (members: the
    versions in which the code is in the expansion), else the latest one included."""
    versions = [
        str(include["version"])
        for include in vs.get("compose", {}).get("include", [])
        if include.get("system") == system and include.get("version")
    ]
    if given and any(version_matches(v, given) for v in versions):
        return next(v for v in versions if version_matches(v, given))
    having = [v for v in versions if any(version_matches(v, m) for m in members or ())]
    return max(having or versions, key=version_key) if versions else None


def _resolve(context: Context, system: str, version: str | None) -> CodeSystemProvider | None:
    return context.registry.code_system(system, version)


def _unknown(context: Context, system: str, version: str, where: str) -> Finding:
    return unknown_code_system(context.registry, system, version, expression=where)


def _mismatch(system: str, included: str, given: str, where: str) -> Finding:
    return finding("VALUESET_VALUE_MISMATCH", system, included, given, expression=where)


def _changed(system: str, resolved: str | None, given: str, included: str, where: str) -> Finding:
    return finding(
        "VALUESET_VALUE_MISMATCH_CHANGED", system, resolved, given, included, expression=where
    )


def plan(
    context: Context, vs: ValueSet, system: str, given: str | None, item: Coded, members: Set[str]
) -> VersionPlan:
    """The version to validate a coding (its version: given) against, and what disagreed
    on the way."""
    force = context.versions.forced(system)
    if force:
        result = VersionPlan(_resolve(context, system, force))
        if given and not version_matches(force, given):
            pinned = _include_version(vs, system) or ""
            result.issues.append(_changed(system, force, given, pinned, item.at("version")))
        if given and _resolve(context, system, given) is None:
            result.issues.append(_unknown(context, system, given, item.at("system")))
            result.caused_by = f"{system}|{given}"
        return _checked(context, result, system, item)
    included = _include_version(vs, system, given, members)
    if included:
        result = _with_include(context, system, included, given, item)
    else:
        result = _versionless(context, system, given, item)
    return _checked(context, result, system, item)


def _with_include(
    context: Context, system: str, included: str, given: str | None, item: Coded
) -> VersionPlan:
    pinned = _resolve(context, system, included)
    if pinned is None:
        result = VersionPlan(_resolve(context, system, given) if given else None)
        if result.cs is None:  # the version parameters' choice, else the latest
            default = context.versions.fallback(system)
            result.cs = _resolve(context, system, default) if default else None
        if result.cs is None:
            result.cs = _resolve(context, system, None)
        result.issues.append(_unknown(context, system, included, item.at("system")))
        result.caused_by = f"{system}|{included}"
        if given and given != included:
            result.issues.append(_mismatch(system, included, given, item.at("version")))
        return result
    if not given or version_matches(included, given):
        return VersionPlan(_resolve(context, system, given) or pinned if given else pinned)
    result = VersionPlan(pinned)
    shown = pinned.version if version_matches(included, pinned.version) else None
    shown = shown or included  # (the same: version_matches is False for no version)
    result.issues.append(_mismatch(system, shown, given, item.at("version")))
    if _resolve(context, system, given) is None:
        result.issues.append(_unknown(context, system, given, item.at("system")))
        result.caused_by = f"{system}|{given}"
    return result


def _versionless(context: Context, system: str, given: str | None, item: Coded) -> VersionPlan:
    policy = context.versions
    fallback = _resolve(context, system, policy.fallback(system)) or _resolve(context, system, None)
    if not given:
        return VersionPlan(fallback)
    found = _resolve(context, system, given)
    if found is not None:
        return VersionPlan(found)
    result = VersionPlan(fallback, caused_by=f"{system}|{given}")
    result.issues.append(_unknown(context, system, given, item.at("system")))
    checked = policy.required(system)
    if fallback is not None and policy.default_for(system):
        result.issues.append(_changed(system, fallback.version, given, "", item.at("version")))
    elif fallback is not None and checked:
        result.issues.append(_changed(system, checked, given, "", item.at("version")))
    elif fallback is not None:
        result.issues.append(
            finding(
                "VALUESET_VALUE_MISMATCH_DEFAULT",
                system,
                fallback.version,
                given,
                expression=item.at("version"),
            )
        )
    return result


def _checked(context: Context, result: VersionPlan, system: str, item: Coded) -> VersionPlan:
    required = context.versions.required(system)
    if required and result.cs is not None and not version_matches(required, result.cs.version):
        found = finding(
            "VALUESET_VERSION_CHECK",
            result.cs.version,
            system,
            required,
            expression=item.at("version"),
        )
        result.issues.insert(0, found)
    return result
