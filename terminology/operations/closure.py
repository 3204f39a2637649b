"""ConceptMap/$closure: maintenance of a client's closure table (FHIR terminology service,
"Maintaining a Closure Table"; OperationDefinition ConceptMap-closure).

A client names a closure table (`name`) and calls the operation with no concept to
initialise it (an empty ConceptMap comes back). Each later call adds concepts (`concept`,
Codings) and returns a ConceptMap of the new subsumption relationships between them and the
concepts already in the table: element = the narrower concept, target = the broader one,
relationship `source-is-narrower-than-target` (R4: equivalence `subsumes`). Every answer
carries the table's version; `version` asks again for every entry added after that version
(a client resynchronising). Unknown tables are a 404.

The tables live in this worker process, bounded by bytes (terminology/caches.py, kind
"closure-tables": the least recently used table is dropped first) and each to at most
CONCEPTS_KEPT concepts; they survive a store reload, not a restart, and each worker of a
multi-worker server keeps its own. Adding concepts spends the request's budget (each new
concept is compared with those held).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from codesystem.fhir_types import JSON, Resource
from terminology import resolver
from terminology.caches import LruMemo, estimate
from terminology.operations import Context
from terminology.outcome import TerminologyError, invalid, not_found
from terminology.versions import R4_EQUIVALENCE_EXT

CONCEPTS_KEPT = 10_000
NARROWER = "source-is-narrower-than-target"


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of a closure table: source (narrower) is-a target (broader), in system."""

    version: int
    system: str
    source: str
    target: str


@dataclass
class Table:
    """A named closure table: its concepts per code system and the entries sent so far."""

    version: int = 0
    concepts: dict[str, set[str]] = field(default_factory=dict)  # system -> codes
    entries: list[Entry] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(len(codes) for codes in self.concepts.values())

    def bytes(self, name: str) -> int:
        """An estimate of what the table holds (its name, concepts and entries)."""
        return estimate(name) + 120 * self.size + 100 * len(self.entries)


_TABLES = LruMemo("closure-tables")


def _table(name: str, fresh: bool) -> Table:
    """The table called name (a new one when fresh), marked as most recently used."""
    if fresh:
        _TABLES.put(name, Table(), Table().bytes(name))
    found = _TABLES.get(name)
    if not isinstance(found, Table):  # None: not held (the memo holds only tables)
        raise not_found("CLOSURE_UNKNOWN", name)
    return found


def _codings(context: Context) -> list[tuple[str, str]]:
    found = []
    for coding in context.params.all("concept"):
        if not isinstance(coding, dict) or not coding.get("system") or not coding.get("code"):
            raise invalid("PARAM_INVALID", "concept", str(coding)[:100], expression="concept")
        found.append((context.registry.canonical(coding["system"]), coding["code"]))
    return found


def _add(context: Context, table: Table, concepts: list[tuple[str, str]]) -> list[Entry]:
    """Add the concepts; the entries their arrival makes (each pair related once). All or
    nothing: a request that fails on the way (an unknown code, the budget) changes nothing."""
    new: list[Entry] = []
    version = table.version + 1
    grown = {system: set(codes) for system, codes in table.concepts.items()}
    size = table.size
    for system, code in concepts:
        cs = resolver.code_system(context.registry, system, None, "lookup")
        concept = cs.find(code)
        if concept is None:
            raise not_found("Unknown_Code_in_Version", code, cs.url, cs.version or "")
        held = grown.setdefault(system, set())
        if concept.code in held:
            continue
        if size >= CONCEPTS_KEPT:
            raise TerminologyError.of(
                422, "too-costly", "too-costly", "CLOSURE_TOO_LARGE", CONCEPTS_KEPT
            )
        context.budget.spend(1 + len(held))
        broader = cs.ancestors(concept.code)
        for other in sorted(held):
            if other in broader:
                new.append(Entry(version, system, concept.code, other))
            elif concept.code in cs.ancestors(other):
                new.append(Entry(version, system, other, concept.code))
        held.add(concept.code)
        size += 1
    table.concepts = grown
    if new:
        table.version = version
        table.entries += new
    return new


def _concept_map(name: str, version: int, entries: list[Entry]) -> Resource:
    groups: dict[str, dict[str, list[str]]] = {}
    for entry in entries:
        elements = groups.setdefault(entry.system, {})
        elements.setdefault(entry.source, []).append(entry.target)
    result: Resource = {
        "resourceType": "ConceptMap",
        "id": str(uuid.uuid4()),
        "version": str(version),
        "name": _name(name),
        "title": f"Closure table {name}",
        "status": "active",
        "experimental": False,
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    if groups:
        result["group"] = [
            {
                "source": system,
                "target": system,
                "element": [
                    {"code": source, "target": [_target(code) for code in targets]}
                    for source, targets in elements.items()
                ],
            }
            for system, elements in groups.items()
        ]
    return result


def _target(code: str) -> JSON:
    # R4 calls this relationship `subsumes` (the target subsumes the source): kept for /r4
    return {
        "extension": [{"url": R4_EQUIVALENCE_EXT, "valueCode": "subsumes"}],
        "code": code,
        "relationship": NARROWER,
    }


def _name(name: str) -> str:
    """The table name as a computable ConceptMap.name (letters, digits, underscores)."""
    kept = "".join(c if c.isalnum() else "_" for c in name)
    return "Closure_" + kept if not kept[:1].isalpha() else kept


def run(context: Context, instance_id: str | None = None) -> Resource:
    name = context.params.get("name")
    if not name:
        raise TerminologyError.of(400, "required", "invalid-data", "PARAM_MISSING", "name")
    name = str(name)
    concepts = _codings(context)
    since = context.params.get("version")
    with _TABLES.lock:
        if since is not None:  # resynchronise: every entry after that version
            table = _table(name, fresh=False)
            try:
                after = int(str(since))
            except ValueError:
                raise invalid("PARAM_INVALID", "version", since, expression="version") from None
            _add(context, table, concepts)
            entries = [e for e in table.entries if e.version > after]
        elif not concepts:  # initialise (or start again)
            table = _table(name, fresh=True)
            entries = []
        else:
            table = _table(name, fresh=False)
            entries = _add(context, table, concepts)
        if concepts and not _TABLES.put(name, table, table.bytes(name)):
            _TABLES.drop(name)  # grown past what the budget keeps: forgotten
        return _concept_map(name, table.version, entries)
