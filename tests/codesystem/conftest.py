"""Real CMS releases from ../shared, read once per session.

No __init__.py here on purpose: a package named `codesystem` would shadow the product's.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from codesystem import Release, read_release
from tests.conftest import shared_file

ZIP_2019 = "data/hcpcs/cms-2019-annual/2019-Alpha-Numeric-HCPCS-File.zip"
ZIP_2020 = "data/hcpcs/cms-2020-annual/2020-Alpha-Numeric-HCPCS-File.zip"
EXCERPT_2026 = "data/hcpcs/cms-2026-jan-excerpt/HCPC2026_JAN_ANWEB_excerpt.txt"


@pytest.fixture(scope="session")
def release_2019() -> Release:
    return read_release(shared_file(ZIP_2019))


@pytest.fixture(scope="session")
def release_2020() -> Release:
    return read_release(shared_file(ZIP_2020))


@pytest.fixture(scope="session")
def excerpt_path() -> Path:
    return shared_file(EXCERPT_2026)


@pytest.fixture(scope="session")
def excerpt(excerpt_path) -> Release:
    return read_release(excerpt_path)


@pytest.fixture(scope="session")
def unzipped(tmp_path_factory) -> dict[str, Path]:
    """The 2019 and 2020 zips extracted: the data files as a user would pass them."""
    out = tmp_path_factory.mktemp("cms")
    files = {}
    for year, relative in (("2019", ZIP_2019), ("2020", ZIP_2020)):
        with zipfile.ZipFile(shared_file(relative)) as archive:
            for name in archive.namelist():
                if "ANWEB" in name:
                    files[f"{year}{Path(name).suffix}"] = Path(archive.extract(name, out / year))
    return files
