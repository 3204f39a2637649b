"""CMS processing notes (PROCNOTE): parsed from a release's proc_notes file, and the shipped
table that gives them to releases that come without one.

CMS ships the notes' texts beside the data in its zips (`proc_notes_2019.txt`,
`proc_notes_JAN2025.txt`); a bare data file (the quarterly spreadsheets, `anweb.xlsx`,
`HCPC2025_OCT_ANWEB.xlsx`) has none. `data/processing-notes.json` holds every note of the
shipped zips, each text from the newest release that has the number, with the release it
came from. It is generated, never edited by hand:

    python -m codesystem.notes            # rewrite data/processing-notes.json from the zips
    python -m codesystem.notes --check    # exit 1 if it does not match them
    python -m codesystem.notes ZIP...     # from other zips (each must ship a proc_notes file)

By default the zips are the CMS releases in the project's data/releases (those shipping a
proc_notes file: 2019-01, 2020-01, 2025-01).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict

if TYPE_CHECKING:
    from .reader import Release

# reader.py and fhir.py import this module inside functions, never at import time, so that
# `python -m codesystem.notes` does not find itself already imported by the package.

FALLBACK_FILE = Path(__file__).with_name("data") / "processing-notes.json"
FALLBACK_NAME = "codesystem/data/processing-notes.json"
"""How warnings and CodeSystem descriptions name the table."""

SHIPPED_RELEASES = Path(__file__).resolve().parents[1] / "data" / "releases"

_NOTE_START = re.compile(r"^(\d{4})--\s*(.*)$")


class NotesSource(TypedDict):
    """One release read for the table: its version, proc_notes file and note count."""

    release: str
    file: str
    notes: int
    sha256: NotRequired[str]


class Note(TypedDict):
    """One note's text and the release it was taken from."""

    text: str
    release: str


class NotesTable(TypedDict):
    """The document in data/processing-notes.json."""

    description: str
    sources: list[NotesSource]
    notes: dict[str, Note]


def parse_processing_notes(text: str | None) -> dict[str, str]:
    """Note number -> text from a proc_notes*.txt ("0069--TEXT ... *" with wrapped lines)."""
    notes: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in (text or "").splitlines():
        line = raw.strip().rstrip("*").strip()
        if match := _NOTE_START.match(line):
            current = notes.setdefault(match[1], [])
            line = match[2]
        if current is not None and line:
            current.append(" ".join(line.split()))
    return {number: " ".join(parts) for number, parts in notes.items()}


@dataclass(frozen=True)
class FallbackNotes:
    """The shipped notes: number -> text, number -> the release that text comes from."""

    texts: Mapping[str, str]
    releases: Mapping[str, str]
    sources: tuple[NotesSource, ...]
    name: str = FALLBACK_NAME

    def releases_of(self, numbers: Iterable[str]) -> list[str]:
        """The releases whose notes give these numbers their texts, oldest first."""
        return sorted({self.releases[n] for n in numbers if n in self.releases})


@cache
def fallback_notes(path: Path = FALLBACK_FILE) -> FallbackNotes:
    """The shipped processing-notes table, parsed once per process."""
    raw: NotesTable = json.loads(path.read_text(encoding="utf-8"))
    notes = raw["notes"]
    return FallbackNotes(
        texts={n: note["text"] for n, note in notes.items()},
        releases={n: note["release"] for n, note in notes.items()},
        sources=tuple(raw["sources"]),
    )


def build_table(
    releases: Iterable[Release], digests: Mapping[str, str] | None = None
) -> NotesTable:
    """The processing-notes.json document from releases read with their own proc_notes file.

    Releases are taken oldest first, so a newer release's text replaces an older one; a
    release without its own notes file is refused (its notes would be this table's).
    `digests` (release version -> sha256 of the file read) documents the sources.
    """
    sources: list[NotesSource] = []
    notes: dict[str, Note] = {}
    for release in sorted(releases, key=lambda r: r.version):
        if release.processing_notes_file is None:
            raise ValueError(f"{release.source}: ships no proc_notes file")
        source: NotesSource = {
            "release": release.version,
            "file": release.processing_notes_file,
            "notes": len(release.processing_notes),
        }
        if digests and release.version in digests:
            source["sha256"] = digests[release.version]
        sources.append(source)
        for number, text in release.processing_notes.items():
            notes[number] = {"text": text, "release": release.version}
    return {
        "description": (
            "CMS HCPCS processing notes (PROCNOTE number -> text) from the proc_notes files "
            "of the releases in `sources`; where releases differ, the newest text wins, and "
            "`release` says which release a text comes from. Used for the displays of "
            "releases that ship no proc_notes file. Generated by `python -m codesystem.notes`."
        ),
        "sources": sources,
        "notes": dict(sorted(notes.items())),
    }


def render(table: NotesTable) -> str:
    return json.dumps(table, indent=2, ensure_ascii=False) + "\n"


def table_from_files(paths: Iterable[Path]) -> NotesTable:
    """Read each zip (as CMS ships it) and build the table from those with a proc_notes file."""
    from .reader import read_release

    releases, digests = [], {}
    for path in paths:
        release = read_release(path)
        if release.processing_notes_file is None:
            continue
        releases.append(release)
        digests[release.version] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if not releases:
        raise ValueError("no release with a proc_notes file among the files given")
    return build_table(releases, digests)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [Path(a) for a in argv if a != "--check"] or sorted(SHIPPED_RELEASES.glob("*.zip"))
    fresh = render(table_from_files(paths))
    current = FALLBACK_FILE.read_text(encoding="utf-8") if FALLBACK_FILE.exists() else ""
    if check:
        if fresh != current:
            print(f"{FALLBACK_NAME} is stale: run python -m codesystem.notes", file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        FALLBACK_FILE.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
