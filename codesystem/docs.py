"""Generate the README's HCPCS property table from layout.json.

python -m codesystem.docs            # rewrite the table between the README markers
python -m codesystem.docs --check    # exit 1 if the README table is stale (CI, tests)
"""

from __future__ import annotations

import sys
from pathlib import Path

from .layout import Layout, Property, load_layout

README = Path(__file__).resolve().parents[1] / "README.md"
START = "<!-- properties:start -->"
END = "<!-- properties:end -->"


def property_table(layout: Layout | None = None) -> str:
    """The Markdown table: one row per CodeSystem property, in declaration order."""
    layout = layout or load_layout()
    rows = [
        "| property | FHIR type | CMS field (positions) | values from | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows += [_row(p, layout) for p in layout.properties]
    return "\n".join(rows)


def _row(prop: Property, layout: Layout) -> str:
    values = ""
    if prop.table:
        values = f"`{layout.tables[prop.table].url}`"
    elif prop.uri:
        values = f"FHIR standard (`{prop.uri}`)"
    elif layout.item(prop.source).role == "record-type":
        values = ", ".join(dict.fromkeys(f"`{r.kind}`" for r in layout.record_types.values()))
    return (
        f"| `{prop.code}` | {prop.type} | {_source(prop, layout)} | {values} | {prop.description} |"
    )


def _source(prop: Property, layout: Layout) -> str:
    if prop.derived:
        return f"derived from {prop.source}"
    item = layout.item(prop.source)
    columns = item.columns
    name = columns[0] if len(columns) == 1 else f"{columns[0]}–{columns[-1]}"
    positions = f"{item.start}–{item.end}" if item.end > item.start else f"{item.start}"
    repeat = f", {item.repeat} × {item.length}" if item.repeat > 1 else ""
    return f"{name} ({positions}{repeat})"


def render(readme: str) -> str:
    """The README text with the table between the markers replaced."""
    if START not in readme or END not in readme:
        raise ValueError(f"README has no {START} ... {END} markers")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{property_table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    current = README.read_text(encoding="utf-8")
    fresh = render(current)
    if "--check" in argv:
        if fresh != current:
            print("README property table is stale: run python -m codesystem.docs", file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        README.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
