"""Attacks on memory: requests that each leave something behind in a cache keyed by what the
client sends (issue 12: 160 MB -> 3.1 GB with 2,000 distinct version parameters; 94 -> 561 MB
with 4,200 distinct 60 KB systems). Each request is cheap; what is judged is the worker's RSS
once they are over, and the other clients answered meanwhile."""

from __future__ import annotations

import pytest

from . import payloads
from .harness import SCALE, Attack

pytestmark = pytest.mark.attack


@pytest.mark.parametrize(
    ("operation", "parameter"),
    [
        ("expand", "system-version"),
        ("validate-code", "check-system-version"),
        ("expand", "force-system-version"),
        ("validate-code", "default-valueset-version"),
    ],
)
def test_distinct_version_parameters_leave_memory_bounded(server, operation, parameter) -> None:
    count = SCALE["versions"]
    attack = Attack(server, f"{count} ${operation} distinct {parameter}", budget_s=2.0)
    with attack.running():
        for i in range(count):
            attack.send("GET", payloads.versioned_query(operation, parameter, i))
    attack.verdict()


def test_distinct_60kb_lookup_systems_leave_memory_bounded(server) -> None:
    count = SCALE["lookup_systems"]
    attack = Attack(server, f"{count} $lookup distinct 60 KB systems", budget_s=2.0)
    with attack.running():
        for i in range(count):
            attack.send("GET", payloads.long_system_lookup(i))
    attack.verdict()
