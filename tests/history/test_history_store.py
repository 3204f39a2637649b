"""What `load` stores for HCPCS history, how it stays complete when releases are added, the
memory sharing between versions, and how the releases are listed."""

from __future__ import annotations

import pytest

from terminology.api import engine_from_store
from terminology.loader import LoadError, store_files
from terminology.sharing import share_unchanged
from terminology.store import Store
from tests.conftest import shared_file
from tests.history.conftest import HCPCS, VS

REPLACEMENTS = "https://hcpcs-tx.org/fhir/ConceptMap/hcpcs-replacements"
EXCERPT_2026 = "data/hcpcs/cms-2026-jan-excerpt/HCPC2026_JAN_ANWEB_excerpt.txt"


def _urls(store: Store, kind: str) -> dict[str, list[str | None]]:
    found: dict[str, list[str | None]] = {}
    for resource in store.resources(kind):
        found.setdefault(resource["url"], []).append(resource.get("version"))
    return found


def test_load_stores_the_replacement_map_and_change_valuesets(history_db) -> None:
    with Store(history_db) as store:
        maps = _urls(store, "ConceptMap")
        valuesets = _urls(store, "ValueSet")
        (cm,) = store.by_url("ConceptMap", REPLACEMENTS)
    assert maps == {REPLACEMENTS: ["2020-01"]}
    for kind in ("added", "terminated", "redescribed"):
        assert valuesets[f"{VS}hcpcs-{kind}-2020-01"] == ["2020-01"]
    elements = {e["code"]: e for g in cm["group"] for e in g["element"]}
    assert len(elements) == 615  # every code terminated as of 2020-01
    assert elements["C9408"]["target"][0]["code"] == "A9590"


def test_loading_another_release_rebuilds_the_map_from_every_release(db_copy) -> None:
    """The 2026 excerpt (a 14-code fragment, so loaded as partial) is the newest here; the
    map keeps the 2019/2020 replacements, adds Q4228, and stays one resource."""
    with Store(db_copy) as store:
        store_files(store, [shared_file(EXCERPT_2026)], partial=True)
        (cm,) = store.by_url("ConceptMap", REPLACEMENTS)
        valuesets = _urls(store, "ValueSet")
    elements = {e["code"]: e for g in cm["group"] for e in g["element"]}
    assert cm["version"] == "2026-01"
    assert elements["C9408"]["target"][0]["code"] == "A9590"
    assert elements["Q4228"]["noMap"] is True
    assert f"{VS}hcpcs-added-2026-01" in valuesets and f"{VS}hcpcs-added-2020-01" in valuesets
    engine = engine_from_store(db_copy)
    assert engine.registry.versions("CodeSystem", HCPCS) == ["2019-01", "2020-01", "2026-01"]


def test_a_failed_load_keeps_the_map(db_copy, tmp_path) -> None:
    bad = tmp_path / "HCPC2027_JAN_ANWEB.txt"
    bad.write_text("not a release\n")
    with Store(db_copy) as store, pytest.raises(LoadError):
        store_files(store, [shared_file(EXCERPT_2026), bad], partial=True)
    with Store(db_copy) as store:
        assert [cm["version"] for cm in store.by_url("ConceptMap", REPLACEMENTS)] == ["2020-01"]


def test_unchanged_concepts_are_one_object_across_versions(history_db) -> None:
    with Store(history_db) as store:
        releases = share_unchanged(store.by_url("CodeSystem", HCPCS))
    old, new = ({c["code"]: c for c in cs["concept"]} for cs in releases)
    assert old["J0120"] is new["J0120"]  # unchanged between 2019 and 2020
    assert old["C9408"] is not new["C9408"]  # terminated in 2020
    kinds = {id(p) for c in new.values() for p in c["property"] if p["code"] == "kind"}
    assert len(kinds) == 2  # procedure, modifier: one dict each


def test_terminology_capabilities_and_search_list_every_release(client) -> None:
    for base in ("r4", "r5"):
        capabilities = client.get(f"/{base}/metadata", params={"mode": "terminology"}).json()
        (hcpcs,) = [c for c in capabilities["codeSystem"] if c["uri"] == HCPCS]
        assert hcpcs["version"] == [{"code": "2019-01"}, {"code": "2020-01", "isDefault": True}]
        bundle = client.get(f"/{base}/CodeSystem", params={"url": HCPCS, "_summary": "true"}).json()
        assert sorted(e["resource"]["version"] for e in bundle["entry"]) == ["2019-01", "2020-01"]
