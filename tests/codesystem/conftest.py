"""Real CMS releases from ../shared, each read once per session.

No __init__.py here on purpose: a package named `codesystem` would shadow the product's.
"""

from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path

import pytest

from codesystem import Release, read_release
from tests.conftest import shared_file

ZIP_2019 = "data/hcpcs/cms-2019-annual/2019-Alpha-Numeric-HCPCS-File.zip"
ZIP_2020 = "data/hcpcs/cms-2020-annual/2020-Alpha-Numeric-HCPCS-File.zip"
ZIP_2025_01 = "data/hcpcs/cms-2025-jan/january-2025-alpha-numeric-hcpcs-file.zip"
XLSX_2025_10 = "data/hcpcs/cms-2025-oct/HCPC2025_OCT_ANWEB.xlsx"
QUARTERLY_2020 = "data/hcpcs/cms-2020-quarterly/{}/anweb.xlsx"
EXCERPT_2026 = "data/hcpcs/cms-2026-jan-excerpt/HCPC2026_JAN_ANWEB_excerpt.txt"

SHIPPED = {
    "2019-01": ZIP_2019,
    "2020-01": ZIP_2020,
    "2020-04": QUARTERLY_2020.format("2020-04"),
    "2020-07": QUARTERLY_2020.format("2020-07"),
    "2020-10": QUARTERLY_2020.format("2020-10"),
    "2025-01": ZIP_2025_01,
    "2025-10": XLSX_2025_10,
}
"""Every complete release the product ships (data/releases holds the same bytes), by version."""

SHEETS = {
    "2019-01 xlsx": (ZIP_2019, "HCPC2019_CONTR_ANWEB.xlsx"),
    "2020-04": (SHIPPED["2020-04"], None),
    "2020-07": (SHIPPED["2020-07"], None),
    "2020-10": (SHIPPED["2020-10"], None),
    "2025-01 xlsx": (ZIP_2025_01, "HCPC2025_JAN_ANWEB_12172024.xlsx"),
    "2025-10": (XLSX_2025_10, None),
}
"""Every CMS .xlsx among the shipped files: (file, member of the zip or None)."""


class ShippedReleases:
    """The shipped releases by version, each read on first use and kept for the session."""

    def __init__(self) -> None:
        self._read: dict[str, Release] = {}

    def __getitem__(self, version: str) -> Release:
        if version not in self._read:
            self._read[version] = read_release(self.path(version))
        return self._read[version]

    def path(self, version: str) -> Path:
        return shared_file(SHIPPED[version])


class CmsSheets:
    """The shipped spreadsheets: their bytes, and their rows as openpyxl reads them (an
    independent reading, not the product's reader), each read once per session."""

    def __init__(self) -> None:
        self._rows: dict[str, dict[int, tuple]] = {}

    def payload(self, name: str) -> bytes:
        relative, member = SHEETS[name]
        path = shared_file(relative)
        if member is None:
            return path.read_bytes()
        with zipfile.ZipFile(path) as archive:
            return archive.read(member)

    def openpyxl_rows(self, name: str) -> dict[int, tuple]:
        """Row number -> values, trailing empty cells dropped, empty rows left out."""
        if name not in self._rows:
            import openpyxl

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                book = openpyxl.load_workbook(io.BytesIO(self.payload(name)), read_only=True)
                rows = list(book.worksheets[0].iter_rows(values_only=True))
                book.close()
            self._rows[name] = {
                number: trimmed
                for number, row in enumerate(rows, start=1)
                if (trimmed := trim(row))
            }
        return self._rows[name]


def trim(row) -> tuple:
    """A row without its trailing empty cells."""
    values = list(row)
    while values and values[-1] is None:
        values.pop()
    return tuple(values)


@pytest.fixture(scope="session")
def shipped() -> ShippedReleases:
    return ShippedReleases()


@pytest.fixture(scope="session")
def cms_sheets() -> CmsSheets:
    return CmsSheets()


@pytest.fixture(scope="session")
def release_2019(shipped) -> Release:
    return shipped["2019-01"]


@pytest.fixture(scope="session")
def release_2020(shipped) -> Release:
    return shipped["2020-01"]


@pytest.fixture(scope="session")
def excerpt_path() -> Path:
    return shared_file(EXCERPT_2026)


@pytest.fixture(scope="session")
def excerpt(excerpt_path) -> Release:
    return read_release(excerpt_path)


@pytest.fixture(scope="session")
def unzipped(tmp_path_factory) -> dict[str, Path]:
    """The 2019, 2020 and January 2025 data files extracted, as a user would pass them."""
    out = tmp_path_factory.mktemp("cms")
    files = {}
    for year, relative in (("2019", ZIP_2019), ("2020", ZIP_2020), ("2025", ZIP_2025_01)):
        with zipfile.ZipFile(shared_file(relative)) as archive:
            for name in archive.namelist():
                if "ANWEB" in name and "Corrections" not in name:
                    files[f"{year}{Path(name).suffix}"] = Path(archive.extract(name, out / year))
    return files
