"""uvicorn's httptools protocol with a deadline on request headers.

uvicorn bounds an idle keep-alive connection, but not a client that opens a connection and
sends its request line and headers a byte at a time (or never): such connections are held
open for ever, and a few thousand of them take a worker's file descriptors. This protocol
closes a connection whose request headers are not complete within HEADER_SECONDS of the
connection opening or of the request starting; the body has its own deadline in the API
(api._body). Everything else is uvicorn's.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from terminology import settings

log = logging.getLogger("hcpcs_tx.http")

HEADER_ENV = "HCPCS_TX_HEADER_SECONDS"
HEADER_SECONDS = 10.0
"""How long a client may take to send a request's line and headers."""


def header_seconds() -> float:
    return settings.number(HEADER_ENV, HEADER_SECONDS, minimum=0.001, unit="seconds")


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that closes connections slow to send their request headers."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # a further request on a kept-alive connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(header_seconds(), self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            log.info(
                "closed a connection from %s: no request headers within %.0f s",
                self.client,
                header_seconds(),
            )
            self.transport.close()
