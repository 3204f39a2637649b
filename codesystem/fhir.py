"""Release -> FHIR: the HCPCS CodeSystem, one CodeSystem per CMS code table, HCPCS ValueSets.

Everything is built as an R5 JSON dict (the engine's version); `fhir_version="r4"` applies
the few CodeSystem/ValueSet differences in `_for_version`, the only version-aware code here.
Property declarations come from layout.json, so they always match what the reader emits.
"""

from __future__ import annotations

from datetime import date

from .fhir_types import JSON, Resource
from .layout import NAMESPACE, CodeTable, Property, TableConcept, load_layout
from .reader import Coding, Concept, Release, Value

HCPCS_URL = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
HCPCS_OID = "2.16.840.1.113883.6.285"
HCPCS_ALIASES = {
    "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": HCPCS_URL,
    f"urn:oid:{HCPCS_OID}": HCPCS_URL,
}
"""Alternate system URIs (CARIN/CMS Blue Button, the OID) -> the canonical URL."""

VALUESET_BASE = f"{NAMESPACE}/ValueSet/"
ALL_CODES_VALUESET = f"{VALUESET_BASE}hcpcs-all"
PUBLISHER = "Centers for Medicare & Medicaid Services (CMS)"
COPYRIGHT = (
    "HCPCS Level II codes and descriptors are maintained by CMS and are in the public domain "
    "(a work of the U.S. Government)."
)
JURISDICTION = [{"coding": [{"system": "urn:iso:std:iso:3166", "code": "US"}]}]
SHORT_DESCRIPTION_USE = {
    "system": "http://snomed.info/sct",
    "code": "900000000000013009",
    "display": "Synonym",
}
"""Designation use of the CMS short description: SNOMED CT's core 'Synonym' (see docs)."""

GROUP_PROPERTY = {
    "code": "group",
    "uri": f"{NAMESPACE}/CodeSystem/hcpcs#group",
    "description": "CMS's heading for the code in its code table (e.g. the fee schedule).",
    "type": "string",
}

_VALUE_KEY = {
    "Coding": "valueCoding",
    "string": "valueString",
    "code": "valueCode",
    "dateTime": "valueDateTime",
    "integer": "valueInteger",
    "boolean": "valueBoolean",
}
_R5_ONLY = ("versionAlgorithmString", "versionAlgorithmCoding", "copyrightLabel", "effectivePeriod")
R5_EFFECTIVE_PERIOD_EXT = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-CodeSystem.effectivePeriod"
)
"""R4 has no CodeSystem.effectivePeriod: the cross-version extension keeps the date."""
FHIR_VERSIONS = ("r4", "r5")


def to_fhir(release: Release, fhir_version: str = "r5") -> Resource:
    """The HCPCS Level II CodeSystem of one release, every CMS field as a typed property."""
    layout = load_layout()
    types = {p.code: p.type for p in layout.properties}
    resource: Resource = {
        "resourceType": "CodeSystem",
        "id": f"hcpcs-{release.version}",
        "url": HCPCS_URL,
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{HCPCS_OID}"}],
        "version": release.version,
        "versionAlgorithmCoding": {
            "system": "http://hl7.org/fhir/version-algorithm",
            "code": "date",
        },
        "name": "HCPCSLevelII",
        "title": "Healthcare Common Procedure Coding System (HCPCS) Level II",
        "status": "active",
        "experimental": False,
        "publisher": PUBLISHER,
        "description": (
            f"HCPCS Level II procedure and modifier codes, CMS release {release.version}, "
            f"read from {release.source}."
        ),
        "jurisdiction": JURISDICTION,
        "copyright": COPYRIGHT,
        "effectivePeriod": {"start": release.start.isoformat()},
        "caseSensitive": True,
        "valueSet": ALL_CODES_VALUESET,
        "content": "complete",
        "count": len(release.concepts),
        "property": [_declaration(p) for p in layout.properties],
        "concept": [_concept(c, release.is_retired(c), types) for c in release.concepts],
    }
    return _for_version(resource, fhir_version)


def _declaration(prop: Property) -> JSON:
    return {
        "code": prop.code,
        "uri": prop.property_uri,
        "description": prop.description,
        "type": prop.type,
    }


def _concept(concept: Concept, retired: bool, types: dict[str, str]) -> JSON:
    properties = [_property(code, value, types[code]) for code, value in concept.properties]
    properties.append({"code": "status", "valueCode": "retired" if retired else "active"})
    properties.append({"code": "inactive", "valueBoolean": retired})
    out: JSON = {"code": concept.code, "display": concept.display}
    if concept.short_description:
        out["designation"] = [
            {"language": "en", "use": SHORT_DESCRIPTION_USE, "value": concept.short_description}
        ]
    out["property"] = properties
    return out


def _property(code: str, value: Value, fhir_type: str) -> JSON:
    if isinstance(value, Coding):
        coding = {"system": value.system, "code": value.code}
        if value.display is not None:
            coding["display"] = value.display
        return {"code": code, "valueCoding": coding}
    if isinstance(value, date):
        return {"code": code, "valueDateTime": value.isoformat()}
    return {"code": code, _VALUE_KEY[fhir_type]: value}


def code_table_codesystems(
    fhir_version: str = "r5", release: Release | None = None
) -> list[Resource]:
    """Each CMS code table as a small CodeSystem, so `$lookup` of a property value works.

    With `release`: the tables of that release, to store beside its HCPCS CodeSystem: each
    has `version` = the release's and its `effectivePeriod`, and the processing-note table
    holds the notes the release's Codings took their displays from (its own proc_notes
    file, or for a release without one the shipped table, codesystem/notes.py). Call it
    once per release. Without: the tables once, `version` = the layout revision, the
    processing notes from the shipped table.
    """
    from .notes import fallback_notes  # see codesystem/notes.py: not at import time

    layout = load_layout()
    version = release.version if release else layout.version
    out = []
    for table in layout.tables.values():
        if not table.from_release:
            concepts = list(table.concepts.values())
            out.append(_table_codesystem(table, concepts, version, table.description))
            continue
        notes = release.processing_notes if release else fallback_notes().texts
        if notes:
            concepts = [TableConcept(n, text) for n, text in sorted(notes.items())]
            description = f"{table.description} {_notes_origin(release)}"
            out.append(_table_codesystem(table, concepts, version, description))
    if release:
        for resource in out:
            resource["effectivePeriod"] = {"start": release.start.isoformat()}
    return [_for_version(cs, fhir_version) for cs in out]


def _notes_origin(release: Release | None) -> str:
    """Where a processing-note table's texts come from, for its description."""
    from .notes import fallback_notes

    if release is not None and release.processing_notes_file:
        return f"Texts from {release.processing_notes_file}."
    fallback = fallback_notes()
    releases = ", ".join(fallback.releases_of(fallback.texts))
    lead = "This release ships no proc_notes file: t" if release is not None else "T"
    return (
        f"{lead}exts from the proc_notes files of CMS release {releases}, the newest text of "
        f"each number ({fallback.name})."
    )


def _table_codesystem(
    table: CodeTable, concepts: list[TableConcept], version: str, description: str
) -> Resource:
    nested = any(c.parent for c in concepts)
    resource: Resource = {
        "resourceType": "CodeSystem",
        "id": f"hcpcs-{table.id}",
        "url": table.url,
        "version": version,
        "name": table.name,
        "title": table.title,
        "status": "active",
        "experimental": False,
        "publisher": PUBLISHER,
        "description": description,
        "jurisdiction": JURISDICTION,
        "caseSensitive": True,
        **({"hierarchyMeaning": "is-a"} if nested else {}),
        "content": "complete",
        "count": len(concepts),
    }
    if any(c.group for c in concepts):
        resource["property"] = [GROUP_PROPERTY]
    resource["concept"] = _table_concepts(concepts, None)
    return resource


def _table_concepts(concepts: list[TableConcept], parent: str | None) -> list[JSON]:
    """Concepts whose parent is `parent`, each with its children nested (lab certification)."""
    out = []
    for c in (c for c in concepts if c.parent == parent):
        concept: JSON = {"code": c.code, "display": c.display}
        if c.definition:
            concept["definition"] = c.definition
        if c.group:
            concept["property"] = [{"code": "group", "valueString": c.group}]
        if children := _table_concepts(concepts, c.code):
            concept["concept"] = children
        out.append(concept)
    return out


def hcpcs_valuesets(
    release_or_version: Release | str | None = None, fhir_version: str = "r5"
) -> list[Resource]:
    """Intensional HCPCS ValueSets (property filters); pinned to a version only when given."""
    version = (
        release_or_version.version
        if isinstance(release_or_version, Release)
        else release_or_version
    )
    betos = load_layout().tables["betos"]
    specs = [
        ("hcpcs-all", "HCPCSAllCodes", "All HCPCS Level II codes", "Every code, retired too.", []),
        (
            "hcpcs-active",
            "HCPCSActiveCodes",
            "Active HCPCS Level II codes",
            "Codes not retired.",
            [("inactive", "false")],
        ),
        (
            "hcpcs-procedures",
            "HCPCSProcedures",
            "HCPCS Level II procedure codes",
            "Procedure codes (RECID 3).",
            [("kind", "procedure")],
        ),
        (
            "hcpcs-modifiers",
            "HCPCSModifiers",
            "HCPCS Level II modifiers",
            "Modifiers (RECID 7).",
            [("kind", "modifier")],
        ),
        (
            "hcpcs-asc-approved",
            "HCPCSASCApproved",
            "HCPCS codes approved for ASC",
            "Codes approved to be performed in an ambulatory surgical center (ASC group YY).",
            [("asc-payment-group", "YY")],
        ),
    ]
    specs += [
        (
            f"hcpcs-betos-{code}",
            f"HCPCSBETOS{code}",
            f"HCPCS codes in BETOS {code}: {concept.display}",
            f"Codes whose Berenson-Eggers Type of Service is {code} ({concept.display}).",
            [("betos", code)],
        )
        for code, concept in betos.concepts.items()
    ]
    valuesets = [_valueset(*spec, version=version) for spec in specs]
    valuesets[0]["compose"]["inactive"] = True
    return [_for_version(vs, fhir_version) for vs in valuesets]


def _valueset(
    id: str,
    name: str,
    title: str,
    description: str,
    filters: list[tuple[str, str]],
    *,
    version: str | None,
) -> Resource:
    include: JSON = {"system": HCPCS_URL}
    if version:
        include["version"] = version
    if filters:
        include["filter"] = [{"property": p, "op": "=", "value": v} for p, v in filters]
    resource: Resource = {
        "resourceType": "ValueSet",
        "id": f"{id}-{version}" if version else id,
        "url": f"{VALUESET_BASE}{id}",
    }
    if version:
        resource["version"] = version
    resource |= {
        "name": name,
        "title": title,
        "status": "active",
        "experimental": False,
        "publisher": PUBLISHER,
        "description": description,
        "jurisdiction": JURISDICTION,
        "compose": {"include": [include]},
    }
    return resource


def _for_version(resource: Resource, fhir_version: str) -> Resource:
    """R5 as built, or R4: drop the R5-only elements we use (nothing else differs here);
    effectivePeriod survives as its R5 cross-version extension (the release's start date)."""
    if fhir_version not in FHIR_VERSIONS:
        raise ValueError(f"fhir_version must be one of {FHIR_VERSIONS}, not {fhir_version!r}")
    if fhir_version == "r5":
        return resource
    r4 = {k: v for k, v in resource.items() if k not in _R5_ONLY}
    if period := resource.get("effectivePeriod"):
        extension = {"url": R5_EFFECTIVE_PERIOD_EXT, "valuePeriod": period}
        r4 = {"resourceType": r4.pop("resourceType"), "extension": [extension], **r4}
    return r4
