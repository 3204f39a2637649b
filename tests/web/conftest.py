"""Web view fixtures: the real CMS 2019 and 2020 annual releases (from ../shared) loaded into
one store as `hcpcs-tx load` does (history resources included), an engine and an HTTP
client over create_app; built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from terminology.api import create_app, engine_from_store
from terminology.engine import Engine
from terminology.loader import store_files
from terminology.store import Store
from tests.conftest import shared_file

ZIP_2019 = "data/hcpcs/cms-2019-annual/2019-Alpha-Numeric-HCPCS-File.zip"
ZIP_2020 = "data/hcpcs/cms-2020-annual/2020-Alpha-Numeric-HCPCS-File.zip"


@pytest.fixture(scope="session")
def web_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding HCPCS 2019-01 and 2020-01 (copy it before changing it)."""
    releases = [shared_file(ZIP_2019), shared_file(ZIP_2020)]
    path = tmp_path_factory.mktemp("web") / "store.sqlite3"
    with Store(path) as store:
        store_files(store, releases)
    return path


@pytest.fixture(scope="session")
def engine(web_db: Path) -> Engine:
    return engine_from_store(web_db)


@pytest.fixture(scope="session")
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(engine))
