"""Bad input: every failure names the file, line and CMS field; new code values only warn."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from codesystem import ReleaseError, read_release

DATA_FILE = "HCPC2026_JAN_ANWEB.txt"
DISCLAIMER = ["***Disclaimers", "", "*Inclusion or exclusion of a procedure ... does not imply", ""]


@pytest.fixture
def lines(excerpt_path) -> list[str]:
    """The excerpt's 26 lines, to damage one at a time (line 8 = L2134's first line)."""
    return excerpt_path.read_text(encoding="latin-1").splitlines()


def _write(tmp_path: Path, lines: list[str], name: str = DATA_FILE) -> Path:
    path = tmp_path / name
    path.write_text("\r\n".join(lines) + "\r\n", encoding="latin-1")
    return path


def _error(path: Path) -> ReleaseError:
    with pytest.raises(ReleaseError) as caught:
        read_release(path)
    error = caught.value
    assert error.file.endswith(path.name) and path.name in str(error)
    return error


def _replace(line: str, start: int, text: str) -> str:
    """Overwrite 1-based positions start.. of a padded line."""
    line = line.ljust(320)
    return line[: start - 1] + text + line[start - 1 + len(text) :]


def test_lines_fixture_is_what_the_tests_assume(lines) -> None:
    assert lines[7].startswith("L2134001003") and lines[8].startswith("L2134002004")


def test_truncated_line(tmp_path, lines) -> None:
    lines[7] = lines[7][:150]
    error = _error(_write(tmp_path, lines))
    assert (error.line, error.field) == (8, "MCM1")
    assert "truncated" in error.message
    assert "line 8" in str(error) and "MCM1" in str(error)


def test_garbled_line_in_the_body(tmp_path, lines) -> None:
    lines.insert(9, "#### this line is garbage, not a record ####")
    error = _error(_write(tmp_path, lines))
    assert (error.line, error.field) == (10, "SEQNUM")
    assert "garbled" in error.message


def test_control_character_in_a_record(tmp_path, lines) -> None:
    lines[7] = lines[7][:20] + "\t" + lines[7][21:]
    error = _error(_write(tmp_path, lines))
    assert (error.line, error.field) == (8, "LONG DESCRIPTION")


def test_continuation_line_carrying_detail_fields(tmp_path, lines) -> None:
    lines[8] = _replace(lines[8], 257, "O1E")
    error = _error(_write(tmp_path, lines))
    assert (error.line, error.field) == (9, "BETOS")


def test_unknown_recid(tmp_path, lines) -> None:
    lines[7] = _replace(lines[7], 11, "5")
    error = _error(_write(tmp_path, lines))
    assert (error.line, error.field) == (8, "RECID")
    assert "'5'" in error.message


def test_continuation_with_no_first_line(tmp_path, lines) -> None:
    del lines[7]  # L2134's first line; its continuation now follows AM
    error = _error(_write(tmp_path, lines))
    assert (error.line, error.field) == (8, "RECID")
    assert "no first line" in error.message


@pytest.mark.parametrize("bad", ["1988XX01", "19881301", "1988010 "])
def test_non_date_in_a_date_field(tmp_path, lines, bad) -> None:
    lines[7] = _replace(lines[7], 269, bad)
    error = _error(_write(tmp_path, lines))
    assert (error.line, error.field) == (8, "ADD DT")
    assert "not a date" in error.message


def test_non_number_in_an_integer_field(tmp_path, lines) -> None:
    lines[7] = _replace(lines[7], 266, " x1")
    error = _error(_write(tmp_path, lines))
    assert (error.line, error.field) == (8, "ANEST_BU")


def test_bad_code(tmp_path, lines) -> None:
    lines[7] = _replace(lines[7], 1, "L21-4")
    error = _error(_write(tmp_path, lines))
    assert (error.line, error.field) == (8, "HCPC")


def test_duplicate_code(tmp_path, lines) -> None:
    lines.extend(lines[7:9])
    error = _error(_write(tmp_path, lines))
    assert (error.line, error.field) == (27, "HCPC")


def test_zip_with_no_anweb_file(tmp_path) -> None:
    path = tmp_path / "january-2026-alpha-numeric-hcpcs-file.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("HCPC2026_README.txt", "read me")
        archive.writestr("proc_notes_2026.txt", "0001--A NOTE")
    error = _error(path)
    assert error.line is None and "ANWEB" in error.message and "HCPC2026_README.txt" in str(error)


def test_not_a_zip_at_all(tmp_path) -> None:
    path = tmp_path / "release.zip"
    path.write_bytes(b"PK but not really")
    assert "zip" in _error(path).message


@pytest.mark.parametrize("content", ["", "\r\n  \r\n"])
def test_empty_file(tmp_path, content) -> None:
    path = tmp_path / DATA_FILE
    path.write_text(content)
    assert "empty" in _error(path).message


def test_file_that_is_not_hcpcs(tmp_path) -> None:
    path = _write(tmp_path, ["[project]", 'name = "hcpcs-tx"', 'version = "0.1.0"'])
    error = _error(path)
    assert (error.line, error.field) == (1, "RECID")
    assert "not an HCPCS Level II file" in error.message


def test_long_text_before_any_record_is_not_a_disclaimer(tmp_path, lines) -> None:
    prose = [f"paragraph {n} of something else entirely" for n in range(60)]
    error = _error(_write(tmp_path, prose + lines))
    assert "not an HCPCS Level II file" in error.message


def test_disclaimer_lines_before_the_records_are_skipped(tmp_path, lines) -> None:
    release = read_release(_write(tmp_path, DISCLAIMER + lines))
    assert len(release.concepts) == 14
    assert release.concepts[3].line == 8 + len(DISCLAIMER)


def test_byte_order_mark_does_not_hide_the_first_record(tmp_path, lines) -> None:
    path = tmp_path / DATA_FILE
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode("latin-1"))
    assert read_release(path).concepts[0].code == "AA"


def test_garbled_first_record_is_not_taken_for_a_disclaimer(tmp_path, lines) -> None:
    lines[0] = _replace(lines[0], 11, "x")
    error = _error(_write(tmp_path, DISCLAIMER + lines))
    assert (error.line, error.field) == (5, "RECID")


def test_trimmed_continuation_lines_are_fine(tmp_path, lines) -> None:
    """2020's file trims continuation lines; first lines must still be complete."""
    release = read_release(
        _write(tmp_path, [line.rstrip() if line[10] in "48" else line for line in lines])
    )
    assert len(release.concepts) == 14


def test_undocumented_code_table_values_warn_and_keep_the_raw_code(tmp_path, lines) -> None:
    lines[7] = _replace(_replace(lines[7], 120, "47"), 257, "X9Z")
    release = read_release(_write(tmp_path, lines))
    l2134 = release.concepts[3]
    assert [(v.code, v.display) for v in l2134.values("pricing-indicator")] == [("47", None)]
    assert [(v.code, v.display) for v in l2134.values("betos")] == [("X9Z", None)]
    text = "\n".join(release.warnings)
    assert "pricing-indicator '47'" in text and "betos 'X9Z'" in text and "line 8" in text


def test_bad_release_override(excerpt_path) -> None:
    with pytest.raises(ReleaseError) as caught:
        read_release(excerpt_path, release="2026-Q1")
    assert caught.value.field == "release"


def test_no_year_in_the_file_name_and_no_action_date_in_the_data(tmp_path, lines) -> None:
    """A name without a year leaves the data to tell the release (the excerpt's latest
    ACT EFF DT is 2026-01-01); with no ACT EFF DT either, only `release=` can."""
    named_nothing = read_release(_write(tmp_path, lines, "anweb.txt"))
    assert named_nothing.version == "2026-01"
    assert named_nothing.version_source == "data: latest action-effective date 2026-01-01"
    undated = [_replace(line, 277, " " * 8) if line[10] in "37" else line for line in lines]
    error = _error(_write(tmp_path, undated, "anweb.txt"))
    assert error.field == "release" and "no action-effective date" in error.message
    given = read_release(tmp_path / "anweb.txt", release="2026-01")
    assert (given.version, given.version_source) == ("2026-01", "given release")


def test_unsupported_file_type(tmp_path) -> None:
    path = tmp_path / "HCPC2026_ANWEB.pdf"
    path.write_bytes(b"%PDF")
    assert "expected .zip" in _error(path).message


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ReleaseError, match="no such file"):
        read_release(tmp_path / "nope.zip")


def test_sheet_without_the_cms_header(tmp_path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    for n in range(50):
        book.active.append([f"row {n}", "something"])
    path = tmp_path / "HCPC2026_ANWEB.xlsx"
    book.save(path)
    error = _error(path)
    assert (error.line, error.field) == (1, "HCPC")


def test_str_names_file_line_and_field() -> None:
    error = ReleaseError("a.txt", "bad", line=3, field="TERM DT")
    assert str(error) == "a.txt, line 3, field TERM DT: bad"
    assert (error.file, error.line, error.field, error.message) == ("a.txt", 3, "TERM DT", "bad")
    assert str(ReleaseError("a.zip", "no data")) == "a.zip: no data"
