"""ConceptMap/$translate (R5 ConceptMap: group / element / target with relationship).

Forward: sourceCode|sourceCoding|sourceCodeableConcept (+system) to targets; reverse:
targetCode|targetCoding to the sources that map to it.
"""

from __future__ import annotations

from terminology.index import Concept
from terminology.operations import Context
from terminology.outcome import TerminologyError, message, not_found


def _codings(context: Context, prefix: str) -> list[tuple[str | None, str]]:
    params = context.params
    concept = params.get(f"{prefix}CodeableConcept")
    if isinstance(concept, dict):
        return [(c.get("system"), c.get("code", "")) for c in concept.get("coding", [])]
    coding = params.get(f"{prefix}Coding")
    if isinstance(coding, dict):
        return [(coding.get("system"), coding.get("code", ""))]
    code = params.get(f"{prefix}Code")
    if code is None:
        return []
    system = params.get(f"{prefix}System") or params.get("system")
    if prefix == "target":
        system = params.get("targetSystem")
    return [(system, str(code))]


def _maps(context: Context, instance_id: str | None) -> list[dict]:
    registry = context.registry
    if instance_id:
        found = registry.by_id("ConceptMap", instance_id)
        if found is None:
            raise not_found("UNKNOWN_RESOURCE_ID", "ConceptMap", instance_id)
        return [found]
    inline = context.params.get("conceptMap")
    if isinstance(inline, dict):
        return [inline]
    url = context.params.get("url")
    if url:
        found = registry.concept_map(str(url), context.params.get("conceptMapVersion"))
        if found is None:
            raise not_found("UNKNOWN_CONCEPTMAP", url)
        return [found]
    return registry.all("ConceptMap")


def _key(cm: dict) -> str:
    return f"{cm.get('url')}|{cm['version']}" if cm.get("version") else cm.get("url", "")


def _match(concept: dict, relationship: str | None, origin: str, source: dict | None) -> dict:
    parts = [
        {"name": "concept", "valueCoding": concept},
        {"name": "originMap", "valueCanonical": origin},
    ]
    if relationship:
        parts.append({"name": "relationship", "valueCode": relationship})
    if source:
        parts.append({"name": "source", "valueCoding": source})
    return {"name": "match", "part": parts}


def _coding(system: str | None, code: str, display: str | None) -> dict:
    coding = {"system": system, "code": code} if system else {"code": code}
    if display:
        coding["display"] = display
    return coding


def _forward(maps: list[dict], wanted: list, target_system: str | None) -> list[dict]:
    matches = []
    for cm in maps:
        for group in cm.get("group", []):
            if target_system and group.get("target", "").split("|")[0] != target_system:
                continue
            for system, code in wanted:
                if system and group.get("source", "").split("|")[0] != system:
                    continue
                for element in group.get("element", []):
                    if element.get("code") != code:
                        continue
                    for target in element.get("target", []):
                        concept = _coding(
                            group.get("target"), target["code"], target.get("display")
                        )
                        matches.append(_match(concept, target.get("relationship"), _key(cm), None))
    return matches


def _reverse(maps: list[dict], wanted: list, source_system: str | None) -> list[dict]:
    matches = []
    for cm in maps:
        for group in cm.get("group", []):
            if source_system and group.get("source", "").split("|")[0] != source_system:
                continue
            for system, code in wanted:
                if system and group.get("target", "").split("|")[0] != system:
                    continue
                for element in group.get("element", []):
                    for target in element.get("target", []):
                        if target.get("code") != code:
                            continue
                        concept = _coding(group.get("target"), code, target.get("display"))
                        source = _coding(
                            group.get("source"), element["code"], element.get("display")
                        )
                        matches.append(
                            _match(concept, target.get("relationship"), _key(cm), source)
                        )
    return matches


def run(context: Context, instance_id: str | None = None) -> dict:
    forward = _codings(context, "source")
    reverse = _codings(context, "target")
    if not forward and not reverse:
        raise TerminologyError.of(400, "required", "invalid-data", "PARAM_MISSING", "sourceCode")
    maps = _maps(context, instance_id)
    if forward:
        matches = _forward(maps, forward, context.params.get("targetSystem"))
    else:
        source_system = context.params.get("sourceSystem") or context.params.get("system")
        matches = _reverse(maps, reverse, source_system)
    result: list[dict] = [{"name": "result", "valueBoolean": bool(matches)}]
    code = (forward or reverse)[0]
    if not matches:
        text = _no_map(maps, code) if forward else None
        text = text or message("TRANSLATE_NO_MATCH", code[0] or "", code[1])
        result.append({"name": "message", "valueString": text})
    elif forward and (hint := _still_valid(context, code)):
        result.append({"name": "message", "valueString": hint})
    return {"resourceType": "Parameters", "parameter": result + matches}


def _no_map(maps: list[dict], wanted: tuple[str | None, str]) -> str | None:
    """The honest answer when a map says the code has no target (element.noMap)."""
    system, code = wanted
    for cm in maps:
        for group in cm.get("group", []):
            if system and group.get("source", "").split("|")[0] != system:
                continue
            for element in group.get("element", []):
                if element.get("code") == code and element.get("noMap"):
                    return message("TRANSLATE_NO_MAP", system or "", code, _key(cm))
    return None


def _still_valid(context: Context, wanted: tuple[str | None, str]) -> str | None:
    """With `date`: a hint when the source code was still in use on that day (its last day
    of use, the retirementDate property, is later), so the translation does not apply yet."""
    system, code = wanted
    if not context.date or not system:
        return None
    concept = _latest_concept(context, system, code)
    if concept is None or not concept.retired or context.date > concept.retired:
        return None
    return message("TRANSLATE_STILL_VALID", system, code, context.date, concept.retired)


def _latest_concept(context: Context, system: str, code: str) -> Concept | None:
    """The code as the newest version holding it describes it (its latest word)."""
    registry = context.registry
    for version in reversed(registry.versions("CodeSystem", system) or [None]):
        cs = registry.code_system(system, version)
        concept = cs.find(code) if cs is not None else None
        if concept is not None:
            return concept
    return None
