"""Fixtures of the attack suite: one store (the 2019 and 2020 CMS releases, loaded once with
`hcpcs-tx load`), and a fresh server per case so that no attack inherits another's damage."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import shared_file

from .harness import ENTRY, RELEASES, RESULTS, SCALE_NAME, TxServer, load_store

REPORT_ENV = "HCPCS_TX_ATTACK_REPORT"  # a file to write every attack's figures to (JSON)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "attack: a row of issue 12's attack table")


@pytest.fixture(scope="session")
def attack_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding 2019-01 and 2020-01, filled by the CLI as a user fills one."""
    if not ENTRY.exists():
        pytest.skip(f"server entry point {ENTRY} not installed (pip install -e .)")
    store = tmp_path_factory.mktemp("attacks") / "store.sqlite3"
    load_store(store, [shared_file(name) for name in RELEASES])
    return store


@pytest.fixture
def server(attack_store: Path, tmp_path: Path) -> Iterator[TxServer]:
    """A fresh `hcpcs-tx serve --workers 1` over the store, stopped (killed if need be)
    after the case."""
    with TxServer(attack_store, tmp_path / "server.log") as running:
        yield running


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not RESULTS:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"attacks (scale {SCALE_NAME})")
    columns = (
        "attack",
        "requests",
        "statuses",
        "slowest s",
        "worker RSS MB before > peak > after",
        "busy after s",
        "probe worst s",
        "probe failures",
        "verdict",
    )
    write("| " + " | ".join(columns) + " |")
    write("|" + "---|" * len(columns))
    for r in RESULTS:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items())) or "-"
        rss = f"{r['rss_before_mb']:.0f} > {r['rss_peak_mb']:.0f} > {r['rss_after_mb'] or 0:.0f}"
        verdict = "pass" if not r["problems"] else "FAIL: " + "; ".join(r["problems"])[:300]
        cells = (
            r["name"],
            r["requests"],
            statuses,
            f"{r['slowest_s']:.2f}",
            rss,
            f"{r['busy_after_s']:.1f}",
            f"{r['probe_worst_s']:.2f}",
            r["probe_failures"],
            verdict,
        )
        write("| " + " | ".join(str(c) for c in cells) + " |")
    target = os.environ.get(REPORT_ENV)
    if target:
        Path(target).write_text(json.dumps({"scale": SCALE_NAME, "attacks": RESULTS}, indent=1))
        write(f"figures written to {target}")
