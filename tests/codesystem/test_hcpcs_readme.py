"""The README's property table is generated from layout.json and must not go stale."""

from __future__ import annotations

from codesystem import docs


def test_readme_property_table_is_fresh() -> None:
    current = docs.README.read_text(encoding="utf-8")
    assert docs.START in current and docs.END in current
    assert docs.render(current) == current, "stale: run python -m codesystem.docs"


def test_table_lists_every_property_once() -> None:
    table = docs.property_table()
    from codesystem.layout import load_layout

    for prop in load_layout().properties:
        assert table.count(f"| `{prop.code}` |") == 1


def test_check_mode_reports_a_stale_table(tmp_path, monkeypatch, capsys) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{docs.START}\n| old |\n{docs.END}\n")
    monkeypatch.setattr(docs, "README", readme)
    assert docs.main(["--check"]) == 1
    assert docs.main([]) == 0 and docs.main(["--check"]) == 0
    assert "`pricing-indicator`" in readme.read_text()
