"""Run the server's uvicorn workers: `python -m terminology.workers HOST PORT WORKERS LEVEL`.

`hcpcs-tx serve` becomes this process (os.execv) rather than calling uvicorn itself: uvicorn
spawns its workers, and a spawned process first re-imports its parent's main module; from
the CLI that would be every command (about 0.25 s per worker start), from here it is this
small module. The connection settings every worker gets are decided here, in one place.
"""

from __future__ import annotations

import sys

import uvicorn

from terminology import settings
from terminology.http_protocol import GuardedHttpToolsProtocol, header_seconds

APP = "terminology.api:app_from_store"
MAX_CONNECTIONS_ENV = "HCPCS_TX_MAX_CONNECTIONS"
MAX_CONNECTIONS = 1000
"""Concurrent connections per worker; past it uvicorn answers 503 at once."""
KEEP_ALIVE_SECONDS = 5


def run(host: str, port: int, workers: int, log_level: str) -> None:
    header_seconds()  # a bad setting fails here, before any worker starts
    uvicorn.run(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http=GuardedHttpToolsProtocol,
        access_log=False,  # our own, cheaper, on hcpcs_tx.access (serve --access-log)
        log_level=log_level,
        limit_concurrency=settings.number(MAX_CONNECTIONS_ENV, MAX_CONNECTIONS, minimum=1),
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


def command(host: str, port: int, workers: int, log_level: str) -> list[str]:
    """The argv that runs `run` with these settings in a fresh interpreter."""
    return [sys.executable, "-m", __name__, host, str(port), str(workers), log_level]


if __name__ == "__main__":
    host, port, count, level = sys.argv[1:5]
    run(host, int(port), int(count), level)
