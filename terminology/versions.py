"""R4 <-> R5 conversion at the edge: the engine speaks R5 only, /r4 clients speak 4.0.1.

Everything that differs between the two versions for the resources we serve is declared
in the tables below; the walkers apply them. `to_r5` is idempotent on R5 input (it only
rewrites R4 shapes and the extensions `to_r4` wrote), so loaders may call it on any file.

Mapping (R4 4.0.1  <->  R5 5.0.0):

- R5-only elements (`R5_ONLY`: versionAlgorithm[x], copyrightLabel, effectivePeriod, topic,
  ValueSet.scope, compose.property, expansion.next, expansion.property, contains.property,
  designation.additionalUse, TerminologyCapabilities.codeSystem.content, ...)
  <-> extension `http://hl7.org/fhir/5.0/StructureDefinition/extension-{Type}.{path}` on
  the parent element; backbones become sub-extensions named by field.
- ConceptMap.sourceUri / sourceCanonical / targetUri / targetCanonical
  <-> sourceScopeUri / sourceScopeCanonical / targetScopeUri / targetScopeCanonical.
- ConceptMap.identifier: one Identifier <-> a list (extra identifiers dropped in R4).
- ConceptMap.group.source + sourceVersion (same for target) <-> group.source `url|version`.
- ConceptMap target.equivalence <-> target.relationship (`_EQUIVALENCE`, `_RELATIONSHIP`);
  an R4 code with no exact R5 twin (equal, subsumes, ...) is kept in the extension
  `R4_EQUIVALENCE_EXT` so it survives a round trip.
- ConceptMap target `[{equivalence: unmatched}]` without code <-> element.noMap = true.
- ConceptMap dependsOn / product: property, system, value, display
  <-> attribute, valueCoding (when a system is given) or valueString.
- ConceptMap.group.unmapped: mode provided, url <-> mode use-source-code, otherMap.
- OperationOutcome.issue.code: informational <- success.
- CapabilityStatement.fhirVersion: 4.0.1 <-> 5.0.0.
- Parameters `match` parts ($translate output): relationship -> equivalence towards R4
  only (towards R5 an R4 answer keeps `equivalence`, as HL7's Java converter does: the
  tx-ecosystem R4 tests expect it); R5 originMap is also given as R4's `source` (uri, the
  map) and the concept translated from (R5 `source`, a Coding) as `sourceConcept`, and back.
- $translate inputs (to_r5 with operation="translate"): code, coding, codeableConcept,
  source, target, targetsystem -> sourceCode, sourceCoding, sourceCodeableConcept,
  sourceScope, targetScope, targetSystem; with reverse=true code/coding/codeableConcept are
  target* and the scopes swap (source -> targetScope, target -> sourceScope).
- ValueSet.compose.include/exclude.filter.op of an operator R4 lacks (child-of,
  descendent-leaf) <-> the extension `...extension-ValueSet.compose.include.filter.op` on
  `_op` (the R4 form an R4 client sends).
- Bundle.entry.resource / response.outcome, Parameters.parameter(.part).resource and
  contained resources are converted recursively.

ConceptMap.group.element.valueSet and target.valueSet go through their cross-version
extensions. Lossy from R5 to R4 (dropped): ConceptMap.property, additionalAttribute,
target.property, unmapped.relationship/valueSet (tests/server/test_versions.py pins that
loss), Bundle.issues.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any, TypeAlias

from codesystem.fhir_types import JSON, Resource
from terminology.params import check_parameters

R5_EXT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-"
R4_EQUIVALENCE_EXT = "http://hl7.org/fhir/4.0/StructureDefinition/extension-ConceptMap.group.element.target.equivalence"

ElementType: TypeAlias = "str | tuple[str, ...] | dict[str, ElementType]"
"""An element's type: a FHIR datatype name, a tuple for a choice, a dict for a backbone."""

# R5 metadata elements missing in R4, shared by the canonical resources: name -> value type.
_METADATA: dict[str, ElementType] = {
    "versionAlgorithm[x]": ("String", "Coding"),
    "copyrightLabel": "String",
    "approvalDate": "Date",
    "lastReviewDate": "Date",
    "effectivePeriod": "Period",
    "topic": "CodeableConcept",
    "author": "ContactDetail",
    "editor": "ContactDetail",
    "reviewer": "ContactDetail",
    "endorser": "ContactDetail",
    "relatedArtifact": "RelatedArtifact",
}
_CONTAINS_PROPERTY: dict[str, ElementType] = {
    "code": "Code",
    "value[x]": ("Code", "Coding", "String", "Integer", "Boolean", "DateTime", "Decimal"),
    "subProperty": {
        "code": "Code",
        "value[x]": ("Code", "Coding", "String", "Integer", "Boolean", "DateTime", "Decimal"),
    },
}
# Element path (a `*` after a name means: also inside that element, recursively) -> type:
# a FHIR datatype name, a tuple for a choice, or a dict for a backbone element.
R5_ONLY: dict[str, dict[str, ElementType]] = {
    "CodeSystem": {
        **_METADATA,
        "concept*.designation.additionalUse": "Coding",
    },
    "ValueSet": {
        **_METADATA,
        "scope": {"inclusionCriteria": "String", "exclusionCriteria": "String"},
        "compose.property": "String",
        "compose.include.copyright": "String",
        "compose.exclude.copyright": "String",
        "compose.include.concept.designation.additionalUse": "Coding",
        "expansion.next": "Uri",
        "expansion.property": {"code": "Code", "uri": "Uri"},
        "expansion.contains*.property": _CONTAINS_PROPERTY,
        "expansion.contains*.designation.additionalUse": "Coding",
    },
    "ConceptMap": {
        **_METADATA,
        "group.element.valueSet": "Canonical",
        "group.element.target.valueSet": "Canonical",
        "group.unmapped.relationship": "Code",
        "group.unmapped.valueSet": "Canonical",
    },
    "CapabilityStatement": {
        "versionAlgorithm[x]": ("String", "Coding"),
        "copyrightLabel": "String",
        "acceptLanguage": "Code",
    },
    "TerminologyCapabilities": {
        "versionAlgorithm[x]": ("String", "Coding"),
        "copyrightLabel": "String",
        "codeSystem.content": "Code",
    },
}

# R4 ConceptMap equivalence -> R5 relationship, and back (unmatched/disjoint have no match).
_EQUIVALENCE = {
    "relatedto": "related-to",
    "equivalent": "equivalent",
    "equal": "equivalent",
    "wider": "source-is-narrower-than-target",
    "subsumes": "source-is-narrower-than-target",
    "narrower": "source-is-broader-than-target",
    "specializes": "source-is-broader-than-target",
    "inexact": "related-to",
    "unmatched": "not-related-to",
    "disjoint": "not-related-to",
}
_RELATIONSHIP = {
    "related-to": "relatedto",
    "equivalent": "equivalent",
    "source-is-narrower-than-target": "wider",
    "source-is-broader-than-target": "narrower",
    "not-related-to": "disjoint",
}
# $translate inputs: R4 name -> R5 name (forward), and with reverse=true.
_TRANSLATE_IN = {
    "code": "sourceCode",
    "coding": "sourceCoding",
    "codeableConcept": "sourceCodeableConcept",
    "source": "sourceScope",
    "target": "targetScope",
    "targetsystem": "targetSystem",
}
_TRANSLATE_REVERSE = {
    "code": "targetCode",
    "coding": "targetCoding",
    "codeableConcept": "targetCodeableConcept",
    "source": "targetScope",
    "target": "sourceScope",
}
FHIR_VERSION = {"r4": "4.0.1", "r5": "5.0.0"}

Converter = Callable[[Resource], None]


def to_r4(resource: Resource) -> Resource:
    """The R4 form of an R5 resource: a converted copy, or the input itself when nothing
    differs (the hot path: most operation outputs are the same in both versions), so
    callers must not mutate the result."""
    if not _differs(resource):
        return resource
    result = copy.deepcopy(resource)
    _convert(result, _R4)
    return result


def to_r5(resource: Resource, operation: str | None = None, in_place: bool = False) -> Resource:
    """The R5 form of an R4 (or already R5) resource; a copy unless in_place (request
    bodies, parsed for this request only, need no copy).

    A Parameters resource (a request) is checked first, as R4 shapes it
    (params.check_parameters): a malformed one is refused (TerminologyError, 4xx) before
    the conversion walks it. With operation="translate", a Parameters resource's R4
    `$translate` inputs are renamed.
    """
    if isinstance(resource, dict) and resource.get("resourceType") == "Parameters":
        check_parameters(resource, r4=True)
    result = resource if in_place else copy.deepcopy(resource)
    _convert(result, _R5)
    if operation == "translate" and result.get("resourceType") == "Parameters":
        _translate_inputs_to_r5(result)
    return result


# --- the walkers -------------------------------------------------------------------------


def _convert(resource: Resource, table: dict[str, Converter]) -> None:
    """Convert one resource in place, then every resource nested in it."""
    kind = resource.get("resourceType", "")
    for step in (_SPECIFIC[table is _R4].get(kind), table.get(kind)):
        if step:
            step(resource)
    for nested in _nested(resource):
        _convert(nested, table)


def _nested(resource: Resource) -> list[Resource]:
    """The resources nested in one (a list, not a generator: this walk runs on every R4
    request and answer, and a batch holds a thousand nested Parameters)."""
    kind = resource.get("resourceType")
    found: list[Resource] = []
    if kind == "Bundle":
        for entry in resource.get("entry", []):
            if isinstance(entry.get("resource"), dict):
                found.append(entry["resource"])
            outcome = entry.get("response", {}).get("outcome")
            if isinstance(outcome, dict):
                found.append(outcome)
    elif kind == "Parameters":
        _collect_resources(resource.get("parameter", []), found)
    found.extend(resource.get("contained", []))
    return found


def _collect_resources(parameters: list[Any], found: list[Resource]) -> None:
    """Parameters and their parts (one level inline: most parts are leaves)."""
    for parameter in parameters:
        if parameter.__class__ is not dict:
            continue
        if "resource" in parameter and isinstance(parameter["resource"], dict):
            found.append(parameter["resource"])
        parts = parameter.get("part")
        if parts.__class__ is not list:
            continue
        for part in parts:
            if part.__class__ is not dict:
                continue
            if "resource" in part and isinstance(part["resource"], dict):
                found.append(part["resource"])
            if "part" in part and isinstance(part["part"], list):
                _collect_resources(part["part"], found)


def _parents(node: JSON, steps: list[str]) -> Iterator[JSON]:
    """The objects at the end of a dotted path; `name*` also descends name recursively."""
    if not steps:
        yield node
        return
    name, recursive = steps[0].rstrip("*"), steps[0].endswith("*")
    children = node.get(name)
    for child in children if isinstance(children, list) else [children]:
        if isinstance(child, dict):
            yield from _parents(child, steps[1:])
            if recursive:
                yield from _parents(child, steps)


def _element_keys(node: JSON, name: str, kind: ElementType) -> list[tuple[str, ElementType]]:
    """(json key, value type) of an element present in node; choices give value[x] keys."""
    if name.endswith("[x]") and isinstance(kind, tuple):  # a choice's type is a tuple
        stem = name[:-3]
        return [(stem + t, t) for t in kind if stem + t in node]
    return [(name, kind)] if name in node else []


def _to_extension(url: str, value: object, kind: ElementType) -> JSON:
    """One R5 element value as an extension (complex backbones as sub-extensions)."""
    if isinstance(kind, dict):
        # a backbone element's value is a JSON object (R5 JSON, as the types declare)
        return {"url": url, "extension": _sub_extensions(value, kind)}  # type: ignore[arg-type]
    return {"url": url, f"value{kind}": value}


def _sub_extensions(value: JSON, spec: dict[str, ElementType]) -> list[JSON]:
    result = []
    for name, kind in spec.items():
        for key, type_ in _element_keys(value, name, kind):
            for item in _as_list(value[key]):
                result.append(_to_extension(name.removesuffix("[x]"), item, type_))
    return result


def _from_extension(extension: JSON, kind: ElementType) -> tuple[str, object]:
    """The (value type, value) an extension written by _to_extension holds."""
    if isinstance(kind, dict):
        return "", _from_sub_extensions(extension.get("extension", []), kind)
    for key, value in extension.items():
        if key.startswith("value"):
            return key[5:], value
    return "", None


def _from_sub_extensions(extensions: list[JSON], spec: dict[str, ElementType]) -> JSON:
    result: JSON = {}
    for name, kind in spec.items():
        stem = name.removesuffix("[x]")
        for ext in (e for e in extensions if e.get("url") == stem):
            type_, value = _from_extension(ext, kind)
            key = stem + type_ if name.endswith("[x]") else stem
            if isinstance(kind, dict):
                result.setdefault(key, []).append(value)
            else:
                result[key] = value
    return result


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]


def _r5_only_to_r4(resource: Resource) -> None:
    for path, kind in R5_ONLY.get(resource["resourceType"], {}).items():
        steps = path.split(".")
        url = R5_EXT + resource["resourceType"] + "." + path.replace("*", "").removesuffix("[x]")
        for parent in _parents(resource, steps[:-1]):
            for key, type_ in _element_keys(parent, steps[-1].rstrip("*"), kind):
                values = _as_list(parent.pop(key))
                extensions = [_to_extension(url, v, type_) for v in values]
                parent.setdefault("extension", []).extend(extensions)


def _r5_only_to_r5(resource: Resource) -> None:
    for path, kind in R5_ONLY.get(resource["resourceType"], {}).items():
        steps = path.split(".")
        name = steps[-1].removesuffix("[x]")
        url = R5_EXT + resource["resourceType"] + "." + path.replace("*", "").removesuffix("[x]")
        for parent in _parents(resource, steps[:-1]):
            mine = [e for e in parent.get("extension", []) if e.get("url") == url]
            if not mine:
                continue
            parent["extension"] = [e for e in parent["extension"] if e.get("url") != url]
            if not parent["extension"]:
                del parent["extension"]
            for ext in mine:
                type_, value = _from_extension(ext, kind)
                key = name + type_ if path.endswith("[x]") else name
                if _repeats(path):
                    parent.setdefault(key, []).append(value)
                else:
                    parent[key] = value


_SINGLE = {"versionAlgorithm[x]", "copyrightLabel", "approvalDate", "lastReviewDate"}
_SINGLE |= {"effectivePeriod", "scope", "expansion.next", "codeSystem.content"}
_SINGLE |= {"compose.include.copyright", "compose.exclude.copyright"}
_SINGLE |= {"group.element.valueSet", "group.element.target.valueSet"}
_SINGLE |= {"group.unmapped.relationship", "group.unmapped.valueSet"}


def _repeats(path: str) -> bool:
    return path not in _SINGLE


# --- resource-specific rules ---------------------------------------------------------------

# Filter operators R5 added (R4's FilterOperator lacks them): an R4 ValueSet carries them in
# the cross-version extension on the primitive `op` (`_op`), which R4 clients send and the
# R4 endpoint honours.
R5_FILTER_OPS = frozenset({"child-of", "descendent-leaf"})


def _filters(vs: Resource) -> Iterator[tuple[str, JSON]]:
    compose = vs.get("compose")
    if not isinstance(compose, dict):
        return
    for kind in ("include", "exclude"):
        for item in compose.get(kind) or []:
            for flt in (item.get("filter") or []) if isinstance(item, dict) else []:
                if isinstance(flt, dict):
                    yield kind, flt


def _filter_ops_to_r4(vs: Resource) -> None:
    for kind, flt in _filters(vs):
        if flt.get("op") in R5_FILTER_OPS:
            url = f"{R5_EXT}ValueSet.compose.{kind}.filter.op"
            holder = flt.setdefault("_op", {})
            holder.setdefault("extension", []).append({"url": url, "valueCode": flt.pop("op")})


def _filter_ops_to_r5(vs: Resource) -> None:
    for kind, flt in _filters(vs):
        holder = flt.get("_op")
        if not isinstance(holder, dict):
            continue
        url = f"{R5_EXT}ValueSet.compose.{kind}.filter.op"
        mine = [e for e in holder.get("extension", []) if e.get("url") == url]
        if not mine:
            continue
        flt["op"] = mine[0].get("valueCode")
        rest = [e for e in holder["extension"] if e.get("url") != url]
        if rest:
            holder["extension"] = rest
        else:
            holder.pop("extension")
        if not holder:
            del flt["_op"]


# ConceptMap renames, R4 name -> R5 name: the scopes (each with a Uri and a Canonical form)
# and group.unmapped's mode value and map reference.
_SCOPES = (("source", "sourceScope"), ("target", "targetScope"))
_UNMAPPED_MODE = ("provided", "use-source-code")
_UNMAPPED_MAP = ("url", "otherMap")


def _rename_scopes(cm: JSON, to_r5: bool) -> None:
    for r4, r5 in _SCOPES:
        old, new = (r4, r5) if to_r5 else (r5, r4)
        for suffix in ("Uri", "Canonical"):
            if old + suffix in cm:
                cm[new + suffix] = cm.pop(old + suffix)


def _convert_unmapped(unmapped: JSON, to_r5: bool) -> None:
    mode, key = (
        (_UNMAPPED_MODE, _UNMAPPED_MAP) if to_r5 else (_UNMAPPED_MODE[::-1], _UNMAPPED_MAP[::-1])
    )
    if unmapped.get("mode") == mode[0]:
        unmapped["mode"] = mode[1]
    if key[0] in unmapped:
        unmapped[key[1]] = unmapped.pop(key[0])


def _concept_map_to_r5(cm: Resource) -> None:
    _rename_scopes(cm, to_r5=True)
    if isinstance(cm.get("identifier"), dict):
        cm["identifier"] = [cm["identifier"]]
    for group in cm.get("group", []):
        for end in ("source", "target"):
            version = group.pop(end + "Version", None)
            if version and end in group:
                group[end] += "|" + version
        for element in group.get("element", []):
            _element_to_r5(element)
        if group.get("unmapped"):
            _convert_unmapped(group["unmapped"], to_r5=True)


def _element_to_r5(element: Resource) -> None:
    targets = []
    for target in element.get("target", []):
        equivalence = target.pop("equivalence", None)
        if equivalence == "unmatched" and "code" not in target:
            element["noMap"] = True
            continue
        if equivalence:
            target["relationship"] = _EQUIVALENCE.get(equivalence, "related-to")
            if _RELATIONSHIP.get(target["relationship"]) != equivalence:
                ext = {"url": R4_EQUIVALENCE_EXT, "valueCode": equivalence}
                target.setdefault("extension", []).append(ext)
        for key in ("dependsOn", "product"):
            target[key] = [_depends_to_r5(d) for d in target.get(key, [])] or None
            if target[key] is None:
                del target[key]
        targets.append(target)
    if "target" in element:
        element["target"] = targets
        if not targets:
            del element["target"]


def _depends_to_r5(depends: JSON) -> JSON:
    if "attribute" in depends:
        return depends
    result = {"attribute": depends.get("property", "")}
    if "system" in depends:
        coding = {"system": depends["system"], "code": depends.get("value")}
        if "display" in depends:
            coding["display"] = depends["display"]
        result["valueCoding"] = coding
    elif "value" in depends:
        result["valueString"] = depends["value"]
    return result


def _concept_map_to_r4(cm: Resource) -> None:
    _rename_scopes(cm, to_r5=False)
    if isinstance(cm.get("identifier"), list):
        cm["identifier"] = cm["identifier"][0] if cm["identifier"] else None
        if cm["identifier"] is None:
            del cm["identifier"]
    for key in ("property", "additionalAttribute"):
        cm.pop(key, None)
    for group in cm.get("group", []):
        for end in ("source", "target"):
            url, bar, version = group.get(end, "").partition("|")
            if bar:
                group[end], group[end + "Version"] = url, version
        for element in group.get("element", []):
            _element_to_r4(element)
        if group.get("unmapped"):
            _convert_unmapped(group["unmapped"], to_r5=False)


def _element_to_r4(element: Resource) -> None:
    if element.pop("noMap", False):
        element["target"] = [{"equivalence": "unmatched"}]
        return
    for target in element.get("target", []):
        relationship = target.pop("relationship", None)
        kept = [e for e in target.get("extension", []) if e.get("url") == R4_EQUIVALENCE_EXT]
        if kept:
            target["extension"] = [e for e in target["extension"] if e not in kept]
            if not target["extension"]:
                del target["extension"]
        target["equivalence"] = (
            kept[0]["valueCode"] if kept else _RELATIONSHIP.get(relationship, "relatedto")
        )
        target.pop("property", None)
        for key in ("dependsOn", "product"):
            if key in target:
                target[key] = [_depends_to_r4(d) for d in target[key]]


def _depends_to_r4(depends: JSON) -> JSON:
    result = {"property": depends.get("attribute", "")}
    if "valueCoding" in depends:
        coding = depends["valueCoding"]
        result.update(system=coding.get("system"), value=coding.get("code"))
        if "display" in coding:
            result["display"] = coding["display"]
        return {k: v for k, v in result.items() if v is not None}
    for key, value in depends.items():
        if key.startswith("value"):
            result["value"] = str(value).lower() if isinstance(value, bool) else str(value)
    return result


def _outcome_to_r4(outcome: Resource) -> None:
    for issue in outcome.get("issue", []):
        if issue.get("code") == "success":
            issue["code"] = "informational"


def _capability_to_r4(resource: Resource) -> None:
    if str(resource.get("fhirVersion", "")).startswith("5."):
        resource["fhirVersion"] = FHIR_VERSION["r4"]


def _capability_to_r5(resource: Resource) -> None:
    if str(resource.get("fhirVersion", "")).startswith("4."):
        resource["fhirVersion"] = FHIR_VERSION["r5"]


def _parameters_to_r4(parameters: Resource) -> None:
    """$translate matches in R4's words: `equivalence` for relationship, and `source`, R4's
    name for the map a match comes from (uri); the concept translated from, R5 `source`
    (a Coding), becomes `sourceConcept`. `originMap` is kept (R4 clients of the reference
    server read it too)."""
    for parameter in parameters.get("parameter", []):
        if parameter.get("name") != "match":
            continue
        parts = []
        for part in parameter.get("part", []):
            name = part.get("name")
            if name == "relationship":
                code = _RELATIONSHIP.get(part.get("valueCode"), "relatedto")
                part = {"name": "equivalence", "valueCode": code}
            elif name == "source" and "valueCoding" in part:
                part = {**part, "name": "sourceConcept"}
            parts.append(part)
            if name == "originMap":
                parts.append({"name": "source", "valueUri": part.get("valueCanonical")})
        parameter["part"] = parts


def parameter_value(parameter: JSON, name: str) -> object:
    """The value of the first part called name (None when absent)."""
    for part in parameter.get("part", []):
        if isinstance(part, dict) and part.get("name") == name:
            return next((v for k, v in part.items() if k.startswith("value")), None)
    return None


def _parameters_to_r5(parameters: Resource) -> None:
    """R4 $translate matches back in the engine's words: `source` as the map (uri) gives
    way to `originMap`, `sourceConcept` is `source`. `equivalence` is kept, as HL7's Java
    converter keeps it (the tx-ecosystem R4 files expect it)."""
    items = parameters.get("parameter")
    for parameter in items if isinstance(items, list) else []:  # requests may be malformed
        if not isinstance(parameter, dict) or parameter.get("name") != "match":
            continue
        if not isinstance(parameter.get("part"), list):
            continue
        origin = parameter_value(parameter, "originMap")
        parts = []
        for part in parameter["part"]:
            name = part.get("name") if isinstance(part, dict) else None
            if name == "source" and ("valueUri" in part or "valueCanonical" in part):
                if origin is not None:
                    continue
                value = part.get("valueUri", part.get("valueCanonical"))
                part = {"name": "originMap", "valueCanonical": value}
            elif name == "sourceConcept":
                part = {**part, "name": "source"}
            parts.append(part)
        parameter["part"] = parts


def _translate_inputs_to_r5(parameters: Resource) -> None:
    """R4 $translate inputs in R5's names. With reverse=true R4 "reverses the meaning of the
    source and target parameters": the code given is a target code (its system stays
    `system`, the system of the code to translate; `targetsystem` then names the system
    the answers are sought in), and the two value set scopes swap."""
    items = parameters.get("parameter", [])
    reverse = any(
        p.get("name") == "reverse" and p.get("valueBoolean") in (True, "true") for p in items
    )
    names = {**_TRANSLATE_IN, **(_TRANSLATE_REVERSE if reverse else {})}
    for parameter in items:
        parameter["name"] = names.get(parameter.get("name"), parameter.get("name"))
    parameters["parameter"] = [p for p in items if p.get("name") != "reverse"]


def _bundle_to_r4(bundle: Resource) -> None:
    bundle.pop("issues", None)


def _differs(resource: Resource) -> bool:
    """Whether the R4 form of a resource differs from its R5 form (a cheap walk, no copy)."""
    kind = resource.get("resourceType", "")
    if kind in ("ConceptMap", "CapabilityStatement") or (kind == "Bundle" and "issues" in resource):
        return True
    if kind == "OperationOutcome":
        return any(i.get("code") == "success" for i in resource.get("issue", []))
    if kind == "ValueSet" and any(f.get("op") in R5_FILTER_OPS for _, f in _filters(resource)):
        return True
    params = resource.get("parameter", []) if kind == "Parameters" else []
    for p in params:  # a loop, not any(genexpr): this runs on every R4 answer
        if p.get("name") == "match":
            return True
    for path, spec in R5_ONLY.get(kind, {}).items():
        steps = path.split(".")
        name = steps[-1].rstrip("*")
        if any(_element_keys(p, name, spec) for p in _parents(resource, steps[:-1])):
            return True
    return any(_differs(nested) for nested in _nested(resource))


# Generic R5-only handling per direction, then the resource-specific rule.
_R4: dict[str, Converter] = {kind: _r5_only_to_r4 for kind in R5_ONLY}
_R5: dict[str, Converter] = {kind: _r5_only_to_r5 for kind in R5_ONLY}
_SPECIFIC: dict[bool, dict[str, Converter]] = {
    True: {  # towards R4
        "ConceptMap": _concept_map_to_r4,
        "ValueSet": _filter_ops_to_r4,
        "OperationOutcome": _outcome_to_r4,
        "CapabilityStatement": _capability_to_r4,
        "TerminologyCapabilities": _capability_to_r4,
        "Parameters": _parameters_to_r4,
        "Bundle": _bundle_to_r4,
    },
    False: {  # towards R5
        "ConceptMap": _concept_map_to_r5,
        "Parameters": _parameters_to_r5,
        "ValueSet": _filter_ops_to_r5,
        "CapabilityStatement": _capability_to_r5,
        "TerminologyCapabilities": _capability_to_r5,
    },
}
