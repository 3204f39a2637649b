"""The real 2019 and 2020 CMS releases loaded together into one store, as `hcpcs-tx load`
does (history resources included), and an engine and HTTP client over it; once a session.

No __init__.py here, as in tests/codesystem.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import codesystem
from terminology.api import create_app, engine_from_store
from terminology.engine import Engine, OperationRequest
from terminology.loader import store_files
from terminology.store import Store

PROJECT = Path(__file__).resolve().parents[2]
RELEASES = PROJECT / "data" / "releases"
HCPCS = codesystem.HCPCS_URL
VS = "https://hcpcs-tx.org/fhir/ValueSet/"


@pytest.fixture(scope="session")
def history_db(tmp_path_factory) -> Path:
    """A store holding 2019-01 and 2020-01 (copy it before changing it)."""
    path = tmp_path_factory.mktemp("history") / "store.sqlite3"
    with Store(path) as store:
        store_files(store, sorted(RELEASES.glob("20??-Alpha-Numeric-HCPCS-File.zip")))
    return path


@pytest.fixture
def db_copy(history_db, tmp_path) -> Path:
    copy = tmp_path / "store.sqlite3"
    shutil.copy(history_db, copy)
    return copy


@pytest.fixture(scope="session")
def expected() -> dict[str, set[str]]:
    """The 2019-01 -> 2020-01 change sets, computed from the raw txt files by plain slicing
    (the helpers of tests/codesystem, independent of the product's reader)."""
    from tests.codesystem.conftest import ZIP_2019, ZIP_2020
    from tests.codesystem.test_hcpcs_history import expected_changes, raw_release

    return expected_changes(raw_release(ZIP_2019), raw_release(ZIP_2020))


@pytest.fixture(scope="session")
def engine(history_db) -> Engine:
    return engine_from_store(history_db)


@pytest.fixture(scope="session")
def client(engine) -> TestClient:
    return TestClient(create_app(engine))


def parameters(**values: object) -> dict:
    """R5 Parameters from keyword arguments (str -> valueString, bool -> valueBoolean)."""
    items = []
    for name, value in values.items():
        key = "valueBoolean" if isinstance(value, bool) else "valueString"
        items.append({"name": name, key: value})
    return {"resourceType": "Parameters", "parameter": items}


def run(engine: Engine, operation: str, rtype: str, **values: object) -> dict:
    return engine.run(OperationRequest(operation, rtype, parameters(**values)))


def value(result: dict, name: str) -> object:
    """The value of the first output parameter called name (None when absent)."""
    for item in result["parameter"]:
        if item["name"] == name:
            return next((v for k, v in item.items() if k.startswith("value")), item)
    return None


def issue_texts(result: dict) -> list[str]:
    outcome = value(result, "issues")
    return [i["details"]["text"] for i in outcome["resource"]["issue"]] if outcome else []
