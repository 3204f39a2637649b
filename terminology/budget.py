"""The cost budget of one request: a wall-clock deadline and a work counter.

Every request has one `Budget` (as the reference server's operation context carries its
time limit), counted from when `Engine.run` took the request and made on first use
(`request.RunState.budget`: a $lookup never needs one). Every loop a request can grow — compose
evaluation, value set imports, filters, expansion, batch validations, translation,
closure, the contains of an answer — calls `spend(units)` as it goes. Past either limit
the work stops with the standard `too-costly` OperationOutcome (`TooCostly`, HTTP 422),
wherever it is: it does not go on after the client has given up.

A unit is about a microsecond of work: one concept examined by a filter, one entry of an
expansion built, one imported value set, a twentieth of a validation. `spend` is an integer
decrement and a comparison; the clock is read once every CLOCK_EVERY units, so the hot path
(a $lookup or $validate-code spends a few units) never reads it.

Limits (environment, read when an Engine is built: `Limits.from_environment`):
- HCPCS_TX_REQUEST_SECONDS: wall-clock seconds a request may take (default 10);
- HCPCS_TX_REQUEST_WORK: work units a request may spend (default 20,000,000);
- HCPCS_TX_BATCH_MAX: validations one $batch-validate-code may hold (default 10,000; more
  is refused at once, 413 too-costly, naming the limit).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from terminology import settings
from terminology.outcome import TerminologyError, issue, operation_outcome

CLOCK_EVERY = 1_000  # units between two reads of the clock
_monotonic = time.monotonic
DEFAULT_SECONDS = 10.0
DEFAULT_WORK = 20_000_000
DEFAULT_BATCH = 10_000


@dataclass(frozen=True)
class Limits:
    """What one request may spend: work units and wall-clock seconds."""

    work: int = DEFAULT_WORK
    seconds: float = DEFAULT_SECONDS
    batch: int = DEFAULT_BATCH  # validations in one $batch-validate-code

    @classmethod
    def from_environment(cls) -> Limits:
        """HCPCS_TX_REQUEST_WORK, HCPCS_TX_REQUEST_SECONDS and HCPCS_TX_BATCH_MAX, else the
        defaults."""
        return cls(
            work=settings.number("HCPCS_TX_REQUEST_WORK", DEFAULT_WORK, minimum=1),
            seconds=settings.number("HCPCS_TX_REQUEST_SECONDS", DEFAULT_SECONDS, minimum=0.001),
            batch=settings.number("HCPCS_TX_BATCH_MAX", DEFAULT_BATCH, minimum=1),
        )

    def budget(self, deadline: float | None = None) -> Budget:
        """A fresh budget under these limits (and a caller's deadline, if earlier)."""
        return Budget(self.work, self.seconds, deadline, self.batch)


class TooCostly(TerminologyError):
    """A request stopped because it ran out of its budget (HTTP 422, issue `too-costly`).
    Never answered per item: a batch or an import that meets it stops as a whole."""


def too_costly(key: str, *args: object) -> TooCostly:
    found = issue("error", "too-costly", "too-costly", key, *args)
    return TooCostly(422, operation_outcome([found]))


class Budget:
    """What one request may still spend: work units and time (a monotonic deadline).

    `spend` counts down; every CLOCK_EVERY units (or when the work is used up) `_settle`
    reads the clock. Once spent, every later `spend` raises again, so the work stops
    whichever loop is running."""

    __slots__ = ("work", "seconds", "deadline", "batch", "_left", "_settle_at")

    def __init__(
        self,
        work: int,
        seconds: float,
        deadline: float | None = None,
        batch: int = DEFAULT_BATCH,
        started: float = 0.0,
    ) -> None:
        """started: time.monotonic() when the request came in (0: now)."""
        self.work = self._left = work
        self.seconds, self.batch = seconds, batch
        own = (started or _monotonic()) + seconds
        self.deadline = own if deadline is None or deadline > own else deadline
        self._settle_at = work - CLOCK_EVERY

    @classmethod
    def unlimited(cls) -> Budget:
        """A budget that never runs out (work done outside a request, e.g. tests of parts)."""
        return cls(work=1 << 62, seconds=1e12, batch=1 << 62)

    def spend(self, units: int = 1) -> None:
        """Count units of work; raises TooCostly once the work or the time is used up."""
        self._left -= units
        if self._left <= self._settle_at:
            self._settle()

    def check(self) -> None:
        """Read the clock now (before a step that cannot be split further)."""
        self._settle()

    @property
    def spent(self) -> int:
        return self.work - self._left

    def _settle(self) -> None:
        if self._left < 0:
            raise too_costly("REQUEST_TOO_COSTLY_WORK", f"{self.work:,}")
        if _monotonic() > self.deadline:
            raise too_costly("REQUEST_TOO_COSTLY_TIME", f"{self.seconds:g}")
        self._settle_at = self._left - CLOCK_EVERY
