"""What a server answers with, rebuilt from the store and swapped whole when it changes.

A `load`, `update` or `remove` commits a new store generation; each worker polls the
generation (one indexed SQLite read every few seconds), builds the new state in a thread
from one consistent snapshot while it keeps answering from the old one, then swaps one
reference. A request reads that reference once, so it sees the old state or the new one,
never a mix; nothing fails during the switch.

A worker's state is a few million objects that live as long as it does: `freeze()` takes
them out of the cyclic collector's reach (gc.freeze), which otherwise walks all of them in
every full collection (a long pause under load, worst in batches). Some long-lived objects
are only built on first use (a code system version's index and text index on its first
typeahead, the memos): a full collection slower than HCPCS_TX_GC_REFREEZE_MS (5 ms) shows
that such objects have piled up outside the frozen set, and freezes what survived it. After
one typeahead on each version, this turned 30-55 ms pauses (p99 of 41 ms against a p50 of
1.3 ms) back into none. What is frozen is still freed by reference counting; only a cycle
that was alive at a freeze and dies later waits for the next reload, which unfreezes and
collects everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Generic, TypeVar

from terminology import settings
from terminology.store import Store, StoreError

log = logging.getLogger("hcpcs_tx.live")

T = TypeVar("T")
REFREEZE_ENV = "HCPCS_TX_GC_REFREEZE_MS"
DEFAULT_REFREEZE_MS = 5.0
"""A full collection slower than this freezes what survived it (0: never)."""
RELOAD_ENV = "HCPCS_TX_RELOAD_SECONDS"
DEFAULT_INTERVAL_S = 2.0
"""How often a worker checks the store for a new generation (0 turns reloading off)."""


def reload_interval() -> float:
    """$HCPCS_TX_RELOAD_SECONDS, else DEFAULT_INTERVAL_S; a bad value is a clear error."""
    return settings.number(RELOAD_ENV, DEFAULT_INTERVAL_S, minimum=0.0, unit="seconds")


class Live(Generic[T]):
    """The current state built from a store; `watch()` keeps it current."""

    def __init__(
        self, build: Callable[[Path | None], tuple[int, T]], path: Path | None = None
    ) -> None:
        self._build = build
        self.path = path
        self._listeners: list[Callable[[T], None]] = []
        self.generation, self.current = build(path)

    def on_swap(self, listener: Callable[[T], None]) -> None:
        """Call listener(new state) after each swap."""
        self._listeners.append(listener)

    @classmethod
    def fixed(cls, state: T) -> Live[T]:
        """A state that never reloads (an engine built in-process, as tests do)."""
        return cls(lambda _: (0, state))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Watch the store while the application runs (an ASGI lifespan)."""
        interval = reload_interval()
        if self.path is None or interval <= 0:
            yield
            return
        task = asyncio.create_task(self.watch(interval))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def watch(self, interval: float) -> None:
        """Poll the store's generation; rebuild and swap when it moved. A failed rebuild
        is logged and the old state kept (it is retried at the next change)."""
        assert self.path is not None
        with Store(self.path) as store:
            while True:
                await asyncio.sleep(interval)
                try:
                    if store.generation() != self.generation:
                        await self.reload()
                except (StoreError, OSError) as error:
                    log.error("store %s: reload check failed: %s", self.path, error)

    async def reload(self) -> None:
        started = time.perf_counter()
        try:
            generation, state = await asyncio.to_thread(self._build, self.path)
        except Exception:
            log.exception(
                "store %s: rebuilding after a change failed; still serving generation %s",
                self.path,
                self.generation,
            )
            return
        old, self.current, self.generation = self.current, state, generation
        for listener in self._listeners:
            listener(state)
        del old
        _release_frozen()
        log.info(
            "store %s: now serving generation %s (rebuilt in %.1f s)",
            self.path,
            generation,
            time.perf_counter() - started,
        )


def _release_frozen() -> None:
    """The old state was frozen out of the collector's reach (freeze): let a collection
    free whatever cycles it held, then freeze the new state the same way."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class _Refreezer:
    """A gc callback timing full collections; after one slower than the threshold (None:
    never), gc.freeze() what survived it (everything then tracked is alive: the collection
    has just run)."""

    def __init__(self, threshold_s: float | None) -> None:
        self.threshold_s = threshold_s
        self.refreezes = 0
        self.full_collections = 0
        self.full_seconds = 0.0
        self.slowest_s = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        self.full_collections += 1
        self.full_seconds += took
        self.slowest_s = max(self.slowest_s, took)
        if self.threshold_s is not None and took > self.threshold_s:
            gc.freeze()
            self.refreezes += 1
            log.debug("a full collection took %.1f ms: froze what survived it", took * 1000)


_refreezer: _Refreezer | None = None


def freeze() -> None:
    """Freeze what the worker holds now, and from now on what survives a slow full
    collection (long-lived objects built on first use); idempotent."""
    global _refreezer
    gc.freeze()
    if _refreezer is None:
        threshold_ms = settings.number(REFREEZE_ENV, DEFAULT_REFREEZE_MS, minimum=0.0, unit="ms")
        _refreezer = _Refreezer(threshold_ms / 1000 if threshold_ms > 0 else None)
        gc.callbacks.append(_refreezer)


def gc_report() -> dict[str, float]:
    """What /health tells of the collector since the worker froze its state: objects
    frozen, refreezes, full collections (count, total and slowest ms)."""
    found = _refreezer or _Refreezer(None)
    return {
        "frozen_objects": gc.get_freeze_count(),
        "refreezes": found.refreezes,
        "full_collections": found.full_collections,
        "full_ms_total": round(found.full_seconds * 1000, 1),
        "slowest_full_ms": round(found.slowest_s * 1000, 1),
    }
