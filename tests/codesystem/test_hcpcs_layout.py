"""layout.json against CMS's official record layout text: positions, repeats, code tables."""

from __future__ import annotations

import re
from difflib import SequenceMatcher

import pytest

from codesystem.layout import load_layout
from tests.conftest import shared_file

LAYOUT_TEXT = "data/hcpcs/layout/HCPCS2019_recordlayout.txt"
ADDED_SINCE_2019 = {"pricing-indicator": {"40"}, "betos": {"O1L"}}  # HCPC2026_recordlayout.txt
APPENDIX = {"betos": "BETOS_TB", "type-of-service": "CMS_TYPE_SRVC_TB"}
NOT_IN_LAYOUT = {
    "processing-note",
    "section",
    "asc-payment-group",
}  # notes file / derived / edit rule

_ITEM = re.compile(r"^  (\d{1,2})\.\s+(.+?)\s*(CHAR)?$")
_POSITIONS = re.compile(r"^\s+(\d+)\s+(\d+)\s+(\d+)(\s+\w+)?\s*$")
_OCCURS = re.compile(r"OCCURS MIN: \d+ OCCURS MAX: (\d+)")
_ENTRY = re.compile(r"^(\s*)([0-9A-Z]{1,3})\s*=\s*(.+)$")


@pytest.fixture(scope="module")
def official() -> list[str]:
    return shared_file(LAYOUT_TEXT).read_text(encoding="latin-1").expandtabs().splitlines()


def _items(lines: list[str]) -> dict[int, dict]:
    """Item number -> title, length, begin, end, repeat, and its text lines."""
    items: dict[int, dict] = {}
    current = None
    for line in lines:
        if line.strip().startswith("TABLE OF CODES APPENDIX"):
            break
        if match := _ITEM.match(line):
            current = items[int(match[1])] = {"title": match[2], "repeat": 1, "lines": []}
        elif current is not None:
            current["lines"].append(line)
            if "length" not in current and (match := _POSITIONS.match(line)):
                current.update(length=int(match[1]), begin=int(match[2]), end=int(match[3]))
            if match := _OCCURS.search(line):
                current["repeat"] = int(match[1])
    return items


def _entries(lines: list[str]) -> dict[str, dict]:
    """Code -> display (wrapped lines joined) and group (the heading above it)."""
    entries: dict[str, dict] = {}
    headings: list[str] = []
    group = last = indent = None
    for line in lines:
        if match := _ENTRY.match(line):
            if headings:
                group, headings = " ".join(headings), []
            indent, last = len(match[1]), match[2]
            entries[last] = {"display": match[3].strip(), "group": group}
        elif not line.strip() or set(line.strip()) == {"-"}:
            continue
        elif last and len(line) - len(line.lstrip()) > indent + 2:
            entries[last]["display"] += " " + line.strip()
        else:
            headings.append(line.strip())
    return entries


def _codes_block(item: dict) -> list[str]:
    lines = item["lines"]
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("CODES"))
    return lines[start + 1 :]


def _appendix(lines: list[str], name: str) -> list[str]:
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(name))
    end = next(
        (i for i in range(start + 1, len(lines)) if re.match(r"^ [A-Z_]+_TB\s", lines[i])), None
    )
    return lines[start + 1 : end]


def _same_meaning(ours: str, cms: str) -> bool:
    """Casing and typo fixes allowed, a different meaning not."""
    a, b = (re.sub(r"[^a-z0-9]", "", s.lower()) for s in (ours, cms))
    return SequenceMatcher(None, a, b).ratio() >= 0.9


def test_positions_and_repeats_match_the_official_layout(official) -> None:
    items = _items(official)
    layout = load_layout()
    assert sorted(i.item for i in layout.items) == sorted(items) == list(range(1, 32))
    for item in layout.items:
        cms = items[item.item]
        first_end = item.start + item.length - 1
        assert (cms["length"], cms["begin"], cms["end"]) == (item.length, item.start, first_end), (
            item
        )
        assert cms["repeat"] == item.repeat, item.name
        assert item.title.split(" (")[0].lower() == cms["title"].lower(), item.name


def test_items_tile_the_320_character_record() -> None:
    layout = load_layout()
    position = 1
    for item in (i for i in layout.items if not i.redefines):
        assert item.start == position, item.name
        position = item.end + 1
    assert position - 1 == layout.record_length == 320


def test_every_code_table_matches_the_official_text(official) -> None:
    items = _items(official)
    layout = load_layout()
    by_name = {i.name: i for i in layout.items}
    for table in layout.tables.values():
        if table.id in NOT_IN_LAYOUT:
            continue
        if table.id in APPENDIX:
            cms = _entries(_appendix(official, APPENDIX[table.id]))
        else:
            cms = _entries(_codes_block(items[by_name[table.item].item]))
        added = ADDED_SINCE_2019.get(table.id, set())
        assert set(table.concepts) == set(cms) | added, table.id
        for code, entry in cms.items():
            ours = table.concepts[code]
            assert _same_meaning(ours.display, entry["display"]), (table.id, code, ours.display)
            if table.id in ("pricing-indicator", "opps-payment-group"):
                assert (ours.group or "").lower() == (entry["group"] or "").lower(), (
                    table.id,
                    code,
                )


def test_lab_certification_subgroups_follow_the_indentation(official) -> None:
    block = _codes_block(_items(official)[14])
    nested = {m[2] for line in block if (m := _ENTRY.match(line)) and len(m[1]) > 60}
    table = load_layout().tables["lab-certification"]
    assert {code for code, c in table.concepts.items() if c.parent} == nested
    assert table.concepts["110"].parent == "100"


def test_asc_group_and_2026_additions() -> None:
    tables = load_layout().tables
    assert list(tables["asc-payment-group"].concepts) == ["YY"]
    assert tables["pricing-indicator"].concepts["40"].display.startswith("Lymphedema Compression")
    assert tables["betos"].concepts["O1L"].display.startswith("Lymphedema Compression")


def test_every_property_item_names_a_type_and_existing_table() -> None:
    layout = load_layout()
    for prop in layout.properties:
        assert prop.type in {"Coding", "string", "code", "dateTime", "integer", "boolean"}
        assert prop.table is None or prop.table in layout.tables
        assert (prop.type == "Coding") == (prop.table is not None), prop.code
    assert len({p.code for p in layout.properties}) == len(layout.properties)
