"""HCPCS across releases: the replacement ConceptMap and what changed between two releases.

Everything works on HCPCS CodeSystem dicts as `to_fhir` builds them (R5), so the server can
call it on the releases it stores without re-reading CMS files. See docs/codesystem.md
("HCPCS over time") for the FHIR shapes and the reasons behind them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .fhir import HCPCS_URL, JURISDICTION, PUBLISHER, VALUESET_BASE
from .fhir_types import JSON, Resource
from .layout import NAMESPACE

REPLACEMENTS_URL = f"{NAMESPACE}/ConceptMap/hcpcs-replacements"
CPT_URL = "http://www.ama-assn.org/go/cpt"
"""XREF may name a CPT code (5 digits, or 4 digits + F/T/U): those targets are CPT, not HCPCS."""

CHANGE_KINDS = ("added", "removed", "terminated", "redescribed", "property-changed")
"""Kinds of change, in report order; a code in both releases can have several."""

VALUESET_KINDS = {
    "added": ("Added", "added in", "Codes in HCPCS {new} that are not in {old}."),
    "terminated": (
        "Terminated",
        "terminated in",
        "Codes in both {old} and {new} terminated in {new}: a termination date appears, "
        "or one announced earlier takes effect.",
    ),
    "redescribed": (
        "Redescribed",
        "re-described in",
        "Codes in both {old} and {new} whose long description (display) changed.",
    ),
}
"""Kind -> (name part, title verb, description) of the extensional ValueSets."""

# What $changes reads of a code system's properties, found by their standard URIs (as the
# CodeSystem declares them), so that any code system's releases compare; the FHIR property
# codes stand in where a code system declares none.
_RETIREMENT_DATE = "http://hl7.org/fhir/concept-properties#retirementDate"
_STATUS = "http://hl7.org/fhir/concept-properties#status"
_INACTIVE = "http://hl7.org/fhir/concept-properties#inactive"


@dataclass(frozen=True)
class _Roles:
    """The property codes of one code system that carry a concept's end of use."""

    termination: str = "retirementDate"  # the day a code stops being valid
    status: str = "status"
    derived: tuple[str, ...] = ("status", "inactive")  # follow from the termination date


_HCPCS_ROLES = _Roles("termination-date")  # what the HCPCS-only resources below read


def _roles(codesystem: Resource) -> _Roles:
    by_uri = {p.get("uri"): p["code"] for p in codesystem.get("property", []) if p.get("code")}
    status = by_uri.get(_STATUS, "status")
    return _Roles(
        by_uri.get(_RETIREMENT_DATE, "retirementDate"),
        status,
        (status, by_uri.get(_INACTIVE, "inactive")),
    )


_CPT_CODE = re.compile(r"^\d{4}[0-9FTU]$")
_NO_VALUE = "-"


@dataclass(frozen=True)
class PropertyChange:
    """One property of one code: its values before and after, as FHIR `value[x]` dicts."""

    property: str
    old: tuple[JSON, ...]
    new: tuple[JSON, ...]


@dataclass(frozen=True)
class CodeChange:
    """Everything that changed for one code (display is the new one, the old if removed)."""

    code: str
    kinds: tuple[str, ...]
    display: str | None
    old_display: str | None = None
    properties: tuple[PropertyChange, ...] = ()


@dataclass(frozen=True)
class ReleaseChanges:
    """The change list between two releases of one code system, by code."""

    system: str
    from_version: str
    to_version: str
    changes: tuple[CodeChange, ...] = field(default_factory=tuple)

    def codes(self, kind: str) -> tuple[str, ...]:
        """Codes with one kind of change, in code order."""
        return tuple(c.code for c in self.changes if kind in c.kinds)

    def counts(self) -> dict[str, int]:
        """Kind -> number of codes (a code with two kinds counts in both)."""
        return {kind: len(self.codes(kind)) for kind in CHANGE_KINDS}

    def change(self, code: str) -> CodeChange | None:
        return next((c for c in self.changes if c.code == code), None)


# --- reading concepts from a CodeSystem dict ------------------------------------------------


def _concepts(codesystem: Resource) -> dict[str, JSON]:
    return {c["code"]: c for c in codesystem.get("concept", [])}


def _values(concept: JSON, prop: str) -> tuple[JSON, ...]:
    """The property's values as `{value[x]: ...}` dicts, in CMS order."""
    return tuple(
        {k: v for k, v in p.items() if k.startswith("value")}
        for p in concept.get("property", [])
        if p["code"] == prop
    )


def _key(value: JSON) -> object:
    """What makes two values equal: a Coding by system and code (displays may be reworded)."""
    (name, raw), *_ = value.items()
    return (raw.get("system"), raw.get("code")) if name == "valueCoding" else raw


def _text(value: JSON) -> str:
    (_, raw), *_ = value.items()
    return str(raw["code"] if isinstance(raw, dict) else raw)


def _termination(concept: JSON, roles: _Roles) -> str | None:
    values = _values(concept, roles.termination)
    return values[0]["valueDateTime"] if values else None


def _status(concept: JSON, roles: _Roles) -> str | None:
    values = _values(concept, roles.status)
    return values[0]["valueCode"] if values else None


# --- compare_releases -----------------------------------------------------------------------


def compare_releases(old: Resource, new: Resource) -> ReleaseChanges:
    """What changed from one HCPCS CodeSystem (release) to another, code by code."""
    if old.get("url") != new.get("url"):
        raise ValueError(f"not the same code system: {old.get('url')} vs {new.get('url')}")
    before, after, roles = _concepts(old), _concepts(new), _roles(new)
    changes = (
        _change(code, before.get(code), after.get(code), roles) for code in sorted(before | after)
    )
    return ReleaseChanges(
        new.get("url", HCPCS_URL),
        old["version"],
        new["version"],
        tuple(c for c in changes if c is not None),
    )


def _change(code: str, old: JSON | None, new: JSON | None, roles: _Roles) -> CodeChange | None:
    if old is None:
        return CodeChange(code, ("added",), new.get("display") if new else None)
    if new is None:
        return CodeChange(code, ("removed",), old.get("display"))
    if old == new:  # most codes: one C-level comparison instead of property by property
        return None
    redescribed = old.get("display") != new.get("display")
    properties = _property_changes(old, new, roles)
    flags = {
        "terminated": _newly_terminated(old, new, roles),
        "redescribed": redescribed,
        "property-changed": bool(properties),
    }
    kinds = tuple(kind for kind, changed in flags.items() if changed)
    if not kinds:
        return None
    old_display = old.get("display") if redescribed else None
    return CodeChange(code, kinds, new.get("display"), old_display, properties)


def _newly_terminated(old: JSON, new: JSON, roles: _Roles) -> bool:
    """A termination date appears; or one already announced takes effect (active -> retired)."""
    if not _termination(new, roles):
        return False
    if not _termination(old, roles):
        return True
    return _status(old, roles) == "active" and _status(new, roles) == "retired"


def _property_changes(old: JSON, new: JSON, roles: _Roles) -> tuple[PropertyChange, ...]:
    """Differing properties, ignoring status/inactive when a termination date explains them."""
    before, after = _grouped(old), _grouped(new)
    derived_only = bool(_termination(old, roles) or _termination(new, roles))
    out = []
    for name in before | after:
        if name in roles.derived and derived_only:
            continue
        was, now = before.get(name, ()), after.get(name, ())
        if [_key(v) for v in was] != [_key(v) for v in now]:
            out.append(PropertyChange(name, was, now))
    return tuple(out)


def _grouped(concept: JSON) -> dict[str, tuple[JSON, ...]]:
    """Property code -> its values, in declaration order (one pass over the concept)."""
    out: dict[str, list[JSON]] = {}
    for p in concept.get("property", []):
        out.setdefault(p["code"], []).append({k: v for k, v in p.items() if k != "code"})
    return {name: tuple(values) for name, values in out.items()}


# --- the change list as FHIR ----------------------------------------------------------------


def changes_to_parameters(changes: ReleaseChanges) -> Resource:
    """The body of CodeSystem/$changes: versions, counts per kind, then one `change` per code.

    Shape (R5 Parameters): system, fromVersion, toVersion, one integer per kind (added,
    removed, terminated, redescribed, property-changed), then for each changed code a
    `change` with parts code, display, kind (1..*), previousDisplay (re-described), and per
    changed property a `property` part: code, old (0..*), new (0..*) as typed values.
    """
    parameters: list[JSON] = [
        {"name": "system", "valueUri": changes.system},
        {"name": "fromVersion", "valueString": changes.from_version},
        {"name": "toVersion", "valueString": changes.to_version},
    ]
    parameters += [{"name": k, "valueInteger": n} for k, n in changes.counts().items()]
    parameters += [{"name": "change", "part": _change_parts(c)} for c in changes.changes]
    return {"resourceType": "Parameters", "parameter": parameters}


def _change_parts(change: CodeChange) -> list[JSON]:
    parts: list[JSON] = [{"name": "code", "valueCode": change.code}]
    if change.display:
        parts.append({"name": "display", "valueString": change.display})
    parts += [{"name": "kind", "valueCode": kind} for kind in change.kinds]
    if change.old_display:
        parts.append({"name": "previousDisplay", "valueString": change.old_display})
    parts += [{"name": "property", "part": _property_parts(p)} for p in change.properties]
    return parts


def _property_parts(change: PropertyChange) -> list[JSON]:
    parts: list[JSON] = [{"name": "code", "valueCode": change.property}]
    parts += [{"name": "old", **value} for value in change.old]
    parts += [{"name": "new", **value} for value in change.new]
    return parts


def change_valuesets(old: Resource, new: Resource) -> list[Resource]:
    """Extensional ValueSets "added / terminated / re-described in <new version>".

    Pinned to the new release (include.version); an empty list is expressed as the whole
    code system included and excluded, because an include without concepts means all codes.
    """
    changes = compare_releases(old, new)
    return [_change_valueset(kind, changes, new) for kind in VALUESET_KINDS]


def _change_valueset(kind: str, changes: ReleaseChanges, new: Resource) -> Resource:
    name, verb, description = VALUESET_KINDS[kind]
    old_version, version = changes.from_version, changes.to_version
    concepts = _concepts(new)
    listed = [{"code": c, "display": concepts[c]["display"]} for c in changes.codes(kind)]
    include: JSON = {"system": changes.system, "version": version}
    compose: JSON = {"include": [include | {"concept": listed} if listed else include]}
    if not listed:
        compose["exclude"] = [dict(include)]
    if kind == "terminated":
        compose["inactive"] = True  # its members are retired in this release, by definition
    vs_id = f"hcpcs-{kind}-{version}"
    return {
        "resourceType": "ValueSet",
        "id": vs_id,
        "url": f"{VALUESET_BASE}{vs_id}",
        "version": version,
        "name": f"HCPCS{name}{version.replace('-', '')}",
        "title": f"HCPCS Level II codes {verb} {version}",
        "status": "active",
        "experimental": False,
        "publisher": PUBLISHER,
        "description": description.format(old=old_version, new=version),
        "jurisdiction": JURISDICTION,
        "compose": compose,
    }


# --- the replacement ConceptMap -------------------------------------------------------------


def replacements_conceptmap(codesystems: Iterable[Resource]) -> Resource:
    """R5 ConceptMap "HCPCS replacements": each terminated code -> the codes CMS's XREF names.

    Each code is taken from the newest release that has it (CMS's latest word on it).
    Relationship `related-to`: XREF says which code to bill instead, not how the meanings
    compare (a replacement may be finer, coarser or re-dosed). A terminated code with no
    XREF is `noMap` (R5: no target). CPT targets go to a CPT group.
    """
    releases = sorted(codesystems, key=lambda cs: cs["version"])
    latest = {code: c for cs in releases for code, c in _concepts(cs).items()}
    groups: dict[str, list[JSON]] = {HCPCS_URL: [], CPT_URL: []}
    for code in sorted(latest):
        for system, element in _elements(latest[code], latest):
            groups[system].append(element)
    versions = [cs["version"] for cs in releases]
    return _conceptmap(versions, groups)


def _elements(concept: JSON, known: dict[str, JSON]) -> list[tuple[str, JSON]]:
    """(target system, element) pairs for one concept: none unless it is terminated."""
    ended = _termination(concept, _HCPCS_ROLES)
    if not ended:
        return []
    source = {"code": concept["code"], "display": concept["display"]}
    xrefs = [v["valueCode"] for v in _values(concept, "cross-reference")]
    if not xrefs:
        return [(HCPCS_URL, source | {"noMap": True})]
    by_system: dict[str, list[JSON]] = {}
    for xref in xrefs:
        system = CPT_URL if _CPT_CODE.match(xref) else HCPCS_URL
        by_system.setdefault(system, []).append(_target(concept["code"], xref, ended, known))
    return [(system, source | {"target": targets}) for system, targets in by_system.items()]


def _target(code: str, xref: str, ended: str, known: dict[str, JSON]) -> JSON:
    target: JSON = {"code": xref}
    if xref in known:
        target["display"] = known[xref]["display"]
    return target | {
        "relationship": "related-to",
        "comment": f"CMS cross-reference (XREF) of {code}, whose last day of use is {ended}.",
        "property": [{"code": "termination-date", "valueDateTime": ended}],
    }


def _conceptmap(versions: list[str], groups: dict[str, list[JSON]]) -> Resource:
    listed = ", ".join(versions)
    return {
        "resourceType": "ConceptMap",
        "id": "hcpcs-replacements",
        "url": REPLACEMENTS_URL,
        **({"version": versions[-1]} if versions else {}),
        "name": "HCPCSReplacements",
        "title": "HCPCS replacements",
        "status": "active",
        "experimental": False,
        "publisher": PUBLISHER,
        "description": (
            "Terminated HCPCS Level II codes and the codes CMS cross-references them to "
            f"(XREF), from HCPCS releases {listed or 'none'}. Relationship related-to: CMS "
            "names the code to use instead, not how the meanings compare. Terminated codes "
            "without a cross-reference are noMap."
        ),
        "jurisdiction": JURISDICTION,
        "property": [
            {
                "code": "termination-date",
                "description": "Last day the source code may be used (CMS TERM DT).",
                "type": "dateTime",
            }
        ],
        "group": [
            {"source": HCPCS_URL, "target": system, "element": elements}
            for system, elements in groups.items()
            if elements
        ],
    }


# --- text -----------------------------------------------------------------------------------

_HEADINGS = {
    "added": "Added",
    "removed": "Removed (absent from the new release)",
    "terminated": "Terminated",
    "redescribed": "Re-described",
    "property-changed": "Property changes",
}


def format_changes(changes: ReleaseChanges, width: int = 100) -> str:
    """The change list as readable text: a summary line, then one section per kind."""
    counts = changes.counts()
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    lines = [f"HCPCS {changes.from_version} -> {changes.to_version}: {summary}"]
    for kind in CHANGE_KINDS:
        affected = [c for c in changes.changes if kind in c.kinds]
        if affected:
            lines += ["", f"{_HEADINGS[kind]} ({len(affected)})"]
            lines += [line for c in affected for line in _lines(kind, c, width)]
    return "\n".join(lines)


def _lines(kind: str, change: CodeChange, width: int) -> list[str]:
    """Description lines are clipped to `width`; property values never are."""
    head, indent = f"  {change.code:<5}  ", " " * 9
    if kind == "redescribed":
        was, now = f"{head}was: {change.old_display}", f"{indent}now: {change.display}"
        return [_clip(was, width), _clip(now, width)]
    if kind == "property-changed":
        described = [_describe(p) for p in change.properties]
        return [head + described[0], *(indent + d for d in described[1:])]
    if kind == "terminated":
        head += _termination_note(change)
    return [_clip(f"{head}{change.display or ''}", width)]


def _termination_note(change: CodeChange) -> str:
    """'[last day 2019-12-31, XREF A9590] ' from the changed properties (what is known)."""
    new = {p.property: _joined(p.new) for p in change.properties}
    facts = []
    if "termination-date" in new:
        facts.append(f"last day {new['termination-date']}")
    if new.get("cross-reference", _NO_VALUE) != _NO_VALUE:
        facts.append(f"XREF {new['cross-reference']}")
    return f"[{', '.join(facts)}] " if facts else ""


def _describe(change: PropertyChange) -> str:
    return f"{change.property} {_joined(change.old)} -> {_joined(change.new)}"


def _joined(values: tuple[JSON, ...]) -> str:
    return ",".join(_text(v) for v in values) or _NO_VALUE


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
