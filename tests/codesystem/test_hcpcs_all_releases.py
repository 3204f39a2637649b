"""Every release the product ships, read from ../shared as CMS published it (each file once
per session): counts, where the version comes from, spreadsheet headers and the fast
spreadsheet reader, the processing notes of releases that ship none, the code tables.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from datetime import date, datetime

import pytest

from codesystem import code_table_codesystems, notes, read_release, sheets

# tests/codesystem has no __init__.py (see conftest.py): the fixtures `shipped` and
# `cms_sheets` carry the files; the names below must match conftest.SHIPPED and SHEETS.

# version -> (codes, procedures, modifiers); the quarterly splits were computed here and
# checked: each quarter of 2020 keeps every code of the one before (CMS removes codes only
# at the annual release) and adds 18, 61, 38 codes dated in that quarter; the 2 modifiers of
# 2020-10 are J5 and V4 (added 2020-10-01).
COUNTS = {
    "2019-01": (6800, 6440, 360),
    "2020-01": (7079, 6710, 369),
    "2020-04": (7097, 6728, 369),
    "2020-07": (7158, 6789, 369),
    "2020-10": (7196, 6825, 371),
    "2025-01": (8642, 8259, 383),
    "2025-10": (8846, 8463, 383),
}
SHIPPED = list(COUNTS)
FROM_DATA = {"2020-04", "2020-07", "2020-10"}  # named anweb.xlsx: no year, no quarter
WITHOUT_NOTES = ("2020-04", "2020-07", "2020-10", "2025-10")  # spreadsheets only
HEADER_ROWS = {  # where CMS put the HCPC, SEQNUM, ... header row
    "2019-01 xlsx": 8,
    "2020-04": 11,
    "2020-07": 1,
    "2020-10": 11,
    "2025-01 xlsx": 1,
    "2025-10": 1,
}
SHEETS = list(HEADER_ROWS)
NOTES_TABLE = "codesystem/data/processing-notes.json"


def trim(row: tuple) -> tuple:
    values = list(row)
    while values and values[-1] is None:
        values.pop()
    return tuple(values)


@pytest.mark.parametrize("version", SHIPPED)
def test_codes_procedures_and_modifiers(shipped, version) -> None:
    release = shipped[version]
    kinds = Counter(c.kind for c in release.concepts)
    codes = (len(release.concepts), kinds["procedure"], kinds["modifier"])
    assert (release.version, codes) == (version, COUNTS[version])


def test_quarters_of_2020_only_add_codes(shipped) -> None:
    versions = ["2020-01", "2020-04", "2020-07", "2020-10"]
    codes = [{c.code: c for c in shipped[v].concepts} for v in versions]
    for version, old, new in zip(versions[1:], codes[:-1], codes[1:], strict=True):
        added = set(new) - set(old)
        assert set(old) <= set(new)
        start = date.fromisoformat(f"{version}-01")
        assert all(new[c].value("added-date") <= start for c in added)
        assert len(added) == len(new) - len(old)
    assert sorted(c for c in set(codes[3]) - set(codes[2]) if codes[3][c].kind == "modifier") == [
        "J5",
        "V4",
    ]


@pytest.mark.parametrize("version", SHIPPED)
def test_where_the_version_comes_from(shipped, version) -> None:
    release = shipped[version]
    if version in FROM_DATA:
        assert release.source == "anweb.xlsx"
        expected = f"data: latest action-effective date {version}-01"
    else:
        expected = "file name"
    assert release.version_source == expected
    assert not [w for w in release.warnings if "the file name says" in w]


@pytest.mark.parametrize("version", SHIPPED)
def test_the_data_rule_gives_every_shipped_release_its_version(shipped, version) -> None:
    """The rule for a file named without a release (the quarter of the latest action-effective
    date) agrees with the name on every release whose name carries one (2019-01, 2020-01,
    2025-01, 2025-10); on every shipped release that date is the release's first day."""
    release = shipped[version]
    assert release.data_version == version
    assert release.latest_action_date == release.start


def test_the_name_wins_over_the_data_and_release_over_both(tmp_path, excerpt_path) -> None:
    """The excerpt's data says 2026-01: a name that says otherwise wins, with a warning."""
    renamed = tmp_path / "HCPC2025_OCT_ANWEB.txt"
    shutil.copy(excerpt_path, renamed)
    release = read_release(renamed)
    assert (release.version, release.version_source) == ("2025-10", "file name")
    assert (
        "HCPC2025_OCT_ANWEB.txt: the file name says release 2025-10, but the latest "
        "action-effective date (2026-01-01) is in 2026-01; using 2025-10 (give the release "
        "to override)"
    ) in release.warnings
    given = read_release(renamed, release="2026-01")
    assert (given.version, given.version_source) == ("2026-01", "given release")
    assert not [w for w in given.warnings if "the file name says" in w]
    unnamed = tmp_path / "anweb.txt"
    shutil.copy(excerpt_path, unnamed)
    assert read_release(unnamed).version == "2026-01"
    assert read_release(unnamed, release="2024-07").version == "2024-07"


# --- spreadsheets ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHEETS)
def test_header_row(cms_sheets, name) -> None:
    rows = cms_sheets.openpyxl_rows(name)
    header = next(number for number, row in rows.items() if row[0] == "HCPC")
    assert header == HEADER_ROWS[name]
    assert rows[header][:3] == ("HCPC", "SEQNUM", "RECID") and len(rows[header]) == 48


@pytest.mark.parametrize("version", ["2020-04", "2020-07", "2020-10", "2025-10"])
def test_the_reader_starts_after_each_header(shipped, version) -> None:
    """Concept.line is the spreadsheet row: the first code is the row after the header."""
    assert shipped[version].concepts[0].line == HEADER_ROWS[version] + 1


@pytest.mark.parametrize("name", SHEETS)
def test_fast_reader_gives_the_rows_openpyxl_gives(cms_sheets, name) -> None:
    """The product reads CMS's sheets with its own fast reader; openpyxl must agree, cell by
    cell, on every shipped spreadsheet (and the fast path must be the one taken)."""
    payload = cms_sheets.payload(name)
    fast = sheets.fast_xlsx_rows(payload, name)
    assert fast is not None
    rows = {number: values for number, row in fast if (values := trim(row))}
    assert rows == cms_sheets.openpyxl_rows(name)


def test_sheets_the_fast_reader_does_not_know_go_to_openpyxl(tmp_path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    for extra, value in ((datetime(2020, 4, 1), datetime(2020, 4, 1)), ("=1+1", None)):
        book = openpyxl.Workbook()
        book.active.append(["HCPC", "SEQNUM", extra])
        path = tmp_path / "book.xlsx"
        book.save(path)
        payload = path.read_bytes()
        assert sheets.fast_xlsx_rows(payload, "book.xlsx") is None
        assert [row for _, row in sheets.xlsx_rows(payload, "book.xlsx")] == [
            ("HCPC", "SEQNUM", value)  # a formula: its cached value (none here)
        ]


# --- October 2025: the codes the product is asked about ------------------------------------

# CMS column -> property, read independently of the product's layout.json
COLUMNS = {
    "SHORT DESCRIPTION": "short-description", "MULT_PI": "multiple-pricing-indicator",
    "STATUTE": "statute", "COV": "coverage", "ASC_GRP": "asc-payment-group",
    "ASC_DT": "asc-effective-date", "OPPS": "opps-payment-group",
    "OPPS_PI": "opps-policy-indicator", "OPPS_DT": "opps-effective-date",
    "PROCNOTE": "processing-note", "BETOS": "betos", "ANEST_BU": "anesthesia-base-units",
    "ADD DT": "added-date", "ACT EFF DT": "action-effective-date",
    "TERM DT": "termination-date", "ACTION CD": "action",
    **{f"PRICE{n}": "pricing-indicator" for n in range(1, 5)},
    **{f"CIM{n}": "cim-reference" for n in range(1, 4)},
    **{f"MCM{n}": "mcm-reference" for n in range(1, 4)},
    **{f"LABCERT{n}": "lab-certification" for n in range(1, 9)},
    **{f"XREF{n}": "cross-reference" for n in range(1, 6)},
    **{f"TOS{n}": "type-of-service" for n in range(1, 6)},
}  # fmt: skip
DATES = {"asc-effective-date", "opps-effective-date", "added-date", "action-effective-date",
         "termination-date"}  # fmt: skip


def _as_read(prop: str, cell: str):
    if prop in DATES:
        return date(int(cell[:4]), int(cell[4:6]), int(cell[6:]))
    return int(cell) if prop == "anesthesia-base-units" else cell


def test_q4257_matches_its_october_2025_row_field_by_field(shipped, cms_sheets) -> None:
    rows = cms_sheets.openpyxl_rows("2025-10")
    header = rows[1]
    (row,) = [r for r in rows.values() if r[0] == "Q4257"]
    texts = (str(value).strip() for value in row)
    cells = {column: text for column, text in zip(header, texts, strict=False) if text}
    assert cells["PRICE1"] == "51" and cells["SEQNUM"] == "0010" and cells["RECID"] == "3"
    q4257 = next(c for c in shipped["2025-10"].concepts if c.code == "Q4257")
    assert q4257.display == cells["LONG DESCRIPTION"] == "Relese, per square centimeter"
    expected = [("kind", "procedure")] + [
        (COLUMNS[column], _as_read(COLUMNS[column], text))
        for column, text in cells.items()
        if column in COLUMNS
    ]
    expected.append(("section", "Q"))
    got = [(p, getattr(v, "code", v)) for p, v in q4257.properties]
    assert got == expected
    price = q4257.value("pricing-indicator")
    assert (price.code, price.display) == ("51", "Drugs")


def test_october_2025_has_the_skin_substitutes(shipped) -> None:
    october = {c.code: c for c in shipped["2025-10"].concepts}
    january = {c.code for c in shipped["2025-01"].concepts}
    for code in ("Q4257", "Q4293", "Q4311", "Q4386", "Q4390", "AB"):
        assert code in october
    assert {"Q4386", "Q4390"} - january == {"Q4386", "Q4390"}
    assert october["Q4390"].value("added-date") == date(2025, 10, 1)


# --- processing notes -----------------------------------------------------------------------


@pytest.mark.parametrize("version", WITHOUT_NOTES)
def test_releases_without_proc_notes_get_the_shipped_texts(shipped, version) -> None:
    release = shipped[version]
    january = shipped["2025-01"]
    assert release.processing_notes_file is None
    codings = [v for c in release.concepts for v in c.values("processing-note")]
    assert len(codings) > 700
    for coding in codings:
        assert coding.display == january.processing_notes[coding.code]
    (warning,) = [w for w in release.warnings if "proc_notes" in w]
    assert "no proc_notes file" in warning and "release 2025-01" in warning
    assert NOTES_TABLE in warning and f"{len(codings)} code(s)" in warning


@pytest.mark.parametrize("version", ["2019-01", "2020-01", "2025-01"])
def test_releases_with_proc_notes_use_their_own(shipped, version) -> None:
    release = shipped[version]
    assert release.processing_notes_file.startswith(f"{shipped.path(version).name}/")
    for concept in release.concepts:
        for coding in concept.values("processing-note"):
            assert coding.display == release.processing_notes.get(coding.code)
    undocumented = [w for w in release.warnings if "processing-note '0000'" in w]
    assert len(undocumented) == (0 if version == "2025-01" else 1)  # 0000 is in no notes file


def test_a_number_no_shipped_release_documents_is_still_warned(tmp_path, excerpt_path) -> None:
    lines = excerpt_path.read_text(encoding="latin-1").splitlines()
    am = next(i for i, line in enumerate(lines) if line.startswith("   AM"))
    lines[am] = lines[am][:252] + "0000" + lines[am][256:]
    path = tmp_path / "HCPC2026_JAN_ANWEB.txt"
    path.write_text("\n".join(lines), encoding="latin-1")
    release = read_release(path)
    am_note = next(c for c in release.concepts if c.code == "AM").value("processing-note")
    assert (am_note.code, am_note.display) == ("0000", None)
    assert release.warnings == (
        "HCPC2026_JAN_ANWEB.txt: processing-note '0000' is not in the proc_notes*.txt file of "
        f"any shipped release ({NOTES_TABLE}); kept without display (1 code(s), first at line "
        f"{am + 1})",
    )


def test_the_shipped_notes_table_is_what_the_zips_say(shipped) -> None:
    """codesystem/data/processing-notes.json is generated from the zips (python -m
    codesystem.notes): rebuilt here from the same zips, it must be the same file."""
    with_notes = [shipped[v] for v in ("2019-01", "2020-01", "2025-01")]
    digests = {
        v: hashlib.sha256(shipped.path(v).read_bytes()).hexdigest()
        for v in ("2019-01", "2020-01", "2025-01")
    }
    table = notes.build_table(with_notes, digests)
    assert notes.render(table) == notes.FALLBACK_FILE.read_text(encoding="utf-8")
    stored = json.loads(notes.FALLBACK_FILE.read_text(encoding="utf-8"))
    assert [s["release"] for s in stored["sources"]] == ["2019-01", "2020-01", "2025-01"]
    assert len(stored["notes"]) == 234
    # where releases differ the newest text wins: 2025 added G0128 to note 0064
    assert "G0128" in stored["notes"]["0064"]["text"]
    assert "G0128" not in shipped["2020-01"].processing_notes["0064"]
    with pytest.raises(ValueError, match="no proc_notes"):
        notes.build_table([shipped["2025-10"]])


# --- code tables ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", SHIPPED)
def test_every_release_serves_the_processing_notes_its_codings_point_at(shipped, version) -> None:
    release = shipped[version]
    tables = {cs["url"].rsplit("/", 1)[1]: cs for cs in code_table_codesystems(release=release)}
    assert {cs["version"] for cs in tables.values()} == {version}
    served = {c["code"]: c["display"] for c in tables["processing-note"]["concept"]}
    for concept in release.concepts:
        for coding in concept.values("processing-note"):
            if coding.code != "0000":  # in no release's notes (warned)
                assert served[coding.code] == coding.display
    origin = "ships no proc_notes file" if version in WITHOUT_NOTES else "Texts from "
    assert origin in tables["processing-note"]["description"]
