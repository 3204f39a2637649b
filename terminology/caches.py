"""Every memo the engine keeps across requests, bounded by bytes, in one place.

Requests choose the keys of these memos (urls, versions, texts, whole parameter lists), so
each is bounded by an estimate of the bytes it holds, keys included, not by a count of
entries: 4,096 keys of 60 KB are 240 MB. Each kind of memo below has a byte budget, a share
of one setting, HCPCS_TX_CACHE_MB (default 128: the most a worker keeps in all its memos
together), and every memo of a kind (one per registry, index or batch context) counts
against its kind's budget: past it, the oldest entries of the largest memos go first.

Memos are cachetools caches (`Memo`: first in, first out, whose reads are a plain dict
lookup, cheap enough for the hot path; `LruMemo`: least recently used first, for state such
as closure tables that clients come back to). Reads need no lock; writes take the kind's
lock, so threads may share them. `report()` lists each kind: budget, bytes, entries.

Per-request resources (tx-resource) never reach a memo: a registry layered for one
request (and the index of a code system that request brought) keeps what it works out in
`Local` dicts that die with the request.

Two more bounded memos live inside others: the version plans and plain systems one
evaluated value set remembers (`Kept`, by count: operations/validate.py) ride in the
expansions memo, whose entry sizes count them at their bound (compose._expanded_size).
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Hashable
from dataclasses import dataclass, field

import cachetools

from terminology import settings

DEFAULT_MB = 128
ENTRY_OVERHEAD = 200  # bytes a memo spends per entry besides key and value (its tables)

# kind -> (share of HCPCS_TX_CACHE_MB, what it holds)
KINDS: dict[str, tuple[float, str]] = {
    "expansions": (
        0.45,
        "evaluated value set composes, per stored value set and the version parameters it "
        "depends on (validation's version plans ride along)",
    ),
    "batch-answers": (0.20, "plain valid $batch-validate-code answers, per batch context"),
    "closure-tables": (0.10, "$closure tables, the least recently used dropped first"),
    "search-results": (0.05, "ranked $expand filter (typeahead) results, per code system"),
    "resolution": (0.04, "resolve / versions / supplements answers, per url and version"),
    "concept-pieces": (  # about 12 KB a HCPCS concept: 0.12 keeps some 1,300 of them
        0.12,
        "per concept output derived once ($lookup's sorted properties, retired designations)",
    ),
    "strings": (0.03, "version sort keys and white-space-normalised displays"),
    "implicit-value-sets": (0.01, "{system}?fhir_vs value sets, per system and version"),
}


def _total_bytes() -> int:
    megabytes = settings.number("HCPCS_TX_CACHE_MB", float(DEFAULT_MB), minimum=0.0, unit="MB")
    return int(megabytes * 1024 * 1024)


@dataclass(eq=False)
class _Kind:
    """One kind of memo: its budget, and every live memo of the kind (weakly)."""

    name: str
    share: float
    what: str
    budget: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    memos: weakref.WeakSet[Memo | LruMemo] = field(default_factory=weakref.WeakSet)

    def held(self) -> int:
        return sum(_size(memo) for memo in list(self.memos))

    def trim(self) -> None:
        """Within budget again: the oldest entries of the largest memos go first."""
        total = self.held()
        while total > self.budget:
            victim = max((m for m in list(self.memos) if len(m)), key=_size, default=None)
            if victim is None:
                return
            before = _size(victim)
            victim.popitem()
            total -= before - _size(victim)


def _size(memo: Memo | LruMemo) -> int:
    return int(memo.currsize)


_KINDS: dict[str, _Kind] = {name: _Kind(name, share, what) for name, (share, what) in KINDS.items()}


def configure(megabytes: float | None = None) -> None:
    """Set the budgets: `megabytes` in all, else HCPCS_TX_CACHE_MB, else DEFAULT_MB; memos
    over their new budget are trimmed at once."""
    total = _total_bytes() if megabytes is None else int(megabytes * 1024 * 1024)
    for kind in _KINDS.values():
        with kind.lock:
            kind.budget = int(total * kind.share)
            for memo in list(kind.memos):
                memo.maxsize_changed(kind.budget)
            kind.trim()


class _Bounded:
    """What both memo classes add to their cachetools cache: the kind's budget, and an
    entry's size given by the writer (who knows what it holds) rather than measured."""

    _kind: _Kind
    _pending: int
    __eq__ = object.__eq__  # a memo is itself (kept in weak sets), not its content
    __hash__ = object.__hash__

    def _join(self, kind: str) -> None:
        self._kind = _KINDS[kind]
        self._pending = 0
        with self._kind.lock:
            self._kind.memos.add(self)  # type: ignore[arg-type]  # (a Memo or LruMemo)

    def getsizeof(self, value: object) -> int:  # cachetools asks when an entry is written
        return self._pending

    def maxsize_changed(self, budget: int) -> None:
        self._Cache__maxsize = budget

    def put(self, key: Hashable, value: object, size: int) -> bool:
        """Keep value under key, `size` being an estimate of the bytes key and value hold
        (see estimate); False when it is not kept (larger than half the kind's budget)."""
        kind = self._kind
        size = int(size) + ENTRY_OVERHEAD
        if size > kind.budget // 2:
            return False
        with kind.lock:
            self._pending = size
            try:
                self[key] = value  # type: ignore[index]
            finally:
                self._pending = 0
            kind.trim()
        return True

    def drop(self, key: Hashable) -> None:
        with self._kind.lock:
            self.pop(key, None)  # type: ignore[attr-defined]

    def forget(self) -> None:
        with self._kind.lock:
            self.clear()  # type: ignore[attr-defined]


class Memo(_Bounded, cachetools.FIFOCache[Hashable, object]):
    """A memo of one kind, first in first out; `memo.get(key, default)` is a dict lookup."""

    def __init__(self, kind: str) -> None:
        cachetools.FIFOCache.__init__(self, maxsize=_KINDS[kind].budget)
        self._join(kind)
        # reads are the hot path (a $lookup resolves its code system through one): a FIFO
        # cache reads as its mapping does, so `get` is that dict's own get (a C call)
        self.get = self._Cache__data.get  # type: ignore[method-assign,attr-defined]


class LruMemo(_Bounded, cachetools.LRUCache[Hashable, object]):
    """A memo of one kind, least recently used first; read it under `memo.lock`."""

    def __init__(self, kind: str) -> None:
        cachetools.LRUCache.__init__(self, maxsize=_KINDS[kind].budget)
        self._join(kind)

    @property
    def lock(self) -> threading.RLock:
        return self._kind.lock


class Local(dict[Hashable, object]):
    """What is worked out for one request's own resources: a plain dict, gone with the
    request, with Memo's write and forget so that callers need not tell them apart."""

    def put(self, key: Hashable, value: object, size: int) -> bool:
        self[key] = value
        return True

    def forget(self) -> None:
        self.clear()


class Kept(cachetools.FIFOCache[Hashable, object]):
    """A memo bounded by a count of entries, the oldest dropped first, for memos kept inside
    another memo's entry (whose size counts this one at its bound); reads are a dict
    lookup, as Memo's, and writes take its lock (requests run in threads)."""

    def __init__(self, entries: int) -> None:
        super().__init__(maxsize=entries)
        self._lock = threading.Lock()
        self.get = self._Cache__data.get  # type: ignore[method-assign,attr-defined]

    def __setitem__(self, key: Hashable, value: object) -> None:
        with self._lock:
            super().__setitem__(key, value)


def estimate(value: object) -> int:
    """Bytes a key (or a small value) of strings, numbers and tuples holds, roughly as
    sys.getsizeof counts them (strings shared with the request count again: the memo
    keeps them alive after it)."""
    if value is None or value is True or value is False:
        return 0
    if isinstance(value, str | bytes):
        return sys.getsizeof(value)
    if isinstance(value, tuple | frozenset | list | set):
        return sys.getsizeof(value) + sum(estimate(item) for item in value)
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(estimate(k) + estimate(v) for k, v in value.items())
    return sys.getsizeof(value)


def report() -> dict[str, dict[str, object]]:
    """Each kind of memo: its budget, the bytes and entries its live memos hold, how many
    memos there are, and what it holds."""
    found: dict[str, dict[str, object]] = {}
    for name, kind in _KINDS.items():
        with kind.lock:
            memos = list(kind.memos)
            found[name] = {
                "budget_bytes": kind.budget,
                "bytes": sum(_size(m) for m in memos),
                "entries": sum(len(m) for m in memos),
                "memos": len(memos),
                "holds": kind.what,
            }
    return found


def forget_all() -> None:
    """Empty every memo (benchmarks measuring the uncached path; tests)."""
    for kind in _KINDS.values():
        with kind.lock:
            for memo in list(kind.memos):
                memo.clear()


# Memo reads its cache's mapping and sets its budget through cachetools' own attributes (a
# FIFO cache reads as a dict: the hot path): a cachetools that changes them fails here.
if not hasattr(cachetools.FIFOCache(1), "_Cache__data") or not hasattr(
    cachetools.FIFOCache(1), "_Cache__maxsize"
):  # pragma: no cover
    raise ImportError("terminology.caches needs cachetools 5.3 - 8 (Cache internals changed)")
configure()
