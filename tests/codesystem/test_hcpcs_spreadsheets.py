"""txt vs xlsx (2019) and txt vs legacy xls (2020): the same concepts wherever CMS's files agree.

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
