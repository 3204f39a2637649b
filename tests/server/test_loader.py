"""Files -> resources: CMS releases and FHIR JSON (R4 or R5); errors name the file."""

from __future__ import annotations

import json

import pytest

from terminology.loader import RELEASES_ENV, LoadError, load_files, shipped_releases

from .conftest import HCPCS, RELEASE_2020
from .test_versions import CM_R4, VS_R5


def test_the_2020_release_gives_hcpcs_code_tables_and_value_sets(resources) -> None:
    hcpcs = [r for r in resources if r.get("url") == HCPCS]
    assert [(r["resourceType"], r["version"]) for r in hcpcs] == [("CodeSystem", "2020-01")]
    assert len(hcpcs[0]["concept"]) == 7079
    kinds = {r["resourceType"] for r in resources}
    assert kinds == {"CodeSystem", "ValueSet"}
    value_sets = [r for r in resources if r["resourceType"] == "ValueSet"]
    assert value_sets and all(vs.get("compose") for vs in value_sets)
    tables = [r for r in resources if r["resourceType"] == "CodeSystem" and r["url"] != HCPCS]
    assert len(tables) > 5


def test_fhir_json_r4_and_r5_files_and_bundles(tmp_path) -> None:
    (tmp_path / "cm.json").write_text(json.dumps(CM_R4))
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": VS_R5}]}
    (tmp_path / "b.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(bundle).encode())
    cm, vs = load_files([tmp_path / "cm.json", tmp_path / "b.json"])
    assert cm["sourceScopeUri"] == CM_R4["sourceUri"]
    assert cm["group"][0]["element"][1]["target"][0]["relationship"].startswith("source-is")
    assert vs == VS_R5
    assert load_files([tmp_path]) == [vs, cm]  # a folder: its files in name order


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not readable JSON"),
        (b'{"resourceType": "Patient"}', "resourceType 'Patient' is not one of"),
        (b'{"resourceType": "ValueSet", "status": "active"}', "has no url"),
        (b"[1, 2]", "not a FHIR resource"),
    ],
)
def test_bad_fhir_files_are_named(tmp_path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(LoadError) as error:
        load_files([path])
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_bad_release_and_missing_file_are_named(tmp_path) -> None:
    path = tmp_path / "HCPC2020_ANWEB.txt"
    path.write_text("this is not an HCPCS release\n")
    with pytest.raises(LoadError) as error:
        load_files([path])
    assert str(error.value).startswith(str(path))
    with pytest.raises(LoadError, match="no such file"):
        load_files([tmp_path / "missing.zip"])
    assert RELEASE_2020.exists()


def test_shipped_releases_from_the_tree_or_the_environment(monkeypatch, tmp_path) -> None:
    """Every complete release shipped, subfolders included (the 2020 quarters are all
    called anweb.xlsx); never the 2026 excerpt, which is a fragment."""
    folder = shipped_releases()[0].parent
    names = [str(p.relative_to(folder)) for p in shipped_releases()]
    assert names == [
        "2019-Alpha-Numeric-HCPCS-File.zip",
        "2020-04/anweb.xlsx",
        "2020-07/anweb.xlsx",
        "2020-10/anweb.xlsx",
        "2020-Alpha-Numeric-HCPCS-File.zip",
        "HCPC2025_OCT_ANWEB.xlsx",
        "january-2025-alpha-numeric-hcpcs-file.zip",
    ]
    monkeypatch.setenv(RELEASES_ENV, str(tmp_path))
    assert shipped_releases() == []
    (tmp_path / "notes.txt.bak").write_text("not a release")
    (tmp_path / "2020-04").mkdir()
    (tmp_path / "2020-04" / "anweb.xlsx").write_bytes(b"")
    assert shipped_releases() == [tmp_path / "2020-04" / "anweb.xlsx"]
