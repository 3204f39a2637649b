"""Which code system version a coding is validated against in a value set, and the issues
when the coding's version, the value set's include version and the version parameters
(force-/system-/check-system-version) disagree."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field

from terminology.index import CodeSystemIndex
from terminology.operations import Context
from terminology.outcome import finding
from terminology.registry import version_key, version_matches


@dataclass
class VersionPlan:
    cs: CodeSystemIndex | None
    issues: list[dict] = field(default_factory=list)
    caused_by: str | None = None

    _failed: bool | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def failed(self) -> bool:
        """Whether an issue is an error. Asked once the plan is made (plans are not changed
        after), per coding, and a batch reuses one plan for many codings: worked out once."""
        if self._failed is None:
            self._failed = any(i["severity"] == "error" for i in self.issues)
        return self._failed


def display_versions(context: Context, system: str, item, members: Set[str]) -> Set[str]:
    """Of the versions whose value set entry holds a coding's code (members), those where its
    display is valid, when the coding names no version and that narrows them (the reference
    server takes the version that agrees with the display); else members."""
    if item.version or item.display is None or len(members) < 2:
        return members
    if context.force_versions.get(system):
        return members
    from terminology.operations.displays import check_display

    agreeing = set()
    for version in members:
        cs = _resolve(context, system, version)
        concept = cs.find(item.code) if cs is not None else None
        if concept is not None and check_display(context, cs, concept, item) is None:
            agreeing.add(version)
    return agreeing or members


def _include_version(
    vs: dict, system: str, given: str | None = None, members: Set[str] | None = None
) -> str | None:
    """The version the value set includes system at: the coding's own version when the value
    set includes that one, else the latest included one that has the code (members: the
    versions in which the code is in the expansion), else the latest one included."""
    versions = [
        include["version"]
        for include in vs.get("compose", {}).get("include", [])
        if include.get("system") == system and include.get("version")
    ]
    if given and any(version_matches(v, given) for v in versions):
        return next(v for v in versions if version_matches(v, given))
    having = [v for v in versions if any(version_matches(v, m) for m in members or ())]
    return max(having or versions, key=version_key) if versions else None


def _resolve(context: Context, system: str, version: str | None) -> CodeSystemIndex | None:
    return context.registry.code_system(system, version)


def _unknown(context: Context, system: str, version: str, where: str) -> dict:
    known = context.registry.versions("CodeSystem", system)
    if not known:
        return finding(
            "UNKNOWN_CODESYSTEM_VERSION_NONE",
            system,
            version,
            expression=where,
        )
    return finding(
        "UNKNOWN_CODESYSTEM_VERSION",
        system,
        version,
        " or ".join(known),
        expression=where,
    )


def _mismatch(system: str, included: str, given: str, where: str) -> dict:
    return finding(
        "VALUESET_VALUE_MISMATCH",
        system,
        included,
        given,
        expression=where,
    )


def plan(
    context: Context, vs: dict, system: str, given: str | None, item, members: Set[str]
) -> VersionPlan:
    """The version to validate against, and what disagreed on the way."""
    force = context.force_versions.get(system)
    if force:
        result = VersionPlan(_resolve(context, system, force))
        if given and not version_matches(force, given):
            included = _include_version(vs, system) or ""
            result.issues.append(_changed(system, force, given, included, item.at("version")))
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


def _with_include(context: Context, system: str, included: str, given: str | None, item):
    pinned = _resolve(context, system, included)
    if pinned is None:
        result = VersionPlan(_resolve(context, system, given) if given else None)
        if result.cs is None:  # the version parameters' choice, else the latest
            default = context.default_versions.get(system) or context.check_versions.get(system)
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
    shown = included if not version_matches(included, pinned.version) else pinned.version
    result.issues.append(_mismatch(system, shown, given, item.at("version")))
    if _resolve(context, system, given) is None:
        result.issues.append(_unknown(context, system, given, item.at("system")))
        result.caused_by = f"{system}|{given}"
    return result


def _changed(system: str, resolved: str, given: str, included: str, where: str) -> dict:
    return finding(
        "VALUESET_VALUE_MISMATCH_CHANGED",
        system,
        resolved,
        given,
        included,
        expression=where,
    )


def _versionless(context: Context, system: str, given: str | None, item) -> VersionPlan:
    default = context.default_versions.get(system) or context.check_versions.get(system)
    fallback = _resolve(context, system, default) or _resolve(context, system, None)
    if not given:
        return VersionPlan(fallback)
    found = _resolve(context, system, given)
    if found is not None:
        return VersionPlan(found)
    result = VersionPlan(fallback, caused_by=f"{system}|{given}")
    result.issues.append(_unknown(context, system, given, item.at("system")))
    if fallback is not None and context.default_versions.get(system):
        result.issues.append(_changed(system, fallback.version, given, "", item.at("version")))
    elif fallback is not None and context.check_versions.get(system):
        checked = context.check_versions[system]
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


def _checked(context: Context, result: VersionPlan, system: str, item) -> VersionPlan:
    required = context.check_versions.get(system)
    if required and result.cs is not None and not version_matches(required, result.cs.version):
        result.issues.insert(
            0,
            finding(
                "VALUESET_VERSION_CHECK",
                result.cs.version,
                system,
                required,
                expression=item.at("version"),
            ),
        )
    return result
