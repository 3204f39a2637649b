"""ConceptMap/$translate (R5 ConceptMap: group / element / target with relationship).

Forward (sourceCode + system | sourceCoding | sourceCodeableConcept): the targets each map
gives the code, or what the group's `unmapped` says when it has no element for it.
Reverse (targetCode | targetCoding | targetCodeableConcept): the sources that map to it.

Each match carries the target (`concept`), its `relationship`, the map it comes from
(`originMap`), the target's `comment`, and, where the request did not name it as its one
concept (a reverse translation, or a CodeableConcept of several codings), the concept it
translates from (`source`). `result` is true only when a match relates the concepts: a
`not-related-to` mapping and an element marked `noMap` are reported as matches, and the
result stays false. R4 clients' names (code, coding, targetsystem, reverse=true) are
turned into these at the edge (terminology/versions.py); `reverse` itself is R4 only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from codesystem.fhir_types import JSON, Resource
from terminology import resolver
from terminology.canonical import canonical_of
from terminology.index import Concept
from terminology.operations import Context
from terminology.outcome import TerminologyError, message

NOT_RELATED = "not-related-to"
MAX_OTHER_MAPS = 32  # maps followed through group.unmapped.otherMap from one map


@dataclass(frozen=True, slots=True)
class Wanted:
    """One concept to translate: its system (None when not given), code and version."""

    system: str | None
    code: str
    version: str | None = None


def _system(value: str | None) -> str | None:
    """A group's source / target without its `|version`."""
    return value.split("|")[0] if value else None


def _wanted(context: Context, prefix: str, system: str | None) -> list[Wanted]:
    params = context.params
    concept = params.get(f"{prefix}CodeableConcept")
    if isinstance(concept, dict):
        codings = [c for c in concept.get("coding", []) if isinstance(c, dict) and c.get("code")]
        return [Wanted(c.get("system"), c["code"], c.get("version")) for c in codings]
    coding = params.get(f"{prefix}Coding")
    if isinstance(coding, dict) and coding.get("code"):
        return [Wanted(coding.get("system"), coding["code"], coding.get("version"))]
    code = params.get(f"{prefix}Code")
    if code is None:
        return []
    return [Wanted(system, str(code), params.get("version"))]


def _maps(context: Context, instance_id: str | None) -> list[Resource]:
    registry = context.registry
    if instance_id:
        return [resolver.instance(registry, "ConceptMap", instance_id)]
    inline = context.params.get("conceptMap")
    if isinstance(inline, dict):
        return [inline]
    url = context.params.get("url")
    if url:
        found = registry.concept_map(str(url), context.params.get("conceptMapVersion"))
        if found is None:
            raise resolver.unknown_concept_map(url)
        return [found]
    return registry.all("ConceptMap")


def map_key(cm: Resource) -> str:
    """`url|version` of a ConceptMap (its canonical as originMap reports it)."""
    return canonical_of(cm.get("url", ""), cm.get("version"))


def _coding(system: str | None, code: str, display: str | None = None) -> JSON:
    coding: JSON = {"system": system, "code": code} if system else {"code": code}
    if display:
        coding["display"] = display
    return coding


@dataclass
class _Found:
    """What translating one request found: the matches, and the maps followed on the way
    (group.unmapped other-map) besides the ones asked for or searched."""

    show_source: bool
    matches: list[JSON]
    followed: list[str]
    no_map: str | None = None  # the map that says a code has no target (element.noMap)

    def add(self, parts: list[JSON], source: JSON | None) -> None:
        if self.show_source and source is not None:
            parts.append({"name": "source", "valueCoding": source})
        match = {"name": "match", "part": sorted(parts, key=lambda p: p["name"])}
        if match not in self.matches:
            self.matches.append(match)


def _match_parts(
    concept: JSON | None, relationship: str | None, origin: str, comment: str | None
) -> list[JSON]:
    parts: list[JSON] = []
    if concept is not None:
        parts.append({"name": "concept", "valueCoding": concept})
    if relationship:
        parts.append({"name": "relationship", "valueCode": relationship})
    parts.append({"name": "originMap", "valueCanonical": origin})
    if comment:
        parts.append({"name": "comment", "valueString": comment})
    return parts


def _forward(
    context: Context,
    cm: Resource,
    wanted: Wanted,
    target_system: str | None,
    found: _Found,
    chain: tuple[str, ...],
) -> None:
    origin = map_key(cm)
    source = _coding(wanted.system, wanted.code)
    for group in cm.get("group", []):
        if target_system and _system(group.get("target")) != target_system:
            continue
        if wanted.system and _system(group.get("source")) != wanted.system:
            continue
        context.budget.spend(len(group.get("element", ())))
        elements = [e for e in group.get("element", []) if e.get("code") == wanted.code]
        for element in elements:
            if element.get("noMap"):
                found.no_map = found.no_map or origin
                parts = [{"name": "noMap", "valueBoolean": True}]
                parts += _match_parts(None, None, origin, element.get("comment"))
                found.add(parts, source)
            for target in element.get("target", []):
                if not target.get("code"):
                    continue
                concept = _coding(
                    _system(group.get("target")), target["code"], target.get("display")
                )
                parts = _match_parts(
                    concept, target.get("relationship"), origin, target.get("comment")
                )
                found.add(parts, source)
        if not elements and group.get("unmapped") and _is_concept(context, wanted):
            _unmapped(context, cm, group, wanted, target_system, found, chain)


def _is_concept(context: Context, wanted: Wanted) -> bool:
    """Whether the code is a concept of its system, as far as the server knows it: `unmapped`
    speaks of the group's source concepts, not of any string (a system the server does not
    hold is taken at its word)."""
    if not wanted.system:
        return False
    cs = context.registry.code_system(wanted.system, wanted.version)
    return cs is None or cs.find(wanted.code) is not None


def _unmapped(
    context: Context,
    cm: Resource,
    group: JSON,
    wanted: Wanted,
    target_system: str | None,
    found: _Found,
    chain: tuple[str, ...],
) -> None:
    """ConceptMap.group.unmapped: what the group says of a source code it has no element
    for (R5 ConceptMap: use-source-code, fixed, other-map)."""
    unmapped = group["unmapped"]
    mode = unmapped.get("mode")
    origin = map_key(cm)
    source = _coding(wanted.system, wanted.code)
    relationship = unmapped.get("relationship")
    target = _system(group.get("target"))
    if mode == "use-source-code":
        concept = _coding(target, wanted.code)
        found.add(_match_parts(concept, relationship, origin, None), source)
    elif mode == "fixed" and unmapped.get("code"):
        concept = _coding(target, unmapped["code"], unmapped.get("display"))
        found.add(_match_parts(concept, relationship, origin, None), source)
    elif mode == "other-map" and unmapped.get("otherMap"):
        other = context.registry.concept_map(*_canonical(unmapped["otherMap"]))
        if other is None:
            raise TerminologyError.of(
                422,
                "not-found",
                "not-found",
                "TRANSLATE_OTHER_MAP_UNKNOWN",
                unmapped["otherMap"],
                origin,
            )
        key = map_key(other)
        if key in chain:  # a circle of other-maps: followed once
            return
        if len(chain) > MAX_OTHER_MAPS:
            raise TerminologyError.of(
                422, "too-costly", None, "TRANSLATE_OTHER_MAP_TOO_DEEP", chain[0], MAX_OTHER_MAPS
            )
        if key not in found.followed:
            found.followed.append(key)
        _forward(context, other, wanted, target_system, found, (*chain, key))


def _canonical(value: str) -> tuple[str, str | None]:
    url, _, version = value.partition("|")
    return url, version or None


def _reverse(
    context: Context, cm: Resource, wanted: Wanted, source_system: str | None, found: _Found
) -> None:
    origin = map_key(cm)
    for group in cm.get("group", []):
        context.budget.spend(len(group.get("element", ())))
        if source_system and _system(group.get("source")) != source_system:
            continue
        if wanted.system and _system(group.get("target")) != wanted.system:
            continue
        for element in group.get("element", []):
            if not element.get("code"):  # R5: an element may name no code (noMap, valueSet)
                continue
            for target in element.get("target", []):
                if target.get("code") != wanted.code:
                    continue
                concept = _coding(_system(group.get("target")), wanted.code, target.get("display"))
                source = _coding(
                    _system(group.get("source")), element["code"], element.get("display")
                )
                parts = _match_parts(
                    concept, target.get("relationship"), origin, target.get("comment")
                )
                found.add(parts, source)


def _relates(match: JSON) -> bool:
    """A match that translates: it names a target and does not say the two are unrelated."""
    parts = {p["name"]: p for p in match["part"]}
    if "concept" not in parts or "noMap" in parts:
        return False
    relates: bool = parts.get("relationship", {}).get("valueCode") != NOT_RELATED
    return relates


def run(context: Context, instance_id: str | None = None) -> Resource:
    params = context.params
    if params.has("reverse"):  # R4's; an R4 request arrives without it (versions.py)
        raise TerminologyError.of(400, "not-supported", "not-supported", "TRANSLATE_REVERSE_R5")
    forward = _wanted(context, "source", params.get("system") or params.get("sourceSystem"))
    # a target code's system: `system` (the system of the code to translate), else
    # targetSystem; the answers are then drawn from sourceSystem, or from targetSystem
    # when `system` named the code's own
    code_system = params.get("system")
    reverse = (
        [] if forward else _wanted(context, "target", code_system or params.get("targetSystem"))
    )
    if not forward and not reverse:
        raise TerminologyError.of(400, "required", "invalid-data", "PARAM_MISSING", "sourceCode")
    maps = _maps(context, instance_id)
    wanted = forward or reverse
    found = _Found(show_source=bool(reverse) or len(wanted) > 1, matches=[], followed=[])
    for cm in maps:
        for item in wanted:
            if forward:
                _forward(context, cm, item, params.get("targetSystem"), found, (map_key(cm),))
            else:
                answers = params.get("sourceSystem") or (
                    params.get("targetSystem") if code_system else None
                )
                _reverse(context, cm, item, answers, found)
    matches = found.matches
    result: list[JSON] = [{"name": "result", "valueBoolean": any(_relates(m) for m in matches)}]
    first = wanted[0]
    if not any(_relates(m) for m in matches) and (found.no_map or not matches):
        text = (
            message("TRANSLATE_NO_MAP", first.system or "", first.code, found.no_map)
            if found.no_map
            else None
        )
        text = text or message("TRANSLATE_NO_MATCH", first.system or "", first.code)
        result.append({"name": "message", "valueString": text})
    elif forward and (hint := _still_valid(context, first)):
        result.append({"name": "message", "valueString": hint})
    used = [{"name": "used-conceptmap", "valueCanonical": key} for key in found.followed]
    return {"resourceType": "Parameters", "parameter": result + matches + used}


def _still_valid(context: Context, wanted: Wanted) -> str | None:
    """With `date`: a hint when the source code was still in use on that day (its last day
    of use, the retirementDate property, is later), so the translation does not apply yet."""
    if not context.date or not wanted.system:
        return None
    concept = _latest_concept(context, wanted.system, wanted.code)
    if concept is None or not concept.retired or context.date > concept.retired:
        return None
    return message(
        "TRANSLATE_STILL_VALID", wanted.system, wanted.code, context.date, concept.retired
    )


def _latest_concept(context: Context, system: str, code: str) -> Concept | None:
    """The code as the newest version holding it describes it (its latest word)."""
    registry = context.registry
    held: Sequence[str | None] = registry.versions("CodeSystem", system) or [None]
    for version in reversed(held):
        cs = registry.code_system(system, version)
        concept = cs.find(code) if cs is not None else None
        if concept is not None:
            return concept
    return None
