"""The SQLite store: versions side by side, compact rows, atomic loads."""

from __future__ import annotations

import sqlite3

import pytest

from terminology.store import ENV_VAR, Store, StoreError, default_path


def _cs(version: str, concepts: int = 1, id: str = "hcpcs") -> dict:
    concept = [{"code": f"A{i:04d}", "display": "x" * 40} for i in range(concepts)]
    return {
        "resourceType": "CodeSystem",
        "id": id,
        "url": "http://example.org/cs",
        "version": version,
        "status": "active",
        "content": "complete",
        "concept": concept,
    }


def test_versions_are_kept_side_by_side_and_reloads_replace(tmp_path) -> None:
    with Store(tmp_path / "s.db") as store:
        assert store.is_empty()
        store.load([_cs("2019-01"), _cs("2020-01")])
        store.load([_cs("2020-01", concepts=2)])
        held = store.resources("CodeSystem")
    assert [(r["id"], r["version"]) for r in held] == [
        ("hcpcs", "2019-01"),
        ("hcpcs-2020-01", "2020-01"),
    ]
    assert len(held[1]["concept"]) == 2


def test_large_resources_are_compressed_and_read_back(tmp_path) -> None:
    big = _cs("2020-01", concepts=2000)
    with Store(tmp_path / "s.db") as store:
        store.load([big])
        assert store.resources() == [big]
    row = sqlite3.connect(tmp_path / "s.db").execute("SELECT zipped, length(json) FROM resource")
    zipped, size = row.fetchone()
    assert zipped == 1 and size < len(str(big)) / 5


def test_a_failed_load_leaves_the_store_as_it_was(tmp_path) -> None:
    def resources():
        yield _cs("2021-01")
        raise RuntimeError("the file broke half way")

    with Store(tmp_path / "s.db") as store:
        store.load([_cs("2019-01")])
        with pytest.raises(RuntimeError):
            store.load(resources())
        with pytest.raises(StoreError):
            store.load([_cs("2022-01"), {"resourceType": "ValueSet"}])
        assert [r["version"] for r in store.resources()] == ["2019-01"]


def test_default_path_honours_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "x.sqlite3"))
    assert default_path() == tmp_path / "x.sqlite3"
    monkeypatch.delenv(ENV_VAR)
    assert default_path().name == "store.sqlite3" and "hcpcs-tx" in str(default_path())
