"""txt vs xlsx (2019, January 2025) and txt vs legacy xls (2020): the same concepts wherever
CMS's files agree.

Where they do not, the differences are listed here exactly (and in docs/codesystem.md), so a
reader bug cannot hide among them.
"""

from __future__ import annotations

from datetime import date

import pytest

from codesystem import read_release

# 13 long descriptions: the sheet keeps two spaces where the txt breaks the line; the txt
# cannot (its lines are padded), and joins the lines with one space.
WHITESPACE_AT_LINE_BREAKS = 13
WHITESPACE_2025 = {
    "C9754", "G0023", "G0417", "G0418", "G0419", "G0501", "G0502", "G0556", "G0557", "G0558",
    "G2211", "G9482", "G9486", "G9488", "G9627", "G9678", "G9986", "M1377",
}  # fmt: skip


def _differences(txt, sheet) -> dict[str, set]:
    out: dict[str, set] = {"display": set(), "display (beyond whitespace)": set()}
    for a, b in zip(txt.concepts, sheet.concepts, strict=True):
        assert (a.code, a.kind, a.short_description) == (b.code, b.kind, b.short_description)
        if a.display != b.display:
            out["display"].add(a.code)
        if a.display.split() != b.display.split():
            out["display (beyond whitespace)"].add(a.code)
        for prop, value in set(a.properties) ^ set(b.properties):
            if prop != "processing-note":  # the bare files have no proc_notes: no displays
                out.setdefault(prop, set()).add((a.code, value in dict(a.properties).values()))
    return out


def _report(year: str, diffs: dict[str, set]) -> None:
    for prop, codes in diffs.items():
        print(f"{year} txt vs sheet, {prop}: {len(codes)} code(s), e.g. {sorted(codes)[:3]}")


@pytest.fixture(scope="module")
def pair_2019(unzipped):
    return read_release(unzipped["2019.txt"]), read_release(unzipped["2019.xlsx"])


@pytest.fixture(scope="module")
def pair_2025(unzipped):
    return read_release(unzipped["2025.txt"]), read_release(unzipped["2025.xlsx"])


@pytest.fixture(scope="module")
def pair_2020(unzipped):
    return read_release(unzipped["2020.txt"]), read_release(unzipped["2020.xls"])


def test_2019_txt_and_xlsx(pair_2019) -> None:
    txt, sheet = pair_2019
    assert sheet.version == txt.version == "2019-01"
    diffs = _differences(txt, sheet)
    _report("2019", diffs)
    assert len(diffs.pop("display")) == WHITESPACE_AT_LINE_BREAKS
    assert diffs.pop("display (beyond whitespace)") == set()
    # the xlsx has no ACT EFF DT for 115 codes the txt dates (1982-2002)
    missing = diffs.pop("action-effective-date")
    assert len(missing) == 115 and all(in_txt for _, in_txt in missing)
    # the xlsx adds TOS R (rental of DME) to E0210 and E0776
    assert diffs.pop("type-of-service") == {("E0210", False), ("E0776", False)}
    assert diffs == {}
    e0210 = next(c for c in sheet.concepts if c.code == "E0210")
    assert [v.code for v in e0210.values("type-of-service")] == ["A", "L", "P", "R"]
    a0130 = next(c for c in txt.concepts if c.code == "A0130")
    assert a0130.value("action-effective-date") == date(1982, 1, 1)


def test_2020_txt_and_xls(pair_2020) -> None:
    txt, sheet = pair_2020
    assert sheet.version == txt.version == "2020-01"
    diffs = _differences(txt, sheet)
    _report("2020", diffs)
    assert len(diffs.pop("display")) == WHITESPACE_AT_LINE_BREAKS
    assert diffs == {"display (beyond whitespace)": set()}


def test_2025_txt_and_xlsx(pair_2025, shipped) -> None:
    """CMS's own January 2025 xlsx cuts G0503's long description at 1,194 characters (the
    txt has all 1,251): the zip's txt is what the reader takes."""
    txt, sheet = pair_2025
    assert sheet.version == txt.version == "2025-01"
    diffs = _differences(txt, sheet)
    _report("2025", diffs)
    assert diffs.pop("display (beyond whitespace)") == {"G0503"}
    assert diffs.pop("display") == {"G0503", *WHITESPACE_2025}
    missing = diffs.pop("action-effective-date")  # as in 2019: dated in the txt only
    assert len(missing) == 116 and all(in_txt for _, in_txt in missing)
    assert diffs.pop("type-of-service") == {("E0210", False), ("E0776", False)}
    assert diffs == {}
    full, cut = (next(c for c in r.concepts if c.code == "G0503") for r in (txt, sheet))
    assert (len(full.display), len(cut.display)) == (1251, 1194)
    assert " ".join(full.display.split()).startswith(" ".join(cut.display.split()))
    from_zip = shipped["2025-01"]
    assert from_zip.source.endswith("/HCPC2025_JAN_ANWEB_12172024.txt")
    assert next(c for c in from_zip.concepts if c.code == "G0503").display == full.display
