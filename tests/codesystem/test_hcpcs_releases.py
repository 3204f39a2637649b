"""The real 2019 and 2020 annual releases, read from the zips exactly as CMS published them."""

from __future__ import annotations

import shutil
import zipfile
from collections import Counter

import pytest

from codesystem import read_release


def _counts(release) -> tuple:
    kinds = Counter(c.kind for c in release.concepts)
    terminated = sum(1 for c in release.concepts if c.value("termination-date"))
    retired = sum(1 for c in release.concepts if release.is_retired(c))
    return len(release.concepts), kinds["procedure"], kinds["modifier"], terminated, retired


def test_2019(release_2019) -> None:
    assert release_2019.version == "2019-01"
    assert release_2019.source == "2019-Alpha-Numeric-HCPCS-File.zip/HCPC2019_CONTR_ANWEB.txt"
    assert _counts(release_2019) == (6800, 6440, 360, 515, 515)


def test_2020(release_2020) -> None:
    assert release_2020.version == "2020-01"
    assert release_2020.source.endswith("/HCPC2020_ANWEB_w_disclaimer.txt")
    assert _counts(release_2020) == (7079, 6710, 369, 615, 615)


@pytest.mark.parametrize("name", ["release_2019", "release_2020"])
def test_only_warning_is_the_undocumented_processing_note_0000(request, name) -> None:
    release = request.getfixturevalue(name)
    assert len(release.warnings) == 1
    assert "processing-note '0000'" in release.warnings[0] and "2 code(s)" in release.warnings[0]


def test_processing_notes_from_the_zip_give_displays(release_2020) -> None:
    am = next(c for c in release_2020.concepts if c.code == "AM")
    note = am.value("processing-note")
    assert note.code == "0069"
    assert note.display.startswith("FOR ASSISTANT SURGEON SERVICES MODIFIERS 80, 81, 82, AK,")
    assert note.display.endswith("SEE MCM SECTION 15044.")
    assert len(release_2020.processing_notes) == 220


def test_long_descriptions_are_joined_and_modifiers_come_first(release_2019) -> None:
    first = release_2019.concepts[0]
    assert (first.code, first.kind, first.display, first.line) == (
        "A1", "modifier", "Dressing for one wound", 9,
    )  # fmt: skip
    g8891 = next(c for c in release_2019.concepts if c.code == "G8891")
    assert g8891.display.startswith("Documentation of medical reason(s) for most recent ldl-c")
    assert "treatment of hypertension with standard treatment goals" in g8891.display


def test_the_data_file_alone_gives_the_same_concepts(release_2020, unzipped) -> None:
    bare = read_release(unzipped["2020.txt"])
    assert bare.version == "2020-01"
    strip = lambda c: [p for p in c.properties if p[0] != "processing-note"]  # noqa: E731
    assert [(c.code, c.display, strip(c)) for c in bare.concepts] == [
        (c.code, c.display, strip(c)) for c in release_2020.concepts
    ]


@pytest.mark.parametrize(
    ("zip_name", "member", "version"),
    [
        ("january-2026-alpha-numeric-hcpcs-file.zip", "HCPC2026_JAN_ANWEB_01122026.txt", "2026-01"),
        ("april-2025-alpha-numeric-hcpcs-file.zip", "HCPC2025_APR_ANWEB_v3.txt", "2025-04"),
        ("july-2024-alpha-numeric-hcpcs.zip", "HCPC2024_JUL_ANWEB_v4.txt", "2024-07"),
        ("october-2025-alpha-numeric-hcpcs-file.zip", "HCPC2025_ANWEB.txt", "2025-10"),
        ("2021-Alpha-Numeric-HCPCS-File.zip", "HCPC2021_ANWEB_w_disclaimer.txt", "2021-01"),
    ],
)
def test_version_from_the_file_names(tmp_path, excerpt_path, zip_name, member, version) -> None:
    path = tmp_path / zip_name
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(excerpt_path, f"folder/{member}")
        archive.writestr("HCPC_README.txt", "not data")
    release = read_release(path)
    assert (release.version, release.source) == (version, f"{zip_name}/{member}")
    assert read_release(path, release="2026-04").version == "2026-04"


def test_txt_is_preferred_over_the_spreadsheets_in_a_zip(tmp_path, excerpt_path) -> None:
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("HCPC2026_JAN_ANWEB.xlsx", b"not a workbook")
        archive.write(excerpt_path, "HCPC2026_JAN_ANWEB.txt")
    assert len(read_release(path).concepts) == 14


def test_the_corrections_list_in_a_zip_is_not_the_data(tmp_path, excerpt_path) -> None:
    """January 2025's zip also holds HCPC2025_JAN_ANWEB_Corrections_12172024.xlsx, whose name
    sorts after the data file's."""
    path = tmp_path / "january-2026-alpha-numeric-hcpcs-file.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(excerpt_path, "HCPC2026_JAN_ANWEB.txt")
        archive.writestr("HCPC2026_JAN_ANWEB_Corrections_12172025.txt", "HCPC  LONG DESCRIPTION")
    release = read_release(path)
    assert release.source.endswith("/HCPC2026_JAN_ANWEB.txt") and len(release.concepts) == 14


def test_bare_txt_with_cms_name(tmp_path, excerpt_path) -> None:
    path = tmp_path / "HCPC2026_JAN_ANWEB_01122026.txt"
    shutil.copy(excerpt_path, path)
    assert read_release(str(path)).version == "2026-01"
