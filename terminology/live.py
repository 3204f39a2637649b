"""What a server answers with, rebuilt from the store and swapped whole when it changes.

A `load`, `update` or `remove` commits a new store generation; each worker polls the
generation (one indexed SQLite read every few seconds), builds the new state in a thread
from one consistent snapshot while it keeps answering from the old one, then swaps one
reference. A request reads that reference once, so it sees the old state or the new one,
never a mix; nothing fails during the switch.
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
    """The old state was frozen out of the collector's reach (api.app_from_store): let a
    collection free whatever cycles it held, then freeze the new state the same way."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
