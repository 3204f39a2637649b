"""FHIR output: the HCPCS CodeSystem, code-table CodeSystems and ValueSets, R5 and R4."""

from __future__ import annotations

import pytest
from fhir.resources.codesystem import CodeSystem
from fhir.resources.R4B.codesystem import CodeSystem as CodeSystemR4
from fhir.resources.R4B.valueset import ValueSet as ValueSetR4
from fhir.resources.valueset import ValueSet

from codesystem import (
    HCPCS_ALIASES,
    HCPCS_OID,
    HCPCS_URL,
    code_table_codesystems,
    hcpcs_valuesets,
    to_fhir,
)

BASE = "https://hcpcs-tx.org/fhir/CodeSystem/"
FHIR_PROPERTY = "http://hl7.org/fhir/concept-properties#"
STANDARD_URIS = ("status", "inactive", "added-date", "termination-date")
R5_ONLY = ("versionAlgorithmCoding", "effectivePeriod")
R5_PERIOD_EXT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-CodeSystem.effectivePeriod"
# the property table: code -> FHIR type
PROPERTIES = {
    "kind": "code", "short-description": "string", "pricing-indicator": "Coding",
    "multiple-pricing-indicator": "Coding", "cim-reference": "string", "mcm-reference": "string",
    "statute": "string", "lab-certification": "Coding", "cross-reference": "code",
    "coverage": "Coding", "asc-payment-group": "Coding", "asc-effective-date": "dateTime",
    "opps-payment-group": "Coding", "opps-policy-indicator": "Coding",
    "opps-effective-date": "dateTime", "processing-note": "Coding", "betos": "Coding",
    "type-of-service": "Coding", "anesthesia-base-units": "integer", "added-date": "dateTime",
    "action-effective-date": "dateTime", "termination-date": "dateTime", "action": "Coding",
    "section": "Coding", "status": "code", "inactive": "boolean",
}  # fmt: skip
TABLES = {
    "pricing-indicator", "multiple-pricing-indicator", "lab-certification", "coverage",
    "asc-payment-group", "opps-payment-group", "opps-policy-indicator", "betos",
    "type-of-service", "action", "section", "processing-note",
}  # fmt: skip


def test_identity_constants() -> None:
    assert HCPCS_URL == "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
    assert HCPCS_OID == "2.16.840.1.113883.6.285"
    assert HCPCS_ALIASES == {
        "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": HCPCS_URL,
        "urn:oid:2.16.840.1.113883.6.285": HCPCS_URL,
    }


def test_codesystem_header(excerpt) -> None:
    cs = to_fhir(excerpt)
    assert cs["url"] == HCPCS_URL
    assert cs["identifier"] == [{"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{HCPCS_OID}"}]
    assert (cs["version"], cs["name"], cs["status"], cs["content"]) == (
        "2026-01", "HCPCSLevelII", "active", "complete",
    )  # fmt: skip
    assert cs["caseSensitive"] is True and cs["count"] == len(cs["concept"]) == 14
    assert cs["publisher"].startswith("Centers for Medicare & Medicaid Services")
    assert cs["valueSet"] == "https://hcpcs-tx.org/fhir/ValueSet/hcpcs-all"


def test_property_declarations(excerpt) -> None:
    declared = {p["code"]: p for p in to_fhir(excerpt)["property"]}
    assert {code: p["type"] for code, p in declared.items()} == PROPERTIES
    assert declared["status"]["uri"] == "http://hl7.org/fhir/concept-properties#status"
    assert declared["inactive"]["uri"] == "http://hl7.org/fhir/concept-properties#inactive"
    assert declared["added-date"]["uri"] == FHIR_PROPERTY + "effectiveDate"
    assert declared["termination-date"]["uri"] == FHIR_PROPERTY + "retirementDate"
    for code, p in declared.items():
        if code not in STANDARD_URIS:
            assert p["uri"] == f"{BASE}hcpcs#{code}"
        assert p["description"]


def test_effective_period_starts_on_the_release_month(excerpt, release_2019) -> None:
    """CMS's quarterly effective date: the first day of the release's month."""
    assert to_fhir(excerpt)["effectivePeriod"] == {"start": "2026-01-01"}
    assert to_fhir(release_2019)["effectivePeriod"] == {"start": "2019-01-01"}
    r4 = to_fhir(excerpt, "r4")
    assert "effectivePeriod" not in r4
    assert r4["extension"] == [{"url": R5_PERIOD_EXT, "valuePeriod": {"start": "2026-01-01"}}]


def test_every_concept_property_is_declared_with_its_type(release_2020) -> None:
    cs = to_fhir(release_2020)
    types = {p["code"]: p["type"] for p in cs["property"]}
    keys = {t: f"value{t[0].upper()}{t[1:]}" for t in set(PROPERTIES.values())}
    used = set()
    for concept in cs["concept"]:
        for prop in concept["property"]:
            assert keys[types[prop["code"]]] in prop, prop
            used.add(prop["code"])
    assert used == set(PROPERTIES) - {
        "opps-payment-group",
        "opps-policy-indicator",
        "opps-effective-date",
    }  # fmt: skip  (blank in 2020)


def test_excerpt_validates_r5_and_r4(excerpt) -> None:
    r5, r4 = to_fhir(excerpt), to_fhir(excerpt, "r4")
    CodeSystem.model_validate(r5)
    CodeSystemR4.model_validate(r4)
    r4.pop("extension")  # effectivePeriod, see test_effective_period_starts_on_the_release_month
    assert {k: v for k, v in r5.items() if k not in R5_ONLY} == r4


def test_full_2020_validates_r5_and_its_r4_differs_only_by_r5_elements(release_2020) -> None:
    """One full validation (~5 s); R4 is R5 minus its R5-only elements, validated on the excerpt."""
    r5 = to_fhir(release_2020)
    CodeSystem.model_validate(r5)
    r4 = to_fhir(release_2020, "r4")
    r4.pop("extension")
    assert {k: v for k, v in r5.items() if k not in R5_ONLY} == r4


def test_unknown_fhir_version(excerpt) -> None:
    with pytest.raises(ValueError, match="r4"):
        to_fhir(excerpt, "stu3")


def test_code_table_codesystems() -> None:
    tables = {cs["url"].removeprefix(BASE): cs for cs in code_table_codesystems()}
    assert set(tables) == TABLES
    for cs in tables.values():
        CodeSystem.model_validate(cs)
    for cs in code_table_codesystems("r4"):
        CodeSystemR4.model_validate(cs)
    price = {c["code"]: c for c in tables["pricing-indicator"]["concept"]}
    assert price["11"]["display"] == "Price established using national RVUs"
    group = "Physician Fee Schedule and Non-Physician Practitioners Linked to the Physician Fee"
    assert price["11"]["property"] == [{"code": "group", "valueString": f"{group} Schedule"}]
    assert price["40"]["display"].startswith("Lymphedema Compression Treatment Items")
    betos = {c["code"]: c["display"] for c in tables["betos"]["concept"]}
    assert betos["O1E"] == "Other drugs" and "O1L" in betos
    assert {c["code"]: c["display"] for c in tables["coverage"]["concept"]}["C"] == (
        "Carrier judgment"
    )


def test_lab_certification_is_a_hierarchy() -> None:
    lab = next(cs for cs in code_table_codesystems() if cs["url"].endswith("/lab-certification"))
    micro = next(c for c in lab["concept"] if c["code"] == "100")
    assert [c["code"] for c in micro["concept"]] == ["110", "115", "120", "130", "140", "150"]
    assert lab["hierarchyMeaning"] == "is-a" and lab["count"] == 31


def test_processing_notes_table_comes_with_a_release(release_2020) -> None:
    tables = code_table_codesystems(release=release_2020)
    assert {cs["url"].removeprefix(BASE) for cs in tables} == TABLES
    notes = next(cs for cs in tables if cs["url"].endswith("/processing-note"))
    assert notes["url"] == f"{BASE}processing-note" and notes["version"] == "2020-01"
    assert notes["count"] == 220
    assert notes["description"].endswith(
        "Texts from 2020-Alpha-Numeric-HCPCS-File.zip/proc_notes_2020.txt."
    )
    CodeSystem.model_validate(notes)


def test_code_tables_carry_the_release_version(release_2020) -> None:
    """One set of tables per release: each says which release it comes with (not the layout
    revision) and when it takes effect; the ids stay `hcpcs-<table>` (see docs)."""
    tables = code_table_codesystems(release=release_2020)
    assert {(cs["id"], cs["version"]) for cs in tables} == {
        (f"hcpcs-{table}", "2020-01") for table in TABLES
    }
    assert all(cs["effectivePeriod"] == {"start": "2020-01-01"} for cs in tables)
    r4 = code_table_codesystems("r4", release=release_2020)
    assert all(cs["extension"][0]["url"] == R5_PERIOD_EXT for cs in r4)
    for cs in r4:
        CodeSystemR4.model_validate(cs)
    unpinned = code_table_codesystems()
    assert {cs["version"] for cs in unpinned} == {"2026"}  # the layout revision
    assert all("effectivePeriod" not in cs for cs in unpinned)
    notes = next(cs for cs in unpinned if cs["url"].endswith("/processing-note"))
    assert notes["count"] == 234 and "processing-notes.json" in notes["description"]


def test_valuesets(release_2020) -> None:
    sets = {vs["url"].rsplit("/", 1)[1]: vs for vs in hcpcs_valuesets(release_2020)}
    betos = next(cs for cs in code_table_codesystems() if cs["url"].endswith("/betos"))
    assert len(sets) == 5 + len(betos["concept"])
    assert sets["hcpcs-all"]["compose"] == {
        "inactive": True,
        "include": [{"system": HCPCS_URL, "version": "2020-01"}],
    }
    filters = {
        "hcpcs-active": ("inactive", "false"),
        "hcpcs-procedures": ("kind", "procedure"),
        "hcpcs-modifiers": ("kind", "modifier"),
        "hcpcs-asc-approved": ("asc-payment-group", "YY"),
        "hcpcs-betos-O1E": ("betos", "O1E"),
    }
    for name, (prop, value) in filters.items():
        include = sets[name]["compose"]["include"]
        assert include == [{"system": HCPCS_URL, "version": "2020-01",
                            "filter": [{"property": prop, "op": "=", "value": value}]}]  # fmt: skip
    for vs in sets.values():
        ValueSet.model_validate(vs)


def test_valuesets_unpinned_and_r4() -> None:
    sets = hcpcs_valuesets(fhir_version="r4")
    assert all("version" not in vs for vs in sets)
    assert all("version" not in vs["compose"]["include"][0] for vs in sets)
    assert sets[0]["id"] == "hcpcs-all"
    for vs in sets:
        ValueSetR4.model_validate(vs)
    assert hcpcs_valuesets("2026-01")[0]["id"] == "hcpcs-all-2026-01"
