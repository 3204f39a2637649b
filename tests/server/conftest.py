"""Server fixtures: the real 2020 CMS release, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import codesystem
from terminology.api import create_app
from terminology.engine import Engine
from terminology.loader import load_files
from terminology.store import Store

PROJECT = Path(__file__).resolve().parents[2]
RELEASE_2020 = PROJECT / "data" / "releases" / "2020-Alpha-Numeric-HCPCS-File.zip"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def fhir_model(kind: str, base: str):
    """The fhir.resources model class for a resource type: R4B for /r4, R5 for /r5."""
    if base in ("r4", "fhir"):
        from fhir.resources.R4B import get_fhir_model_class
    else:
        from fhir.resources import get_fhir_model_class
    return get_fhir_model_class(kind)


def parse(resource: dict, base: str):
    """Parse a returned resource with fhir.resources (fails the test when invalid)."""
    return fhir_model(resource["resourceType"], base).model_validate(resource)


@pytest.fixture(scope="session")
def resources() -> list[dict]:
    return load_files([RELEASE_2020])


# Test material for $translate until the releases give a replacement map: J0120 -> J0130.
TEST_MAP = {
    "resourceType": "ConceptMap",
    "id": "test-map",
    "url": "http://example.org/ConceptMap/hcpcs-test",
    "version": "1",
    "status": "draft",
    "group": [
        {
            "source": HCPCS,
            "target": HCPCS,
            "element": [
                {"code": "J0120", "target": [{"code": "J0130", "relationship": "equivalent"}]}
            ],
        }
    ],
}


@pytest.fixture(scope="session")
def engine(resources) -> Engine:
    return Engine([*resources, TEST_MAP], codesystem.HCPCS_ALIASES)


@pytest.fixture(scope="session")
def client(engine) -> TestClient:
    return TestClient(create_app(engine))


@pytest.fixture(scope="session")
def filled_db(tmp_path_factory, resources) -> Path:
    """A store file holding the 2020 release (copy it before changing it)."""
    path = tmp_path_factory.mktemp("store") / "store.sqlite3"
    with Store(path) as store:
        store.load(resources)
    return path
