"""Typed access to data/layout.json: the CMS record layout and code tables, declared once.

Everything that knows a position, a property code or a code's meaning reads it from here,
so the parser, the FHIR property declarations and the README table cannot drift apart.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

LAYOUT_FILE = Path(__file__).with_name("data") / "layout.json"

NAMESPACE = "https://hcpcs-tx.org/fhir"
"""The product's own namespace for what CMS does not give a canonical URL."""

PROPERTY_URI_BASE = f"{NAMESPACE}/CodeSystem/hcpcs#"


def table_url(table: str) -> str:
    """Canonical URL of the CodeSystem that publishes one CMS code table."""
    return f"{NAMESPACE}/CodeSystem/{table}"


@dataclass(frozen=True)
class Item:
    """One item of the CMS record (possibly repeating), and the property it feeds."""

    item: int
    name: str
    title: str
    start: int
    length: int
    repeat: int = 1
    lines: str = "first"
    role: str | None = None
    property: str | None = None
    type: str | None = None
    table: str | None = None
    description: str = ""
    redefines: str | None = None
    uri: str | None = None  # a standard concept property's URI, when one fits (dates)

    @builtins.property  # the field `property` shadows the builtin in this class body
    def end(self) -> int:
        """Last 1-based position of the last occurrence."""
        return self.start + self.length * self.repeat - 1

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """Column names as CMS heads them in the xlsx/xls: PRICE1..PRICE4, or the name."""
        if self.repeat == 1:
            return (self.name,)
        return tuple(f"{self.name}{n}" for n in range(1, self.repeat + 1))

    @cached_property
    def slices(self) -> tuple[tuple[str, slice], ...]:
        """(column, 0-based slice) of each occurrence in a fixed-width line."""
        first = self.start - 1
        return tuple(
            (column, slice(first + n * self.length, first + (n + 1) * self.length))
            for n, column in enumerate(self.columns)
        )


@dataclass(frozen=True)
class Property:
    """A CodeSystem property: from a layout item or derived (section, status, inactive)."""

    code: str
    type: str
    description: str
    source: str
    table: str | None = None
    uri: str | None = None
    derived: bool = False

    @property
    def property_uri(self) -> str:
        return self.uri or PROPERTY_URI_BASE + self.code


@dataclass(frozen=True)
class TableConcept:
    code: str
    display: str
    group: str | None = None
    parent: str | None = None
    definition: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class CodeTable:
    """One CMS code table; published as its own small CodeSystem at `url`."""

    id: str
    name: str
    title: str
    description: str
    concepts: dict[str, TableConcept]
    item: str | None = None
    from_release: str | None = None

    @property
    def url(self) -> str:
        return table_url(self.id)


@dataclass(frozen=True)
class RecordType:
    code: str
    kind: str
    first: bool
    display: str


@dataclass(frozen=True)
class Layout:
    record_length: int
    version: str
    items: tuple[Item, ...]
    properties: tuple[Property, ...]
    tables: dict[str, CodeTable]
    record_types: dict[str, RecordType]

    def item(self, name: str) -> Item:
        return next(i for i in self.items if i.name == name)

    def role(self, role: str) -> Item:
        return self._roles[role]

    @cached_property
    def _roles(self) -> dict[str, Item]:
        return {i.role: i for i in reversed(self.items) if i.role}

    def property(self, code: str) -> Property:
        return next(p for p in self.properties if p.code == code)

    @cached_property
    def data_items(self) -> tuple[Item, ...]:
        """Items read from a record (not fillers or redefinitions)."""
        return tuple(i for i in self.items if i.role != "filler" and not i.redefines)

    def line_items(self, first: bool) -> tuple[Item, ...]:
        """Items a first line carries (all), or a continuation line (code, SEQNUM, RECID, text)."""
        return self.data_items if first else self._continuation_items

    @cached_property
    def _continuation_items(self) -> tuple[Item, ...]:
        return tuple(i for i in self.data_items if i.lines == "all")

    def line_slices(self, first: bool) -> tuple[tuple[str, slice], ...]:
        """(column, slice) of every field of a first or continuation line."""
        return self._first_slices if first else self._continuation_slices

    @cached_property
    def _first_slices(self) -> tuple[tuple[str, slice], ...]:
        return tuple(s for i in self.line_items(True) for s in i.slices)

    @cached_property
    def _continuation_slices(self) -> tuple[tuple[str, slice], ...]:
        return tuple(s for i in self.line_items(False) for s in i.slices)


def _table(table_id: str, raw: dict[str, Any]) -> CodeTable:
    concepts = {c["code"]: TableConcept(**c) for c in raw["concepts"]}
    fields = {k: v for k, v in raw.items() if k != "concepts"}
    return CodeTable(id=table_id, concepts=concepts, **fields)


def _properties(items: tuple[Item, ...], derived: list[dict[str, Any]]) -> tuple[Property, ...]:
    from_items = [
        Property(i.property, i.type or "", i.description, i.name, i.table, i.uri)
        for i in items
        if i.property
    ]
    from_derived = [
        Property(
            d["property"],
            d["type"],
            d["description"],
            d["from"],
            d.get("table"),
            d.get("uri"),
            True,
        )
        for d in derived
    ]
    return tuple(from_items + from_derived)


@cache
def load_layout(path: Path = LAYOUT_FILE) -> Layout:
    """The layout, parsed once per process."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    items = tuple(Item(**i) for i in raw["items"])
    record_types = {
        code: RecordType(code, r["kind"], r["line"] == "first", r["display"])
        for code, r in raw["record_types"].items()
    }
    return Layout(
        record_length=raw["record_length"],
        version=raw["layout_version"],
        items=items,
        properties=_properties(items, raw["derived"]),
        tables={tid: _table(tid, t) for tid, t in raw["tables"].items()},
        record_types=record_types,
    )
