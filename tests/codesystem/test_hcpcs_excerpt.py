"""The January 2026 excerpt (current format), every concept field by field.

Expected values were read by eye from the raw fixed-width lines (positions from the CMS
layout), not produced by the parser: a shifted slice or a lost continuation shows here.
"""

from __future__ import annotations

import pytest

from codesystem import to_fhir

N, P, C, A = "N", "P", "C", "A"  # action codes
Q_COMMON = [("multiple-pricing-indicator", "A"), ("coverage", "C")]
Q_TAIL = [("betos", "O1E"), ("type-of-service", "1"), ("anesthesia-base-units", 0)]
ADD_ON = "per square centimeter (add-on, list separately in addition to primary procedure)"

# code -> (kind, display, short description, CMS fields in layout order, status)
EXPECTED = {
    "AA": ("modifier", "Anesthesia services performed personally by anesthesiologist",
           "Anesthesia perf by anesgst",
           [("mcm-reference", "3350.5"), ("coverage", "D"), ("added-date", "1984-01-01"),
            ("action-effective-date", "2001-01-01"), ("action", N)], "active"),
    "AB": ("modifier",
           "Audiology service furnished personally by an audiologist without a physician/npp "
           "order for non-acute hearing assessment unrelated to disequilibrium, or hearing aids, "
           "or examinations for the purpose of prescribing, fitting, or changing hearing aids; "
           "service may be performed once every 12 months, per beneficiary",
           "Aud svs w/o order evry 12mo",
           [("coverage", "C"), ("added-date", "2023-01-01"),
            ("action-effective-date", "2023-01-01"), ("action", N)], "active"),
    "AM": ("modifier", "Physician, team member service", "Physician, team member svc",
           [("mcm-reference", "4105.7"), ("cross-reference", "QM"), ("coverage", "D"),
            ("processing-note", "0069"), ("added-date", "1991-01-01"),
            ("action-effective-date", "1997-01-01"), ("action", N)], "active"),
    "L2134": ("procedure",
              "Kafo, fracture orthosis, femoral fracture cast orthosis, semi-rigid, "
              "prefabricated, includes fitting and adjustment",
              "Kafo fem fx cast semi-rigid",
              [("pricing-indicator", "38"), ("multiple-pricing-indicator", "A"),
               ("coverage", "C"), ("betos", "D1F"), ("type-of-service", "P"),
               ("anesthesia-base-units", 0), ("added-date", "1988-01-01"),
               ("action-effective-date", "2001-01-01"), ("action", N)], "active"),
    "M1371": ("procedure", "Most recent glycemic status assessment (hba1c or gmi) level < 7.0%",
              "Mst rec gsa<7",
              [("pricing-indicator", "00"), ("multiple-pricing-indicator", "9"),
               ("coverage", "C"), ("betos", "Z2"), ("type-of-service", "1"),
               ("anesthesia-base-units", 0), ("added-date", "2025-01-01"),
               ("action-effective-date", "2025-01-01"), ("action", N)], "active"),
    "Q4226": ("procedure",
              "Myown skin, includes harvesting and preparation procedures, per square centimeter",
              "Myown harv prep proc sq cm",
              [("pricing-indicator", "51"), *Q_COMMON, *Q_TAIL, ("added-date", "2019-10-01"),
               ("action-effective-date", "2019-10-01"), ("action", N)], "active"),
    "Q4228": ("procedure", "Bionextpatch, per square centimeter", "Bionextpatch, per sq cm",
              [("pricing-indicator", "51"), *Q_COMMON, *Q_TAIL, ("added-date", "2020-07-01"),
               ("action-effective-date", "2021-10-01"), ("termination-date", "2021-09-30"),
               ("action", N)], "retired"),
    "Q4230": ("procedure", "Cogenex flowable amnion, per 0.5 cc", "Cogenex flow amnion 0.5 cc",
              [("pricing-indicator", "13"), *Q_COMMON, *Q_TAIL, ("added-date", "2020-07-01"),
               ("action-effective-date", "2026-01-01"), ("action", P)], "active"),
    "Q4257": ("procedure", f"Relese, {ADD_ON}", "Relese, per sq cm",
              [("pricing-indicator", "11"), *Q_COMMON, ("asc-payment-group", "YY"),
               ("asc-effective-date", "2026-01-01"), *Q_TAIL, ("added-date", "2022-04-01"),
               ("action-effective-date", "2026-01-01"), ("action", C)], "active"),
    "Q4293": ("procedure", f"Acesso dl, {ADD_ON}", "Acesso dl, per sq cm",
              [("pricing-indicator", "11"), *Q_COMMON, ("asc-payment-group", "YY"),
               ("asc-effective-date", "2026-01-01"), *Q_TAIL, ("added-date", "2024-01-01"),
               ("action-effective-date", "2026-01-01"), ("action", C)], "active"),
    "Q4311": ("procedure", f"Acesso, {ADD_ON}", "Acesso, per sq cm",
              [("pricing-indicator", "11"), *Q_COMMON, ("asc-payment-group", "YY"),
               ("asc-effective-date", "2026-01-01"), *Q_TAIL, ("added-date", "2024-07-01"),
               ("action-effective-date", "2026-01-01"), ("action", C)], "active"),
    "Q4386": ("procedure", f"Acesso trifaca, {ADD_ON}", "Acesso trifaca per sq cm",
              [("pricing-indicator", "11"), *Q_COMMON, *Q_TAIL, ("added-date", "2025-10-01"),
               ("action-effective-date", "2026-01-01"), ("action", C)], "active"),
    "Q4390": ("procedure", f"Ascendion, {ADD_ON}", "Ascendion per sq cm",
              [("pricing-indicator", "11"), *Q_COMMON, *Q_TAIL, ("added-date", "2025-10-01"),
               ("action-effective-date", "2026-01-01"), ("action", C)], "active"),
    "Q4398": ("procedure", f"Summit ac, {ADD_ON}", "Summit ac per sq cm",
              [("pricing-indicator", "11"), *Q_COMMON, *Q_TAIL, ("added-date", "2026-01-01"),
               ("action-effective-date", "2026-01-01"), ("action", A)], "active"),
}  # fmt: skip

DISPLAYS = {
    ("coverage", "C"): "Carrier judgment",
    ("coverage", "D"): "Special coverage instructions apply",
    ("pricing-indicator", "00"): "Service not separately priced by Part B (e.g., services not "
    "covered, bundled, used by Part A only, etc.)",
    ("pricing-indicator", "11"): "Price established using national RVUs",
    ("pricing-indicator", "13"): "Price established by carriers (e.g., not otherwise classified, "
    "individual determination, carrier discretion)",
    ("pricing-indicator", "38"): "Orthotics, prosthetics, prosthetic devices & vision services "
    "(price subject to floors and ceilings)",
    ("pricing-indicator", "51"): "Drugs",
    ("multiple-pricing-indicator", "A"): "Not applicable as HCPCS priced under one methodology",
    ("betos", "O1E"): "Other drugs",
    ("betos", "D1F"): "Prosthetic/Orthotic devices",
    ("betos", "Z2"): "Undefined codes",
    ("type-of-service", "1"): "Medical care",
    ("type-of-service", "P"): "Lump sum purchase of DME, prosthetics, orthotics",
    ("action", "N"): "No maintenance for this code",
    ("action", "A"): "Add procedure or modifier code",
    ("action", "C"): "Change in long description of procedure or modifier code",
    ("asc-payment-group", "YY"): "Approved to be performed in an ambulatory surgical center",
    ("section", "L"): "Orthotic and prosthetic procedures and devices",
    ("section", "M"): "Medical services and quality measures",
    ("section", "Q"): "Temporary codes",
}


def _simple(prop: dict):
    """A property value as the test writes it: Coding -> its code."""
    value = next(v for k, v in prop.items() if k.startswith("value"))
    return value["code"] if isinstance(value, dict) else value


def _expected_properties(code: str) -> list[tuple]:
    kind, _, short, fields, status = EXPECTED[code]
    section = [("section", code[0])] if kind == "procedure" else []
    return [
        ("kind", kind),
        ("short-description", short),
        *fields,
        *section,
        ("status", status),
        ("inactive", status == "retired"),
    ]


@pytest.fixture(scope="module")
def concepts(excerpt) -> dict[str, dict]:
    return {c["code"]: c for c in to_fhir(excerpt)["concept"]}


def test_excerpt_has_the_14_codes_in_file_order(excerpt) -> None:
    assert [c.code for c in excerpt.concepts] == list(EXPECTED)
    assert (excerpt.version, excerpt.version_source) == ("2026-01", "file name")
    assert excerpt.source == "HCPC2026_JAN_ANWEB_excerpt.txt"


@pytest.mark.parametrize("code", list(EXPECTED))
def test_concept_field_by_field(concepts, code) -> None:
    concept = concepts[code]
    kind, display, short, _, _ = EXPECTED[code]
    assert concept["display"] == display
    assert [d["value"] for d in concept["designation"]] == [short]
    assert [(p["code"], _simple(p)) for p in concept["property"]] == _expected_properties(code)


def test_coded_values_carry_cms_meanings(concepts) -> None:
    seen = {}
    for concept in concepts.values():
        for prop in concept["property"]:
            if coding := prop.get("valueCoding"):
                assert coding["system"] == f"https://hcpcs-tx.org/fhir/CodeSystem/{prop['code']}"
                seen[(prop["code"], coding["code"])] = coding.get("display")
    assert {key: seen[key] for key in DISPLAYS} == DISPLAYS


def test_processing_note_without_proc_notes_file_comes_from_the_shipped_notes(
    excerpt, concepts
) -> None:
    """A bare txt has no proc_notes file: 0069's text is the one CMS shipped in January 2025."""
    note = next(p for p in concepts["AM"]["property"] if p["code"] == "processing-note")
    assert note["valueCoding"] == {
        "system": "https://hcpcs-tx.org/fhir/CodeSystem/processing-note",
        "code": "0069",
        "display": "FOR ASSISTANT SURGEON SERVICES MODIFIERS 80, 81, 82, AK, AL, AM, AN, AS, AU, "
        "AV, AW, AY, QB, QU SEE MCM SECTION 15044.",
    }
    assert excerpt.processing_notes_file is None
    assert excerpt.warnings == (
        "HCPC2026_JAN_ANWEB_excerpt.txt: no proc_notes file, so processing-note displays come "
        "from the notes CMS shipped with release 2025-01 (codesystem/data/processing-notes.json;"
        " 1 code(s), first at line 7)",
    )


def test_multi_line_modifier_joins_continuations_in_seqnum_order(excerpt) -> None:
    ab = next(c for c in excerpt.concepts if c.code == "AB")
    assert ab.kind == "modifier"
    assert ab.display == EXPECTED["AB"][1]
    assert ab.value("section") is None  # modifiers have no section
