"""Read a CMS HCPCS Level II release (zip, fixed-width .txt, .xlsx, .xls) into a Release.

All three formats become the same stream of lines (column name -> raw text, column names
as CMS heads them in the spreadsheets), so grouping, validation and typing are shared and
the formats cannot disagree by construction. Positions and meanings come from layout.json.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from . import sheets
from .errors import ReleaseError
from .layout import Item, Layout, load_layout

MAX_PREAMBLE = 40
"""Free-text disclaimer lines tolerated before the first record (2019: 8, 2020: 9)."""

DATA_SUFFIXES = (".txt", ".xlsx", ".xls")  # in order of preference inside a zip

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LOOKS_LIKE_RECORD = re.compile(r"^[A-Z0-9 ]{5}\d{5}")
_PROCEDURE_CODE = re.compile(r"^[A-Z0-9]{5}$")
_MODIFIER_CODE = re.compile(r"^[A-Z0-9]{2}$")
_DATE = re.compile(r"^\d{8}$")
_HCPC_YEAR = re.compile(r"HCPC(\d{4})", re.IGNORECASE)
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_MONTH = re.compile(r"(?<![a-z])(jan|apr|jul|oct)(?:uary|il|y|ober)?(?![a-z])", re.IGNORECASE)
_QUARTER_MONTH = {"jan": "01", "apr": "04", "jul": "07", "oct": "10"}
_VERSION = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_NOT_DATA = ("correction",)
"""Member names that hold ANWEB but are not the release (HCPC2025_JAN_ANWEB_Corrections_*.xlsx)."""
FROM_FILE_NAME = "file name"
GIVEN = "given release"


@dataclass(frozen=True, slots=True)
class Coding:
    """A code-table value: system is the table's CodeSystem URL; display None if undocumented."""

    system: str
    code: str
    display: str | None = None


Value = str | int | bool | date | Coding
Slices = tuple[tuple[str, slice], ...]


@dataclass(frozen=True)
class Concept:
    """One HCPCS code with its properties (code, typed value) in declaration order.

    status/inactive are not here: they depend on the release date, see Release.is_retired.
    """

    code: str
    kind: str
    display: str
    short_description: str
    properties: tuple[tuple[str, Value], ...]
    line: int

    def values(self, prop: str) -> list[Value]:
        """All values of one property, in CMS order."""
        return [value for code, value in self.properties if code == prop]

    def value(self, prop: str) -> Value | None:
        """The first value of a property, or None."""
        return next((value for code, value in self.properties if code == prop), None)


@dataclass(frozen=True)
class Release:
    """A CMS release as read: concepts in file order plus what the reader had to tolerate.

    `version_source` says where the version came from, worded to follow "from the":
    "file name", "data: latest action-effective date 2020-04-01", or "given release".
    `processing_notes` are the texts the processing-note Codings got their displays from:
    the release's own proc_notes file (`processing_notes_file`, "zip/member"), or when it
    ships none (`processing_notes_file` None) the shipped table of codesystem/notes.py.
    """

    version: str
    source: str
    concepts: tuple[Concept, ...]
    warnings: tuple[str, ...] = ()
    processing_notes: Mapping[str, str] = field(default_factory=dict)
    version_source: str = FROM_FILE_NAME
    processing_notes_file: str | None = None

    @property
    def start(self) -> date:
        """First day of the release (YYYY-MM-01): codes terminated on or before it are retired."""
        year, month = self.version.split("-")
        return date(int(year), int(month), 1)

    @property
    def latest_action_date(self) -> date | None:
        """The latest action-effective date (ACT EFF DT) of any code, None if none has one."""
        return _latest_action_date(self.concepts)

    @property
    def data_version(self) -> str | None:
        """The release the data tells, whatever the file is called: the quarter (YYYY-MM of
        its first month) that holds the latest action-effective date. On every shipped release
        that date is the release's first day (2019-01-01 ... 2025-10-01)."""
        return _quarter_of(self.latest_action_date)

    def is_retired(self, concept: Concept) -> bool:
        term = concept.value("termination-date")
        return isinstance(term, date) and term <= self.start


@dataclass
class _Line:
    number: int
    fields: dict[str, str]


@dataclass
class _Code:
    line: int
    kind: str
    code: str
    fields: dict[str, str]
    parts: list[tuple[int, str]]


@dataclass(frozen=True)
class _Source:
    name: str
    data_name: str
    payload: bytes
    notes: str | None = None
    zip_name: str | None = None
    notes_name: str | None = None


def read_release(path: str | Path, release: str | None = None) -> Release:
    """Read a CMS release: the zip as published, or the .txt/.xlsx/.xls from inside it.

    The version (YYYY-MM) is `release` when given, else the file names' (a year, and the
    quarter's month or January), else the data's: the quarter of the latest action-effective
    date (`Release.data_version`; CMS's quarterly spreadsheets come named `anweb.xlsx`).
    """
    from .notes import parse_processing_notes  # not at import: `python -m codesystem.notes`

    source = _open(Path(path))
    if release is not None and not _VERSION.match(release):
        raise ReleaseError(source.name, f"release {release!r} is not YYYY-MM", field="release")
    named = _version_from_names(source)
    lines = _lines(source)
    notes = parse_processing_notes(source.notes) if source.notes is not None else None
    builder = _Builder(source.name, notes)
    concepts = tuple(builder.concept(code) for code in _group(lines, source.name))
    version, version_source, mismatch = _version(source, release, named, concepts)
    warnings = builder.warnings() + ((mismatch,) if mismatch else ())
    notes_file = f"{source.zip_name}/{source.notes_name}" if source.notes_name else None
    return Release(
        version, source.name, concepts, warnings, builder.notes, version_source, notes_file
    )


def _version(
    source: _Source, given: str | None, named: str | None, concepts: tuple[Concept, ...]
) -> tuple[str, str, str | None]:
    """(version, where it came from, a warning when the name and the data disagree)."""
    if given is not None:
        return given, GIVEN, None
    latest = _latest_action_date(concepts)
    if named is not None:
        return named, FROM_FILE_NAME, _name_mismatch(source.name, named, latest)
    if latest is None:
        raise ReleaseError(
            source.name,
            "no year in the file name and no action-effective date in the data: "
            "give the release (YYYY-MM)",
            field="release",
        )
    return _quarter(latest), f"data: latest action-effective date {latest.isoformat()}", None


def _name_mismatch(file: str, named: str, latest: date | None) -> str | None:
    """The warning when the data's latest action-effective date is in another quarter."""
    if latest is None or (from_data := _quarter(latest)) == named:
        return None
    return (
        f"{file}: the file name says release {named}, but the latest "
        f"action-effective date ({latest.isoformat()}) is in {from_data}; "
        f"using {named} (give the release to override)"
    )


def _latest_action_date(concepts: Iterable[Concept]) -> date | None:
    dates = [d for c in concepts if isinstance(d := c.value("action-effective-date"), date)]
    return max(dates, default=None)


def _quarter_of(day: date | None) -> str | None:
    """YYYY-MM of the first month of the quarter holding `day`, None without a day."""
    return _quarter(day) if day else None


def _quarter(day: date) -> str:
    """YYYY-MM of the first month of the quarter holding `day` (2020-05-15 -> 2020-04)."""
    return f"{day.year}-{(day.month - 1) // 3 * 3 + 1:02d}"


def _open(path: Path) -> _Source:
    if not path.is_file():
        raise ReleaseError(str(path), "no such file")
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _open_zip(path)
    if suffix not in DATA_SUFFIXES:
        raise ReleaseError(path.name, "not a CMS release: expected .zip, .txt, .xlsx or .xls")
    return _Source(path.name, path.name, path.read_bytes())


def _open_zip(path: Path) -> _Source:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            member = _data_member(names, path.name)
            notes = _notes_member(names)
            notes_text = archive.read(notes).decode("latin-1") if notes else None
            payload = archive.read(member)
    except zipfile.BadZipFile as exc:
        raise ReleaseError(path.name, f"not a readable zip file ({exc})") from None
    data_name = member.rsplit("/", 1)[-1]
    notes_name = notes.rsplit("/", 1)[-1] if notes else None
    return _Source(
        f"{path.name}/{data_name}", data_name, payload, notes_text, path.name, notes_name
    )


def _data_member(names: list[str], zip_name: str) -> str:
    """The ANWEB data file; .txt preferred; the last name wins among versions (_v3, _v4).
    CMS's corrections list (HCPC2025_JAN_ANWEB_Corrections_12172024.xlsx) is not the data."""
    for suffix in DATA_SUFFIXES:
        found = sorted(
            n
            for n in names
            if "ANWEB" in (base := n.rsplit("/", 1)[-1]).upper()
            and n.lower().endswith(suffix)
            and not any(word in base.lower() for word in _NOT_DATA)
        )
        if found:
            return found[-1]
    listed = ", ".join(names) or "nothing"
    raise ReleaseError(zip_name, f"no ANWEB .txt/.xlsx/.xls data file in the zip (it has {listed})")


def _notes_member(names: list[str]) -> str | None:
    found = sorted(
        n
        for n in names
        if n.rsplit("/", 1)[-1].lower().startswith("proc_notes") and n.lower().endswith(".txt")
    )
    return found[-1] if found else None


def _version_from_names(source: _Source) -> str | None:
    """YYYY-MM from the data file name, else the zip name: year + quarter month (annual: 01);
    None when no name carries a year."""
    names = [source.data_name] + ([source.zip_name] if source.zip_name else [])
    year = next((y for n in names if (y := _year(n))), None)
    if year is None:
        return None
    month = next((_QUARTER_MONTH[m[1].lower()] for n in names if (m := _MONTH.search(n))), "01")
    return f"{year}-{month}"


def _year(name: str) -> str | None:
    match = _HCPC_YEAR.search(name) or _YEAR.search(name)
    return match[1] if match else None


# --- lines: every format becomes _Line(number, {column: raw text}) ---------------------------


def _lines(source: _Source) -> Iterator[_Line]:
    suffix = Path(source.data_name).suffix.lower()
    payload = source.payload.removeprefix(b"\xef\xbb\xbf")  # a BOM would hide line 1
    if not payload.strip():
        raise ReleaseError(source.name, "the file is empty")
    if suffix == ".txt":
        return _text_lines(payload.decode("latin-1"), source.name)
    rows = sheets.xlsx_rows if suffix == ".xlsx" else sheets.xls_rows
    return _sheet_lines(rows(payload, source.name), source.name)


def _text_lines(text: str, file: str) -> Iterator[_Line]:
    """Fixed-width lines after the disclaimer preamble; garbage in the body is an error."""
    layout = load_layout()
    lines = [line.rstrip("\r") for line in text.split("\n")]
    first = _first_record(lines, file)
    for index in range(first, len(lines)):
        raw = lines[index]
        if raw.strip():
            yield _Line(index + 1, _parse_text_line(raw, index + 1, file, layout))


def _first_record(lines: list[str], file: str) -> int:
    """Index of the first record; free-text preamble lines before it are skipped."""
    preamble = 0
    for index, raw in enumerate(lines):
        if not raw.strip():
            continue
        if _LOOKS_LIKE_RECORD.match(raw):
            return index
        preamble += 1
        if preamble > MAX_PREAMBLE:
            break
    first = next(i for i, raw in enumerate(lines) if raw.strip())
    raise ReleaseError(
        file,
        "not an HCPCS Level II file: no record (code, SEQNUM digits at 6-10, RECID at 11) "
        f"in the first {MAX_PREAMBLE} lines",
        line=first + 1,
        field="RECID",
    )


def _parse_text_line(raw: str, number: int, file: str, layout: Layout) -> dict[str, str]:
    length = layout.record_length
    if bad := _CONTROL.search(raw):
        column = _column_at(bad.start(), layout)
        raise ReleaseError(
            file, f"garbled line: control character {bad[0]!r}", line=number, field=column
        )
    if len(raw) > length and raw[length:].strip():
        raise ReleaseError(file, f"garbled line: longer than {length} characters", line=number)
    line = raw.ljust(length)
    recid, seq = layout.role("record-type"), layout.role("sequence")
    _check_record_type(
        line[recid.start - 1 : recid.end], line[seq.start - 1 : seq.end], number, file, layout
    )
    first = layout.record_types[line[recid.start - 1 : recid.end]].first
    slices = layout.line_slices(first)
    if first:
        _check_complete(raw, slices, number, file)
    else:
        _check_no_detail(line, slices, number, file, layout)
    return {column: line[part] for column, part in slices}


def _column_at(index: int, layout: Layout) -> str | None:
    return next((c for c, p in layout.line_slices(True) if p.start <= index < p.stop), None)


def _check_record_type(recid: str, seqnum: str, number: int, file: str, layout: Layout) -> None:
    if not seqnum.strip().isdigit():
        raise ReleaseError(
            file, f"garbled line: SEQNUM {seqnum!r} is not a number", line=number, field="SEQNUM"
        )
    if recid not in layout.record_types:
        known = "/".join(layout.record_types)
        raise ReleaseError(
            file, f"unknown RECID {recid!r} (expected {known})", line=number, field="RECID"
        )


def _check_complete(raw: str, slices: Slices, number: int, file: str) -> None:
    """A first line must reach its last item: shorter means the line was cut."""
    if len(raw) >= slices[-1][1].stop:
        return
    column, part = next((c, p) for c, p in slices if p.stop > len(raw))
    raise ReleaseError(
        file,
        f"truncated line: ends at position {len(raw)}, before {column} "
        f"(positions {part.start + 1}-{part.stop})",
        line=number,
        field=column,
    )


def _check_no_detail(line: str, slices: Slices, number: int, file: str, layout: Layout) -> None:
    """Continuation lines carry only the description: anything else there is garbage."""
    end = slices[-1][1].stop
    if extra := line[end:].strip():
        column = _column_at(end + line[end:].index(extra[0]), layout)
        raise ReleaseError(
            file, "garbled line: continuation line with detail fields", line=number, field=column
        )


def _sheet_lines(rows: Iterable[sheets.Row], file: str) -> Iterator[_Line]:
    """Rows after CMS's header row (HCPC, SEQNUM, ...) as lines keyed by column name. The
    header is the first row whose first cell is HCPC, within the first 40 rows (row 1 in
    2020-07, 2025-01 and 2025-10; 8 in 2019's xlsx; 11 in 2020's xls, 2020-04 and 2020-10)."""
    layout = load_layout()
    widths = {c: i.length for i in layout.data_items for c in i.columns}
    code, recid, seq = (layout.role(r).name for r in ("code", "record-type", "sequence"))
    header: dict[str, int] | None = None
    for number, row in rows:
        cells = [_cell(v, 0) for v in row]
        if header is None:
            header = _header(cells, number, file, layout)
            continue
        if not any(c.strip() for c in cells):
            continue
        fields = {c: _cell(row[i], widths[c]) if i < len(row) else "" for c, i in header.items()}
        fields[code] = fields[code].rjust(widths[code])  # Excel may drop a modifier's blanks
        _check_record_type(fields[recid], fields[seq], number, file, layout)
        yield _Line(number, fields)
    if header is None:
        raise ReleaseError(file, "not an HCPCS Level II sheet: no header row (HCPC, SEQNUM, ...)")


def _header(cells: list[str], number: int, file: str, layout: Layout) -> dict[str, int] | None:
    code_column = layout.role("code").name
    if not cells or cells[0].strip() != code_column:
        if number > MAX_PREAMBLE:
            raise ReleaseError(
                file,
                f"not an HCPCS Level II sheet: no {code_column} header in the first "
                f"{MAX_PREAMBLE} rows",
                line=1,
                field=code_column,
            )
        return None
    index = {c.strip(): i for i, c in enumerate(cells)}
    columns = [c for i in layout.data_items for c in i.columns]
    if missing := [c for c in columns if c not in index]:
        raise ReleaseError(
            file,
            f"not an HCPCS Level II sheet: no column {missing[0]}",
            line=number,
            field=missing[0],
        )
    return {c: index[c] for c in columns}


def _cell(value: object, width: int) -> str:
    """A spreadsheet cell as the text the fixed-width file has (numbers zero-padded)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return str(value).zfill(width)
    return str(value)


# --- grouping: first line + continuation lines -> one code ----------------------------------


def _group(lines: Iterable[_Line], file: str) -> list[_Code]:
    layout = load_layout()
    recid = layout.role("record-type").name
    seq = layout.role("sequence").name
    text = layout.role("long-description").name
    codes: list[_Code] = []
    seen: set[str] = set()
    current: _Code | None = None
    for line in lines:
        record_type = layout.record_types[line.fields[recid]]
        code = _code_of(line, record_type.kind, file, layout)
        part = (int(line.fields[seq]), line.fields[text])
        if record_type.first:
            if code in seen:
                raise ReleaseError(file, f"duplicate code {code}", line=line.number, field="HCPC")
            seen.add(code)
            current = _Code(line.number, record_type.kind, code, line.fields, [part])
            codes.append(current)
        elif current is None or (current.kind, current.code) != (record_type.kind, code):
            raise ReleaseError(
                file,
                f"continuation line (RECID {line.fields[recid]}) of {code} with no first line",
                line=line.number,
                field=recid,
            )
        elif part[0] in {p[0] for p in current.parts}:
            raise ReleaseError(
                file, f"duplicate SEQNUM {part[0]} for {code}", line=line.number, field=seq
            )
        else:
            current.parts.append(part)
    if not codes:
        raise ReleaseError(file, "no HCPCS records in the file")
    return codes


def _code_of(line: _Line, kind: str, file: str, layout: Layout) -> str:
    """The procedure code, or for a modifier the two characters at positions 4-5."""
    code_item = layout.role("code")
    raw = line.fields[code_item.name]
    pattern: re.Pattern[str] | None
    if kind == "procedure":
        code, pattern = raw, _PROCEDURE_CODE
    else:
        filler, modifier = layout.role("modifier-filler"), layout.role("modifier")
        offset = code_item.start
        code = raw[modifier.start - offset : modifier.end - offset + 1]
        pattern = _MODIFIER_CODE if not raw[filler.start - offset : filler.end].strip() else None
    if pattern is None or not pattern.match(code):
        raise ReleaseError(
            file, f"{raw!r} is not a {kind} code", line=line.number, field=code_item.name
        )
    return code


# --- typing: raw text -> property values, warnings for undocumented code-table values --------


class _Builder:
    """Turns grouped codes into Concepts; collects warnings instead of failing on new codes.

    `notes` are the release's own processing notes, None when it ships no proc_notes file:
    then the shipped table (codesystem/notes.py) gives the displays, and a warning says so.
    """

    def __init__(self, file: str, notes: dict[str, str] | None) -> None:
        from .notes import fallback_notes

        self.file = file
        self.fallback = fallback_notes() if notes is None else None
        self.notes = notes if notes is not None else dict(fallback_notes().texts)
        self.layout = load_layout()
        self.unknown: dict[tuple[str, str], list[int]] = {}
        self.from_fallback: dict[str, list[int]] = {}  # note number -> lines, fallback only
        self.items = [(i.property, i) for i in self.layout.data_items if i.property]
        self.codings: dict[tuple[str, str], Coding] = {}  # shared: frozen, and far fewer
        self.dates: dict[str, date] = {}

    def concept(self, raw: _Code) -> Concept:
        parts = (text.strip() for _, text in sorted(raw.parts))
        display = " ".join(p for p in parts if p)
        props: list[tuple[str, Value]] = []
        for prop, item in self.items:
            if item.role == "record-type":
                props.append((prop, raw.kind))
                continue
            for column in item.columns:
                if text := raw.fields[column].strip():
                    props.append((prop, self._typed(item, column, text, raw.line)))
        if raw.kind == "procedure":
            props.append(("section", self._coding("section", raw.code[0], raw.line)))
        short = next((v for p, v in props if p == "short-description"), "")
        return Concept(raw.code, raw.kind, display, str(short), tuple(props), raw.line)

    def _typed(self, item: Item, column: str, text: str, line: int) -> Value:
        if item.type == "Coding":
            if item.table is None:
                raise ValueError(f"layout.json: the Coding item {item.name} names no table")
            return self._coding(item.table, text, line)
        if item.type == "dateTime":
            return self._date(text, column, line)
        if item.type == "integer":
            if not text.isdigit():
                raise ReleaseError(self.file, f"{text!r} is not a number", line=line, field=column)
            return int(text)
        return text

    def _date(self, text: str, column: str, line: int) -> date:
        if known := self.dates.get(text):
            return known
        try:
            if _DATE.match(text):
                parsed = self.dates[text] = date(int(text[:4]), int(text[4:6]), int(text[6:]))
                return parsed
        except ValueError:
            pass
        raise ReleaseError(self.file, f"{text!r} is not a date (YYYYMMDD)", line=line, field=column)

    def _coding(self, table_id: str, code: str, line: int) -> Coding:
        coding = self.codings.get((table_id, code))
        if coding is None:
            coding = self.codings[table_id, code] = self._new_coding(table_id, code)
        if coding.display is None:
            self.unknown.setdefault((table_id, code), []).append(line)
        elif self.fallback and self.layout.tables[table_id].from_release:
            self.from_fallback.setdefault(code, []).append(line)
        return coding

    def _new_coding(self, table_id: str, code: str) -> Coding:
        table = self.layout.tables[table_id]
        if table.from_release:
            display = self.notes.get(code)
        else:
            entry = table.concepts.get(code)
            display = entry.display if entry else None
        return Coding(table.url, code, display)

    def warnings(self) -> tuple[str, ...]:
        unknown = [
            self._warning(table, code, lines) for (table, code), lines in self.unknown.items()
        ]
        return (*self._fallback_warning(), *unknown)

    def _fallback_warning(self) -> tuple[str, ...]:
        if not self.fallback or not self.from_fallback:
            return ()
        lines = sorted(line for found in self.from_fallback.values() for line in found)
        releases = ", ".join(self.fallback.releases_of(self.from_fallback))
        return (
            f"{self.file}: no proc_notes file, so processing-note displays come from the "
            f"notes CMS shipped with release {releases} ({self.fallback.name}; "
            f"{len(lines)} code(s), first at line {lines[0]})",
        )

    def _warning(self, table: str, code: str, lines: list[int]) -> str:
        where = f"{len(lines)} code(s), first at line {lines[0]}"
        from_release = self.layout.tables[table].from_release
        if not from_release:
            documented = "CMS's code table"
        elif self.fallback:
            documented = f"the {from_release} file of any shipped release ({self.fallback.name})"
        else:
            documented = f"the release's {from_release} file"
        return (
            f"{self.file}: {table} {code!r} is not in {documented}; kept without display ({where})"
        )
