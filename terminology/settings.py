"""Numeric settings read from the environment, checked in one way.

Every limit the server takes from an `HCPCS_TX_*` variable (seconds, bytes, counts) is
read here: an unset or empty variable gives the default, a value that is not a number of
the right kind or is below the minimum is a ValueError naming the variable, so a bad
setting fails when the server starts rather than on a request.
"""

from __future__ import annotations

import os
from typing import TypeVar

N = TypeVar("N", int, float)


def number(name: str, default: N, *, minimum: N | None = None, unit: str = "") -> N:
    """$name as the type of `default` (ASCII digits for an int), else default."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    kind = type(default)
    try:
        if kind is int and not (raw.isascii() and raw.isdigit()):
            raise ValueError
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number{' of ' + unit if unit else ''}") from None
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}={raw!r} must be at least {minimum}")
    return value
