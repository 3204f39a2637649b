"""HCPCS across releases (codesystem.history) on the real 2019 and 2020 annual releases.

Expected change sets are computed here straight from the fixed-width txt files (plain
slicing), independently of the product's reader, and compared with compare_releases.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from fhir.resources.conceptmap import ConceptMap
from fhir.resources.parameters import Parameters
from fhir.resources.R4B.conceptmap import ConceptMap as ConceptMapR4
from fhir.resources.valueset import ValueSet
from typer.testing import CliRunner

from codesystem import (
    HCPCS_URL,
    change_valuesets,
    changes_to_parameters,
    compare_releases,
    format_changes,
    read_release,
    replacements_conceptmap,
    to_fhir,
)
from codesystem.history import CPT_URL, REPLACEMENTS_URL
from terminology.cli import app as cli_app
from terminology.operations.changes import changes as changes_operation
from tests.codesystem.conftest import ZIP_2019, ZIP_2020
from tests.conftest import shared_file

VS = "https://hcpcs-tx.org/fhir/ValueSet/"


# --- the raw files, read with nothing but slicing ------------------------------------------


def raw_release(relative: str) -> dict[str, dict[str, str]]:
    """code -> long description, detail (positions 92-293), TERM DT, XREF, from the txt."""
    with zipfile.ZipFile(shared_file(relative)) as archive:
        name = next(n for n in archive.namelist() if "ANWEB" in n and n.endswith(".txt"))
        text = archive.read(name).decode("latin-1")
    parts: dict[str, list[tuple[int, str]]] = {}
    first: dict[str, str] = {}
    for line in text.split("\n"):
        line = line.rstrip("\r").ljust(320)
        recid = line[10]
        if recid not in ("3", "4", "7", "8") or not line[5:10].isdigit():
            continue  # the disclaimer preamble
        code = line[3:5] if recid in ("7", "8") else line[0:5].strip()
        parts.setdefault(code, []).append((int(line[5:10]), line[11:91].strip()))
        if recid in ("3", "7"):
            first[code] = line
    return {
        code: {
            "display": " ".join(text for _, text in sorted(parts[code]) if text),
            "detail": line[91:293],
            "term": line[284:292].strip(),
            "xref": " ".join(
                line[start : start + 5].strip() for start in range(204, 229, 5)
            ).strip(),
        }
        for code, line in first.items()
    }


@pytest.fixture(scope="session")
def raw() -> dict[str, dict[str, dict[str, str]]]:
    return {"2019": raw_release(ZIP_2019), "2020": raw_release(ZIP_2020)}


@pytest.fixture(scope="session")
def expected(raw) -> dict[str, set[str]]:
    return expected_changes(raw["2019"], raw["2020"])


def expected_changes(old: dict, new: dict) -> dict[str, set[str]]:
    """The change sets by kind between the raw 2019 and 2020 files (retired = TERM DT <=
    release start); tests/history reuses it."""
    both = old.keys() & new.keys()

    def retired(term: str, start: str) -> bool:
        return bool(term) and term <= start

    return {
        "added": new.keys() - old.keys(),
        "removed": old.keys() - new.keys(),
        "terminated": {
            c
            for c in both
            if new[c]["term"]
            and (
                not old[c]["term"]
                or (not retired(old[c]["term"], "20190101") and retired(new[c]["term"], "20200101"))
            )
        },
        "redescribed": {c for c in both if old[c]["display"] != new[c]["display"]},
        "property-changed": {c for c in both if old[c]["detail"] != new[c]["detail"]},
    }


# --- the product's side, computed once -----------------------------------------------------


@pytest.fixture(scope="session")
def cs_2019(release_2019) -> dict:
    return to_fhir(release_2019)


@pytest.fixture(scope="session")
def cs_2020(release_2020) -> dict:
    return to_fhir(release_2020)


@pytest.fixture(scope="session")
def found(cs_2019, cs_2020):
    return compare_releases(cs_2019, cs_2020)


@pytest.fixture(scope="session")
def conceptmap(cs_2019, cs_2020) -> dict:
    return replacements_conceptmap([cs_2020, cs_2019])  # any order: sorted by version


def _values(change, prop: str) -> tuple[list, list]:
    """(old, new) of one property change as plain codes / values."""
    found = next(p for p in change.properties if p.property == prop)
    plain = [
        [v["valueCoding"]["code"] if "valueCoding" in v else next(iter(v.values())) for v in side]
        for side in (found.old, found.new)
    ]
    return plain[0], plain[1]


# --- compare_releases ------------------------------------------------------------------------


def test_raw_files_are_what_shared_readme_says(raw) -> None:
    assert (len(raw["2019"]), len(raw["2020"])) == (6800, 7079)
    assert sum(1 for r in raw["2019"].values() if r["term"]) == 515
    assert sum(1 for r in raw["2020"].values() if r["term"]) == 615


def test_change_sets_match_the_raw_files(found, expected) -> None:
    for kind, codes in expected.items():
        assert set(found.codes(kind)) == codes, kind
    assert found.counts() == {
        "added": 279,
        "removed": 0,
        "terminated": 89,
        "redescribed": 70,
        "property-changed": 656,
    }
    assert (found.system, found.from_version, found.to_version) == (HCPCS_URL, "2019-01", "2020-01")


def test_property_changes_beyond_cms_bookkeeping(found, raw) -> None:
    """Most property changes are CMS's per-release ACT EFF DT (277-284) / ACTION CD (293)."""

    def masked(code: str, year: str) -> str:
        detail = raw[year][code]["detail"]  # positions 92-293
        return detail[: 277 - 92] + detail[285 - 92 : 293 - 92]

    bookkeeping = {"action", "action-effective-date"}
    beyond = {
        c.code
        for c in found.changes
        if "property-changed" in c.kinds and {p.property for p in c.properties} - bookkeeping
    }
    both = raw["2019"].keys() & raw["2020"].keys()
    assert beyond == {c for c in both if masked(c, "2019") != masked(c, "2020")}
    assert len(beyond) == 156


def test_added_code(found, raw) -> None:
    change = found.change("A9590")
    assert change.kinds == ("added",) and "A9590" not in raw["2019"]
    assert change.display == "Iodine i-131, iobenguane, 1 millicurie"


def test_terminated_code_names_its_replacement(found) -> None:
    change = found.change("C9408")
    assert change.kinds == ("terminated", "property-changed")
    assert _values(change, "termination-date") == ([], ["2019-12-31"])
    assert _values(change, "cross-reference") == ([], ["A9590"])
    assert _values(change, "action") == (["A"], ["D"])
    assert {p.property for p in change.properties}.isdisjoint({"status", "inactive"})


def test_redescribed_code(found) -> None:
    change = found.change("J9355")
    assert change.kinds == ("redescribed", "property-changed")
    assert change.old_display == "Injection, trastuzumab, 10 mg"
    assert change.display == "Injection, trastuzumab, excludes biosimilar, 10 mg"
    assert _values(change, "action") == (["N"], ["C"])


def test_property_change_with_old_and_new_values(found) -> None:
    change = found.change("B4105")
    assert change.kinds == ("property-changed",) and change.old_display is None
    assert _values(change, "coverage") == (["D"], ["C"])
    assert _values(change, "pricing-indicator") == (["00"], ["39"])
    assert _values(change, "processing-note") == (["0217"], [])
    assert _values(found.change("C9468"), "cross-reference") == (["J7023"], ["J7203"])


def test_same_release_has_no_changes(cs_2020) -> None:
    assert compare_releases(cs_2020, cs_2020).changes == ()


def test_releases_of_different_code_systems_are_refused(cs_2020) -> None:
    with pytest.raises(ValueError, match="not the same code system"):
        compare_releases(cs_2020, cs_2020 | {"url": "http://example.org/other"})


# --- the replacement ConceptMap --------------------------------------------------------------


def _elements(conceptmap: dict, system: str) -> dict[str, dict]:
    group = next(g for g in conceptmap["group"] if g["target"] == system)
    return {e["code"]: e for e in group["element"]}


def test_conceptmap_covers_every_terminated_code_newest_release_first(conceptmap, raw) -> None:
    latest = raw["2019"] | raw["2020"]
    terminated = {c for c, r in latest.items() if r["term"]}
    cpt = re.compile(r"^\d{4}[0-9FTU]$")
    xrefs = {c: latest[c]["xref"].split() for c in terminated}
    to_cpt = {c for c, xs in xrefs.items() if any(cpt.match(x) for x in xs)}
    to_hcpcs = {c for c, xs in xrefs.items() if not xs or any(not cpt.match(x) for x in xs)}
    hcpcs, cpt_elements = _elements(conceptmap, HCPCS_URL), _elements(conceptmap, CPT_URL)
    assert set(hcpcs) == to_hcpcs and set(cpt_elements) == to_cpt
    no_map = {c for c, e in hcpcs.items() if e.get("noMap")}
    assert no_map == {c for c in terminated if not latest[c]["xref"]}
    assert (len(terminated), len(no_map), len(cpt_elements)) == (615, 479, 25)
    assert conceptmap["version"] == "2020-01" and conceptmap["url"] == REPLACEMENTS_URL


def test_conceptmap_replacement_entries(conceptmap) -> None:
    hcpcs, cpt = _elements(conceptmap, HCPCS_URL), _elements(conceptmap, CPT_URL)
    (target,) = hcpcs["C9408"]["target"]
    assert target == {
        "code": "A9590",
        "display": "Iodine i-131, iobenguane, 1 millicurie",
        "relationship": "related-to",
        "comment": "CMS cross-reference (XREF) of C9408, whose last day of use is 2019-12-31.",
        "property": [{"code": "termination-date", "valueDateTime": "2019-12-31"}],
    }
    assert [t["code"] for t in hcpcs["C9468"]["target"]] == ["J7203"]  # 2020 fixed 2019's J7023
    assert [t["code"] for t in cpt["C8904"]["target"]] == ["77046"]
    assert "display" not in cpt["C8904"]["target"][0]  # CPT text is the AMA's, not ours
    assert hcpcs["A7011"] == {
        "code": "A7011",
        "display": hcpcs["A7011"]["display"],
        "noMap": True,
    }
    assert "J9355" not in hcpcs  # active codes are not in the map


def test_conceptmap_validates_r5_and_r4(conceptmap) -> None:
    ConceptMap.model_validate(conceptmap)
    versions = pytest.importorskip("terminology.versions")
    r4 = versions.to_r4(conceptmap)
    ConceptMapR4.model_validate(r4)
    element = _elements(r4, HCPCS_URL)["C9408"]
    assert element["target"][0]["equivalence"] == "relatedto"
    assert "2019-12-31" in element["target"][0]["comment"]  # target.property is R5 only
    assert _elements(r4, HCPCS_URL)["A7011"]["target"] == [{"equivalence": "unmatched"}]


# --- Parameters ($changes) and ValueSets -------------------------------------------------------


def test_changes_parameters(found, cs_2019, cs_2020) -> None:
    parameters = changes_to_parameters(found)
    Parameters.model_validate(parameters)
    top = {p["name"]: p for p in parameters["parameter"] if p["name"] != "change"}
    assert top["fromVersion"]["valueString"] == "2019-01"
    assert top["toVersion"]["valueString"] == "2020-01"
    assert {k: top[k]["valueInteger"] for k in found.counts()} == found.counts()
    changes = {
        c["part"][0]["valueCode"]: c["part"]
        for c in parameters["parameter"]
        if c["name"] == "change"
    }
    assert len(changes) == len(found.changes)
    c9408 = changes["C9408"]
    assert [p["valueCode"] for p in c9408 if p["name"] == "kind"] == [
        "terminated",
        "property-changed",
    ]
    term = next(
        p["part"]
        for p in c9408
        if p["name"] == "property" and p["part"][0]["valueCode"] == "termination-date"
    )
    assert term == [
        {"name": "code", "valueCode": "termination-date"},
        {"name": "new", "valueDateTime": "2019-12-31"},
    ]
    previous = next(p for p in changes["J9355"] if p["name"] == "previousDisplay")
    assert previous["valueString"] == "Injection, trastuzumab, 10 mg"
    assert changes_operation(cs_2019, cs_2020) == parameters


def test_change_valuesets(cs_2019, cs_2020, found) -> None:
    valuesets = {vs["id"]: vs for vs in change_valuesets(cs_2019, cs_2020)}
    kinds = {"added": "added", "terminated": "terminated", "redescribed": "redescribed"}
    assert set(valuesets) == {f"hcpcs-{k}-2020-01" for k in kinds}
    for kind in kinds:
        vs = valuesets[f"hcpcs-{kind}-2020-01"]
        ValueSet.model_validate(vs)
        assert vs["url"] == f"{VS}hcpcs-{kind}-2020-01" and vs["version"] == "2020-01"
        (include,) = vs["compose"]["include"]
        assert (include["system"], include["version"]) == (HCPCS_URL, "2020-01")
        assert [c["code"] for c in include["concept"]] == list(found.codes(kind))
    assert valuesets["hcpcs-terminated-2020-01"]["compose"]["inactive"] is True
    added = valuesets["hcpcs-added-2020-01"]
    assert {"code": "A9590", "display": "Iodine i-131, iobenguane, 1 millicurie"} in (
        added["compose"]["include"][0]["concept"]
    )
    assert added["title"] == "HCPCS Level II codes added in 2020-01"


def test_empty_change_valueset_is_empty_not_everything(cs_2020) -> None:
    for vs in change_valuesets(cs_2020, cs_2020):
        ValueSet.model_validate(vs)
        assert (
            vs["compose"]["include"]
            == vs["compose"]["exclude"]
            == [{"system": HCPCS_URL, "version": "2020-01"}]
        )


# --- text and CLI, on a synthetic next release of the 2026 excerpt -----------------------------


def _edited(line: str, start: int, text: str) -> str:
    """`line` with `text` written at 1-based position `start`."""
    return line[: start - 1] + text + line[start - 1 + len(text) :]


@pytest.fixture(scope="session")
def next_excerpt(excerpt_path, tmp_path_factory) -> Path:
    """2026-04 from the 2026-01 excerpt: Q4230 removed, Q4399 added, L2134 re-described,
    M1371 terminated 2026-03-31 with XREF M1372."""
    out, copies = [], []
    for line in excerpt_path.read_text(encoding="latin-1").splitlines():
        if line.startswith("Q4230"):
            continue
        if line.startswith("L2134001"):
            line = _edited(line, 12, "KAFO")
        if line.startswith("M1371"):
            line = _edited(_edited(line, 285, "20260331"), 205, "M1372")
        out.append(line)
        if line.startswith("Q4398"):
            copies.append("Q4399" + line[5:])
    out += copies
    path = tmp_path_factory.mktemp("apr") / "HCPC2026_APR_ANWEB_excerpt.txt"
    path.write_text("\n".join(out) + "\n", encoding="latin-1")
    return path


def test_synthetic_release_kinds(excerpt, next_excerpt) -> None:
    old, new = to_fhir(excerpt), to_fhir(read_release(next_excerpt))
    found = compare_releases(old, new)
    assert {k: found.codes(k) for k in found.counts()} == {
        "added": ("Q4399",),
        "removed": ("Q4230",),
        "terminated": ("M1371",),
        "redescribed": ("L2134",),
        "property-changed": ("M1371",),
    }
    assert found.change("Q4230").display == "Cogenex flowable amnion, per 0.5 cc"
    assert _values(found.change("M1371"), "cross-reference") == ([], ["M1372"])
    elements = _elements(replacements_conceptmap([old, new]), HCPCS_URL)
    assert elements["M1371"]["target"][0]["code"] == "M1372"
    assert "display" not in elements["M1371"]["target"][0]  # M1372 is in neither release
    assert elements["Q4228"]["noMap"] is True  # terminated 2021, no XREF


def test_format_changes(excerpt, next_excerpt) -> None:
    found = compare_releases(to_fhir(excerpt), to_fhir(read_release(next_excerpt)))
    text = format_changes(found)
    lines = text.splitlines()
    assert lines[0] == (
        "HCPCS 2026-01 -> 2026-04: 1 added, 1 removed, 1 terminated, 1 redescribed, "
        "1 property-changed"
    )
    assert "Removed (absent from the new release) (1)" in lines
    assert "  Q4230  Cogenex flowable amnion, per 0.5 cc" in lines
    assert any(line.startswith("  L2134  was: Kafo, fracture") for line in lines)
    assert any(line.startswith("         now: KAFO, fracture") for line in lines)
    assert any(line.startswith("  M1371  [last day 2026-03-31, XREF M1372] Most") for line in lines)
    assert "  M1371  cross-reference - -> M1372" in lines
    assert "         termination-date - -> 2026-03-31" in lines
    assert all(len(line) <= 100 for line in lines if "->" not in line)


def test_cli_text_json_and_order(tmp_path, excerpt_path, next_excerpt) -> None:
    """`hcpcs-tx changes` works from the store: load both releases, then compare them."""
    runner, db = CliRunner(), ["--db", str(tmp_path / "store.sqlite3")]
    loaded = runner.invoke(cli_app, [*db, "load", str(excerpt_path), str(next_excerpt)])
    assert loaded.exit_code == 0, loaded.output
    result = runner.invoke(cli_app, [*db, "changes", "2026-01", "2026-04"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("HCPCS 2026-01 -> 2026-04: 1 added, 1 removed")
    result = runner.invoke(cli_app, [*db, "changes", "2026-01", "2026-04", "--json"])
    assert result.exit_code == 0, result.output
    parameters = json.loads(result.stdout)
    assert parameters["resourceType"] == "Parameters"
    assert {"name": "removed", "valueInteger": 1} in parameters["parameter"]
    result = runner.invoke(cli_app, [*db, "changes", "2026-04", "2026-01"])
    assert result.exit_code == 2 and "give the older release first" in result.stderr


def test_cli_reports_an_unknown_release(tmp_path, excerpt_path) -> None:
    db = ["--db", str(tmp_path / "store.sqlite3")]
    loaded = CliRunner().invoke(cli_app, [*db, "load", "--partial", str(excerpt_path)])
    assert loaded.exit_code == 0
    result = CliRunner().invoke(cli_app, [*db, "changes", "2026-01", "2027-01"])
    assert result.exit_code == 1 and "version 2027-01 is not stored (stored: 2026-01)" in (
        result.stderr
    )
