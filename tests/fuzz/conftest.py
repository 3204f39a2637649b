"""The fuzzed server: the 2019 and 2020 CMS releases in a store, served by one worker for the
whole module (a case that kills or stalls it shows as failures of the cases after it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.attacks.harness import ENTRY, RELEASES, TxServer, load_store
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TxServer]:
    if not ENTRY.exists():
        pytest.skip(f"server entry point {ENTRY} not installed (pip install -e .)")
    folder = tmp_path_factory.mktemp("fuzz")
    store = folder / "store.sqlite3"
    load_store(store, [shared_file(name) for name in RELEASES])
    with TxServer(store, folder / "server.log") as server:
        yield server
