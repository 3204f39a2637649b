"""ValueSet compose evaluation, shared by $expand and $validate-code: include / exclude by
system (+version), concept lists, filters and nested value set imports."""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import Protocol, TypeAlias, cast

import re2

from codesystem.fhir_types import JSON, Resource
from terminology import resolver
from terminology.budget import Budget
from terminology.caches import Kept, estimate
from terminology.canonical import canonical_of
from terminology.index import Concept
from terminology.operations import Context
from terminology.outcome import TerminologyError, finding, issue, operation_outcome
from terminology.providers import CodeSystemProvider
from terminology.registry import version_key
from terminology.version_policy import VersionKey, check_version

MAX_EXPANSION = 50_000
MAX_IMPORT_DEPTH = 64  # value sets importing value sets: deeper chains are refused (422)
VARIANTS_KEPT = 4  # evaluations kept per stored compose, for different version parameters
HIERARCHY_OPS = {"is-a", "descendent-of", "is-not-a", "generalizes", "child-of", "descendent-leaf"}
SUPPORTED_OPS = HIERARCHY_OPS | {"=", "in", "not-in", "regex", "exists"}


@dataclass(slots=True)
class Entry:
    """One code in an expansion."""

    system: str
    code: str
    display: str | None
    cs: CodeSystemProvider | None
    concept: Concept | None
    version: str | None = None
    designations: list[JSON] | None = None
    deprecated: bool = False  # marked deprecated by the value set itself
    extensions: list[JSON] | None = None  # the value set's compose.concept extensions

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.system, self.version, self.code)

    @property
    def code_key(self) -> tuple[str, str]:
        return (self.system, self.code)


@dataclass
class Expanded:
    """The evaluated compose of a value set."""

    entries: dict[tuple[str, str | None, str], Entry] = field(default_factory=dict)
    used: dict[str, CodeSystemProvider] = field(default_factory=dict)
    used_valuesets: list[str] = field(default_factory=list)
    statuses: dict[str, tuple[str, str]] = field(default_factory=dict)
    supplements: list[str] = field(default_factory=list)  # per request, never in the cache
    versions_match: bool = False  # codes of different versions of a system are one code
    versioned: set[str] = field(default_factory=set)  # systems the compose names at 2+ versions
    defaulted: set[str] = field(default_factory=set)  # versionless includes a parameter pinned
    _by_code: dict[tuple[str, str], list[Entry]] | None = None
    _held: dict[tuple[str, str], tuple[list[Entry], frozenset[str]]] = field(default_factory=dict)
    # what validation works out against this expansion that repeats from coding to coding
    # (version plans, plain systems: see validate.prepare_value_set); kept here, since an
    # expansion is cached per registry, value set and version parameters, which is all
    # those depend on besides the coding
    plans: Kept = field(default_factory=lambda: Kept(PLANS_KEPT))  # VersionPlan by coding shape
    plain_systems: Kept = field(default_factory=lambda: Kept(SYSTEMS_KEPT))  # (system, version)
    # what the evaluation consulted: the code systems (canonical urls) its includes named and
    # the value sets it imported (urls as written): only their version parameters can change
    # it, so a cached evaluation serves every request that agrees on those (see _relevant)
    systems: set[str] = field(default_factory=set)
    versionless: set[str] = field(default_factory=set)  # of systems: included without version
    value_sets: set[str] = field(default_factory=set)

    def _all(self, system: str, code: str) -> list[Entry]:
        if self._by_code is None:
            by_code: dict[tuple[str, str], list[Entry]] = {}
            for entry in self.entries.values():
                by_code.setdefault(entry.code_key, []).append(entry)
            self._by_code = by_code
        return self._by_code.get((system, code), [])

    def held(self, system: str, code: str) -> tuple[list[Entry], frozenset[str]]:
        """The entries for system#code and the versions they have. Remembered per code held
        (one table, at most an item per entry): validation asks for both for every coding,
        and building the set each time showed."""
        key = (system, code)
        found = self._held.get(key)
        if found is None:
            entries = self._all(system, code)
            found = (entries, frozenset(e.version for e in entries if e.version))
            if entries:
                self._held[key] = found
        return found

    def versions_of(self, system: str, code: str) -> frozenset[str]:
        """The versions of system whose entries hold code."""
        return self.held(system, code)[1]

    def find(self, system: str, code: str, version: str | None = None) -> Entry | None:
        """The entry for system#code, preferring the given version."""
        found = self.held(system, code)[0]
        for entry in found:
            if entry.version == version:
                return entry
        return found[0] if found else None

    warnings: list[JSON] = field(default_factory=list)


_Variant: TypeAlias = tuple[object, object, VersionKey, Expanded]
"""One evaluation the expansions memo keeps: (compose, contained, _relevant, the evaluation)."""

STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"


def status_flag(resource: Resource) -> str | None:
    """Why a referenced resource deserves a status warning: deprecated, withdrawn, draft,
    experimental, retired (None when it is a plain active resource)."""
    for ext in resource.get("extension", []):
        flag: str | None = ext.get("valueCode")
        if ext.get("url") == STANDARDS_STATUS and flag in ("deprecated", "withdrawn"):
            return flag
    status: str | None = resource.get("status")
    if status in ("draft", "retired"):
        return status
    if resource.get("experimental") is True:
        return "experimental"
    return None


def vs_key(vs: Resource) -> str:
    if not vs.get("url"):
        return "(unidentified)"
    return canonical_of(vs["url"], vs.get("version"))


class UnknownSystem(Exception):
    """An include names a code system (version) that is not available."""

    def __init__(self, system: str, version: str | None, known: list[str]) -> None:
        super().__init__(system)
        self.system, self.version, self.known = system, version, known


def resolve_include_system(
    context: Context, system: str, version: str | None
) -> tuple[CodeSystemProvider | None, str | None]:
    """The code system an include (or a coding) refers to, after version parameters.
    Returns (index, the version that was asked for)."""
    system = context.registry.canonical(system)
    asked = context.versions.chosen(system, version)
    cs = context.registry.code_system(system, asked)
    return cs, asked


class Composer:
    """Evaluates one value set's compose in a request context."""

    def __init__(self, context: Context, path: tuple[str, ...] = (), strict: bool = True) -> None:
        self.context = context
        self.path = path
        self.strict = strict

    def evaluate(self, vs: Resource) -> Expanded:
        """The compose of vs. A stored value set's (or an implicit one's) is cached across
        requests when no tx-resources are in play (per compose, and per the version
        parameters of what it consulted: _relevant); an imported one's is evaluated once per
        request, however often the imports name it."""
        context = self.context
        if self.path:
            return self._imported(vs)
        if not context.stored_only or not context.registry.cacheable(vs):
            return self._evaluate(vs)
        compose, contained = vs.get("compose"), vs.get("contained")
        key = (id(compose), self.strict)
        memo = context.registry.expansions
        held = cast("tuple[_Variant, ...]", memo.get(key) or ())  # what this method put
        for entry in held:  # (compose, contained, relevant, expanded): the memo keeps them
            same = entry[0] is compose and entry[1] is contained  # alive, so ids stay theirs
            if same and entry[2] == _relevant(context, entry[3]):
                return entry[3]
        found = self._evaluate(vs)
        kept = [e for e in held if e[0] is compose][-VARIANTS_KEPT + 1 :]
        kept.append((compose, contained, _relevant(context, found), found))
        memo.put(key, tuple(kept), sum(_expanded_size(e[3]) + estimate(e[2]) for e in kept))
        return found

    def _imported(self, vs: Resource) -> Expanded:
        """An imported value set's compose, once per request (value sets importing the next
        level twice would otherwise evaluate the last level 2^levels times)."""
        run = self.context.run
        imported = run.imported
        if imported is None:
            imported = run.imported = {}
        key = (id(vs), self.strict)
        found: tuple[Resource, Expanded] | None = imported.get(key)
        if found is not None and found[0] is vs:
            return found[1]
        if len(self.path) >= MAX_IMPORT_DEPTH:
            shown = ", ".join((*self.path[:3], "...", *self.path[-2:]))
            found_issue = issue(
                "error",
                "too-costly",
                None,
                "VALUESET_IMPORT_TOO_DEEP",
                self.path[0],
                MAX_IMPORT_DEPTH,
                shown,
            )
            raise TerminologyError(422, operation_outcome([found_issue]))
        expanded = self._evaluate(vs)
        imported[key] = (vs, expanded)
        return expanded

    def _evaluate(self, vs: Resource) -> Expanded:
        key = vs_key(vs)
        if key in self.path:
            chain = ", ".join((*self.path,))
            raise TerminologyError(
                400,
                operation_outcome(
                    [
                        finding(
                            "VALUESET_CIRCULAR_REFERENCE",
                            key,
                            chain,
                        )
                    ]
                ),
            )
        self._chain = (*self.path, key)
        result = Expanded()
        budget = self.context.budget
        budget.spend(1)
        compose = vs.get("compose", {})
        active_only = compose.get("inactive") is False
        self._contained = {f"#{r.get('id')}": r for r in vs.get("contained", [])}
        result.versions_match = _versions_match(compose)
        written: dict[str, set[str | None]] = {}
        for item in compose.get("include", []) + compose.get("exclude", []):
            if item.get("system"):
                written.setdefault(item["system"], set()).add(item.get("version"))
        result.versioned = {system for system, versions in written.items() if len(versions) > 1}
        merged: set[tuple[str, str]] = set()
        for i, include in _newest_first(compose.get("include", [])):
            for entry in self._include(include, i, "include", result):
                if active_only and entry.concept is not None and entry.concept.inactive:
                    continue
                if result.versions_match:
                    if entry.code_key in merged:
                        continue
                    merged.add(entry.code_key)
                result.entries.setdefault(entry.key, entry)
        for i, exclude in enumerate(compose.get("exclude", [])):
            budget.spend(len(result.entries))
            removed = self._include(exclude, i, "exclude", result)
            if exclude.get("version") and not result.versions_match:
                for entry in removed:
                    result.entries.pop(entry.key, None)
            else:
                codes = {entry.code_key for entry in removed}
                result.entries = {
                    k: e for k, e in result.entries.items() if e.code_key not in codes
                }
        return result

    # -- one include / exclude ------------------------------------------------------------
    def _include(self, include: JSON, i: int, kind: str, result: Expanded) -> list[Entry]:
        imported = self._imports(include, result)
        if not include.get("system"):
            return list(imported.values()) if imported is not None else []
        entries = self._system_entries(include, i, kind, result)
        if imported is not None:
            entries = [e for e in entries if e.code_key in imported]
        return entries

    def _imports(self, include: JSON, result: Expanded) -> dict[tuple[str, str], Entry] | None:
        """Intersection of the imported value sets, None when the include imports none."""
        found: dict[tuple[str, str], Entry] | None = None
        for url in include.get("valueSet", []):
            result.value_sets.add(url.partition("|")[0])
            url = self.context.versions.value_set(url)
            vs = self._contained.get(url) or self.context.registry.value_set(url)
            if vs is None:
                raise _unknown_import(url, self.strict)
            expanded = Composer(self.context, self._chain, self.strict).evaluate(vs)
            self.context.budget.spend(len(expanded.entries))
            result.systems |= expanded.systems
            result.versionless |= expanded.versionless
            result.value_sets |= expanded.value_sets
            result.used.update(expanded.used)
            result.defaulted |= expanded.defaulted
            result.statuses.update(expanded.statuses)
            if not url.startswith("#"):
                result.used_valuesets.append(vs_key(vs))
                if flag := status_flag(vs):
                    result.statuses[vs_key(vs)] = ("ValueSet", flag)
            codes = {e.code_key: e for e in expanded.entries.values()}
            found = codes if found is None else {k: v for k, v in found.items() if k in codes}
        return found

    def _system_entries(self, include: JSON, i: int, kind: str, result: Expanded) -> list[Entry]:
        system = include["system"]
        result.systems.add(self.context.registry.canonical(system))
        if not include.get("version"):
            result.versionless.add(self.context.registry.canonical(system))
        cs, asked = resolve_include_system(self.context, system, include.get("version"))
        if cs is None:
            known = self.context.registry.versions("CodeSystem", system)
            raise UnknownSystem(self.context.registry.canonical(system), asked, known)
        if self.strict:
            check_version(self.context.versions, cs)
        context = self.context
        if not include.get("version") and context.versions.defaults(cs.url):
            result.defaulted.add(cs.url)
        result.used[cs.key] = cs
        if flag := status_flag(cs.resource):
            result.statuses[cs.key] = ("CodeSystem", flag)
        budget = context.budget
        if include.get("concept"):
            budget.spend(len(include["concept"]))
            return self._concept_list(cs, include["concept"])
        codes: list[str] | None = None
        for j, flt in enumerate(include.get("filter", [])):
            where = f"ValueSet.compose.{kind}[{i}].filter[{j}]"
            selected = apply_filter(cs, flt, where, budget)
            if codes is None:
                codes = selected
            else:
                chosen = set(selected)
                codes = [c for c in codes if c in chosen]
        if codes is None:
            codes = cs.ordered()
        budget.spend(len(codes))
        return [self._entry(cs, cs.concepts[c]) for c in codes]

    def _concept_list(self, cs: CodeSystemProvider, concepts: list[JSON]) -> list[Entry]:
        entries = []
        for item in concepts:
            concept = cs.find(item["code"])
            if concept is None:
                continue
            entry = self._entry(cs, concept)
            if item.get("display"):
                entry.display = item["display"]
            if item.get("designation"):
                entry.designations = item["designation"]
            entry.deprecated = _marked_deprecated(item)
            entry.extensions = item.get("extension")
            entries.append(entry)
        return entries

    @staticmethod
    def _entry(cs: CodeSystemProvider, concept: Concept) -> Entry:
        return Entry(cs.url, concept.code, concept.display, cs, concept, cs.version)


def _relevant(context: Context, expanded: Expanded) -> VersionKey:
    """The version parameters of what an evaluation consulted (its code systems, the default
    versions only of those it included without a version, and its imported value sets): all
    a cached evaluation depends on besides its compose and the registry.
    Versions given for anything else (a flood of distinct `system-version` values, say)
    reuse it instead of caching it again."""
    return context.versions.relevant(expanded.systems, expanded.versionless, expanded.value_sets)


ENTRY_BYTES = 600  # an expansion entry, its key and its share of the lookup tables
PLANS_BYTES = 400_000  # what validation may add to an expansion (version plans, systems)
PLANS_KEPT = 256  # version plans remembered per expansion (validate._plan)
SYSTEMS_KEPT = 64  # plain systems remembered per expansion (validate._known_plain)


def _expanded_size(expanded: Expanded) -> int:
    """Bytes an evaluation holds once validation has used it (estimated, for the memo)."""
    return ENTRY_BYTES * len(expanded.entries) + PLANS_BYTES


EXPANSION_PARAMETER = "http://hl7.org/fhir/StructureDefinition/valueset-expansion-parameter"


def _versions_match(compose: JSON) -> bool:
    """Whether codes are matched across versions (the `versionsMatch` expansion parameter of
    the compose; unset, it holds when every include and exclude pins a version of one system
    and none is both included and excluded: excluding one version from another)."""
    for ext in compose.get("extension", []):
        if ext.get("url") != EXPANSION_PARAMETER:
            continue
        parts = {e.get("url"): e for e in ext.get("extension", [])}
        if parts.get("name", {}).get("valueCode") == "versionsMatch":
            value = parts.get("value", {})
            return str(value.get("valueBoolean", value.get("valueString"))).lower() == "true"
    includes, excludes = compose.get("include", []), compose.get("exclude", [])
    if not includes or not excludes:
        return False
    system = includes[0].get("system")
    sets = includes + excludes
    if not all(s.get("system") == system and s.get("version") for s in sets):
        return False
    return not {i["version"] for i in includes} & {e["version"] for e in excludes}


def _newest_first(includes: list[JSON]) -> list[tuple[int, JSON]]:
    """The includes with their indexes, two pinned versions of one system taken newest
    first (as the reference server does), everything else in order."""

    def compare(a: tuple[int, JSON], b: tuple[int, JSON]) -> int:
        x, y = a[1], b[1]
        if x.get("system") != y.get("system") or not x.get("version") or not y.get("version"):
            return 0
        kx, ky = version_key(x["version"]), version_key(y["version"])
        return (kx < ky) - (kx > ky)

    return sorted(enumerate(includes), key=cmp_to_key(compare))


VS_DEPRECATED = "http://hl7.org/fhir/StructureDefinition/valueset-deprecated"


def _marked_deprecated(item: JSON) -> bool:
    """A compose concept flagged deprecated (valueset-deprecated extension)."""
    for ext in item.get("extension", []):
        if (
            ext.get("url") == VS_DEPRECATED
            and str(ext.get("valueBoolean", ext.get("valueCode"))).lower() == "true"
        ):
            return True
        if ext.get("url") == STANDARDS_STATUS and ext.get("valueCode") == "deprecated":
            return True
    return False


def _unknown_import(url: str, expanding: bool = True) -> TerminologyError:
    """An imported value set that is not known (validation names it as one canonical)."""
    base, _, version = url.partition("|")
    if version and expanding:
        found = finding("VS_EXP_IMPORT_UNK_PINNED", base, version)
    else:
        found = resolver.unknown_value_set_issue(url)
    return TerminologyError(404, operation_outcome([found]))


# -- filters ---------------------------------------------------------------------------------
def apply_filter(
    cs: CodeSystemProvider, flt: JSON, where: str, budget: Budget | None = None
) -> list[str]:
    """The codes of cs that pass one compose filter, in hierarchy order."""
    budget = budget or Budget.unlimited()
    prop, op, value = flt.get("property", ""), flt.get("op", ""), flt.get("value")
    if value is None or value == "" and op != "exists":
        found = finding(
            "UNABLE_TO_HANDLE_SYSTEM_FILTER_WITH_NO_VALUE",
            cs.url,
            prop,
            op,
            expression=where,
        )
        raise TerminologyError(400, operation_outcome([found]))
    if op not in SUPPORTED_OPS:
        raise _unsupported(cs, prop, op, value, where)
    ordered = cs.ordered()
    budget.spend(len(ordered))
    if prop in ("concept", "code") and op in HIERARCHY_OPS:
        keep = _hierarchy(cs, op, value)
    elif prop in ("concept", "code"):
        keep = _match_values(op, value, _codes_by_code(cs), where, cs, prop, budget)
    elif prop == "display":
        keep = _match_values(op, value, _codes_by_display(cs), where, cs, prop, budget)
    elif op in HIERARCHY_OPS:
        raise _unsupported(cs, prop, op, value, where)
    elif _known_property(cs, prop):
        keep = _match_values(op, value, _codes_by_value(cs, prop), where, cs, prop, budget)
    else:
        raise _unsupported(cs, prop, op, value, where)
    return [c for c in ordered if c in keep]


def _known_property(cs: CodeSystemProvider, prop: str) -> bool:
    return prop in cs.declared or prop in cs.property_values or prop in ("inactive", "status")


def _codes_by_code(cs: CodeSystemProvider) -> Mapping[str, set[str]]:
    """code -> {code}: what `code` / `concept` filters compare (once per index)."""
    found = cs.pieces.get(("filter-codes",))
    if found is None:
        found = cs.pieces[("filter-codes",)] = {code: {code} for code in cs.concepts}
    return found  # type: ignore[return-value]  # pieces holds what this function put


def _codes_by_display(cs: CodeSystemProvider) -> Mapping[str, set[str]]:
    """display -> codes: what `display` filters compare (once per index)."""
    found = cs.pieces.get(("filter-displays",))
    if found is None:
        table: dict[str, set[str]] = {}
        for concept in cs.concepts.values():
            table.setdefault(concept.display or "", set()).add(concept.code)
        found = cs.pieces[("filter-displays",)] = table
    return found  # type: ignore[return-value]  # pieces holds what this function put


_NO_VALUES: dict[str, set[str]] = {}  # a property no concept has (never written to)


def _codes_by_value(cs: CodeSystemProvider, prop: str) -> Mapping[str, set[str]]:
    """value text -> codes of a property (the index's table); a concept without an
    `inactive` property is `inactive` as its status says."""
    table = cs.property_values.get(prop, _NO_VALUES)
    if prop != "inactive":
        return table
    found = cs.pieces.get(("filter-inactive",))
    if found is None:
        having = set().union(*table.values()) if table else set()
        found = {value: set(codes) for value, codes in table.items()}
        for code, concept in cs.concepts.items():
            if code not in having:
                found.setdefault("true" if concept.inactive else "false", set()).add(code)
        cs.pieces[("filter-inactive",)] = found
    return found  # type: ignore[return-value]  # pieces holds what this function put


def _hierarchy(cs: CodeSystemProvider, op: str, value: str) -> set[str]:
    if op == "generalizes":
        return cs.ancestors(value) | ({value} if value in cs.concepts else set())
    if op == "child-of":
        return set(cs.concepts[value].children) if value in cs.concepts else set()
    below = set(cs.descendants(value))
    if op == "descendent-leaf":  # R5: descendants that have no children themselves
        return {code for code in below if not cs.concepts[code].children}
    if op == "descendent-of":
        return below
    is_a = below | ({value} if value in cs.concepts else set())
    return is_a if op == "is-a" else set(cs.concepts) - is_a


def _match_values(
    op: str,
    value: str,
    table: Mapping[str, set[str]],
    where: str,
    cs: CodeSystemProvider,
    prop: str,
    budget: Budget,
) -> set[str]:
    """The codes whose values (table: value text -> codes) pass the filter."""
    if op == "=":
        return set(table.get(value, ()))
    if op in ("in", "not-in"):
        wanted = {v.strip() for v in value.split(",")}
        inside = set().union(*(table.get(v, ()) for v in wanted))
        return inside if op == "in" else set(cs.concepts) - inside
    if op == "exists":
        present = set().union(*table.values()) if table else set()
        return present if value == "true" else set(cs.concepts) - present
    if op == "regex":
        pattern = _regex(value, where)
        texts = _texts(cs, table)
        budget.spend(len(texts.codes) + len(texts.joined) // 32)  # linear: a bounded time
        return texts.matching(pattern, value)
    raise _unsupported(cs, prop, op, value, where)


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is the client's answer, not our log
_RE2_OPTIONS.never_capture = True  # only whether it matches is asked: about twice as fast
_LINES_OPTIONS = re2.Options()
_LINES_OPTIONS.log_errors = False
_LINES_OPTIONS.never_capture = True
_LINES_OPTIONS.never_nl = True  # a match never crosses a line: one text per line
_ANCHORS = re.compile(r"\\[Az]|\(\?[a-zA-Z]*-[a-zA-Z]*m")  # whole-text anchors, (?-m)


class _Pattern(Protocol):
    """What is used of a compiled RE2 pattern (google-re2 ships no type information)."""

    def fullmatch(self, text: bytes) -> object: ...


@dataclass(slots=True)
class _Texts:
    """A filter table's texts as UTF-8 lines (RE2 reads bytes: no copy per text), so that a
    regex scans them in one pass; empty texts and texts holding a line break are matched
    one by one."""

    codes: list[set[str]]  # per line, the codes having that text
    starts: list[int]  # where each line starts in joined
    joined: bytes  # the texts, one per line
    apart: list[tuple[bytes, set[str]]]  # texts with a line break of their own

    def matching(self, pattern: _Pattern, value: str) -> set[str]:
        """The codes of the texts the whole of which pattern (value, compiled) matches."""
        found: set[str] = set()
        if _ANCHORS.search(value):  # anchors that mean the whole text: text by text
            lines = self.joined.split(b"\n") if self.joined or self.codes else []
            for text, codes in (*zip(lines, self.codes, strict=True), *self.apart):
                if pattern.fullmatch(text):
                    found |= codes
            return found
        whole = re2.compile(f"(?m)^(?:{value})$", _LINES_OPTIONS)
        for match in whole.finditer(self.joined) if self.codes else ():
            found |= self.codes[bisect.bisect_right(self.starts, match.start()) - 1]
        for text, codes in self.apart:
            if pattern.fullmatch(text):
                found |= codes
        return found


_HeldTexts: TypeAlias = tuple[Mapping[str, set[str]], _Texts]
"""A filter table and its _Texts, as cs.pieces holds them."""


def _texts(cs: CodeSystemProvider, table: Mapping[str, set[str]]) -> _Texts:
    """A filter table's _Texts, once per table (tables live as long as their index)."""
    key = ("filter-lines", id(table))
    held = cast("_HeldTexts | None", cs.pieces.get(key))  # what this function put
    if held is None or held[0] is not table:
        codes, starts, lines, apart, at = [], [], [], [], 0
        for text, having in table.items():
            encoded = text.encode()
            if not encoded or b"\n" in encoded:  # (an empty line: matched alone, surely)
                apart.append((encoded, having))
                continue
            codes.append(having)
            starts.append(at)
            lines.append(encoded)
            at += len(encoded) + 1
        held = cs.pieces[key] = (table, _Texts(codes, starts, b"\n".join(lines), apart))
    return held[1]


def _regex(value: str, where: str) -> _Pattern:
    """A filter's regular expression, compiled by RE2: matching takes time linear in the
    text, whatever the pattern ((a+)+, (.*a){25}: no catastrophic backtracking). The FHIR
    semantics are kept (the whole value must match: fullmatch). What RE2 refuses
    (backreferences, lookaround, counted repetitions over 1000, a program over its memory
    limit, a syntax error) is a 400 naming the pattern."""
    try:
        compiled: _Pattern = re2.compile(value, _RE2_OPTIONS)
        return compiled
    except re2.error as error:
        reason = error.args[0] if error.args else "not a regular expression"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        found = finding("REGEX_NOT_SUPPORTED", value, where, reason, expression=where)
        raise TerminologyError(400, operation_outcome([found])) from None


def _unsupported(
    cs: CodeSystemProvider, prop: str, op: str, value: object, where: str
) -> TerminologyError:
    found = finding(
        "FILTER_NOT_UNDERSTOOD",
        prop,
        op,
        value,
        where,
        cs.key,
        expression=where,
    )
    return TerminologyError(400, operation_outcome([found]))
