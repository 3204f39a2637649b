"""Logging for the server: one handler on the `hcpcs_tx` logger, its level from
`serve --log-level` (passed to each worker as $HCPCS_TX_LOG_LEVEL).

uvicorn configures only its own loggers, and a worker process starts with none of ours:
without this, everything below WARNING (reloads, worker start) would be dropped.
"""

from __future__ import annotations

import logging
import os
import sys

LEVEL_ENV = "HCPCS_TX_LOG_LEVEL"
ACCESS_ENV = "HCPCS_TX_ACCESS_LOG"
"""Non-empty: log every request on `hcpcs_tx.access` (off by default: it costs on the hot
path, and a proxy in front usually logs requests already)."""
LEVELS = ("critical", "error", "warning", "info", "debug")
DEFAULT_LEVEL = "info"


def configure(level: str | None = None) -> logging.Logger:
    """The `hcpcs_tx` logger writing to stderr at level (else $HCPCS_TX_LOG_LEVEL, else
    info); idempotent, so a worker may call it at every start."""
    name = (level or os.environ.get(LEVEL_ENV) or DEFAULT_LEVEL).lower()
    if name not in LEVELS:
        raise ValueError(f"log level {name!r} is not one of {', '.join(LEVELS)}")
    logger = logging.getLogger("hcpcs_tx")
    logger.setLevel(name.upper())
    if not any(getattr(h, "hcpcs_tx", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [pid %(process)d] %(name)s: %(message)s")
        )
        handler.hcpcs_tx = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    access = logging.getLogger("hcpcs_tx.access")
    access.disabled = not os.environ.get(ACCESS_ENV)
    return logger
