"""`hcpcs-tx update`: store the HCPCS releases CMS has published and the store lacks.

CMS publishes a release each quarter on its quarterly-update page (DEFAULT_PAGE). An update
goes plan -> download -> verify -> store, each step a function here, callable without the
CLI (`update()` runs them all and returns an UpdateReport):

1. fetch_page + find_links: every zip link of the page, read from the page (names drift:
   `january-2025-alpha-numeric-hcpcs-file.zip`, plural `...-files.zip`, annual-style
   `2024-alpha-numeric-hcpcs-file.zip`; links may be relative). A link is an Alpha-Numeric
   HCPCS file when its name (or its text) says alpha-numeric or ANWEB; release_of reads its
   release from the name: quarter month + year, or the year alone for an annual file
   (= YYYY-01). Other links (a PDF, the site's navigation) are ignored; other zips are
   listed as skipped.
2. plan: skip the releases already stored (a stored fragment does not count) and those
   before `since`; links with a release in the name first, in page order; a link whose name
   gives no release is downloaded last, to be read.
3. download: streamed with httpx into a temporary folder under the link's own file name,
   with timeouts; a dropped connection, a timeout, HTTP 408/429/5xx are retried with
   exponential backoff (Retry), and resumed with an HTTP Range request (If-Range: the
   server's ETag or Last-Modified) where the server answers 206; a server that ignores
   Range sends the whole file again and the download starts over. Any other HTTP status
   (404 ...) refuses the link at once. A progress bar (rich) when stderr is a terminal,
   plain lines otherwise (progress_for).
4. verify: the file must be a zip that `codesystem.read_release` reads, with codes. What
   it reads is authoritative: its version decides "already stored" / "before since" again.
   A non-zip (an HTML error page served as .zip), a truncated zip, a zip without an ANWEB
   file are refused with the link and the reason, before anything is stored.
5. store_verified: every verified release through `loader.store_files` in one transaction.
   A release the loader refuses (e.g. far fewer codes than its predecessor: a fragment) is
   reported and the others are stored again in one transaction.

Policy: what is good is stored even when other links fail (a cron job then keeps up with
every quarter it can read), and the report says what failed; a release already stored is
never downloaded again nor replaced, so a failure never touches it. To replace a stored
release, `hcpcs-tx load` the file. An empty store gets only what was downloaded (never the
releases shipped with the project).

Exit codes of the command: 0 when every release found is stored (now or before) or skipped
on purpose; 1 when a link was refused or a store failed (what could be stored is stored),
or when the page has no Alpha-Numeric HCPCS link (CMS changed the page?); 2 for bad usage:
the page unreachable or not answering 200, `--since` not YYYY-MM, the store unusable
(UpdateError).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import tempfile
import time
import zipfile
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, TextIO
from urllib.parse import unquote, urldefrag, urljoin, urlparse

if TYPE_CHECKING:  # rich is imported only when a bar is shown
    from rich.progress import Progress as Bar
    from rich.progress import ProgressColumn, TaskID

import httpx

import codesystem
from terminology.loader import LoadError, store_files
from terminology.store import Store, StoreError

DEFAULT_PAGE = (
    "https://www.cms.gov/medicare/coding-billing/healthcare-common-procedure-system/"
    "quarterly-update"
)
TIMEOUT = httpx.Timeout(60.0, connect=15.0)
"""Per network operation (connect, each read), not for a whole download."""
USER_AGENT = "hcpcs-tx-update (HCPCS Level II FHIR terminology server)"
MAX_BYTES = 1 << 30
"""A CMS release zip is a few MB; anything over 1 GiB is not one."""
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})

_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_VERSION = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER_MONTHS = {"jan": "01", "apr": "04", "jul": "07", "oct": "10"}
_MONTH_NAMES = {
    "jan": "january", "feb": "february", "mar": "march", "apr": "april", "may": "may",
    "jun": "june", "jul": "july", "aug": "august", "sep": "september", "oct": "october",
    "nov": "november", "dec": "december",
}  # fmt: skip
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class UpdateError(Exception):
    """Bad usage: the page cannot be read, `since` is not YYYY-MM, the store is unusable."""


class DownloadError(Exception):
    """A link that could not be downloaded; the message says why."""


class VerifyError(Exception):
    """A download that is not a readable CMS release; the message says why."""


@dataclass(frozen=True)
class Link:
    """A zip link of the page. `hcpcs`: it names an Alpha-Numeric HCPCS file; `release`:
    YYYY-MM from its name (or text), None when they give none."""

    url: str
    name: str
    text: str
    hcpcs: bool
    release: str | None


@dataclass(frozen=True)
class Download:
    link: Link
    path: Path  # in a temporary folder, named as the link names it
    size: int
    sha256: str
    content_type: str
    attempts: int  # 1 when the first request got it all
    resumed: int  # how many times a Range request continued it
    restarted: int  # how many times a server ignoring Range sent it all again


@dataclass(frozen=True)
class Verified:
    """A download that reads as a CMS release."""

    download: Download
    version: str
    procedures: int
    modifiers: int


@dataclass(frozen=True)
class Retry:
    """attempts in all per download; the wait before attempt n+1 is backoff * 2**(n-1)
    seconds (a Retry-After header of up to a minute is honoured when longer)."""

    attempts: int = 4
    backoff: float = 1.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        wait: float = self.backoff * 2 ** (attempt - 1)
        return max(wait, min(retry_after, 60.0)) if retry_after else wait


@dataclass(frozen=True)
class Event:
    """One thing the update did with one link (url = the page for page-wide events).

    action: found, skipped, would download, retry, downloaded, verified, refused, stored,
    failed."""

    action: str
    url: str
    release: str | None = None
    detail: str = ""

    def line(self) -> str:
        text = f"{self.action:<15}{self.release or '?':<9}{self.url}"
        return f"{text}: {self.detail}" if self.detail else text


@dataclass
class UpdateReport:
    """Everything an update did, in order; `ok` is what the exit code says."""

    page: str
    dry_run: bool = False
    events: list[Event] = field(default_factory=list)
    on_event: Callable[[Event], None] | None = field(default=None, repr=False, compare=False)

    def add(self, action: str, url: str, release: str | None = None, detail: str = "") -> None:
        event = Event(action, url, release, detail)
        self.events.append(event)
        if self.on_event:
            self.on_event(event)

    def of(self, action: str) -> list[Event]:
        return [e for e in self.events if e.action == action]

    @property
    def stored(self) -> list[str]:
        return [e.release for e in self.of("stored") if e.release]

    @property
    def ok(self) -> bool:
        return not self.of("refused") and not self.of("failed")

    def lines(self) -> list[str]:
        return [e.line() for e in self.events] + [self.summary()]

    def summary(self) -> str:
        found = len(self.of("found"))
        counts = [
            ("would download", len(self.of("would download"))),
            ("stored", len(self.of("stored"))),
            ("already stored", sum(e.detail.startswith("already stored") for e in self.events)),
            ("refused", len(self.of("refused"))),
            ("failed", len(self.of("failed"))),
        ]
        shown = ", ".join(f"{n} {what}" for what, n in counts if n)
        head = "dry run: " if self.dry_run else ""
        return f"{head}{found} Alpha-Numeric HCPCS links on {self.page}" + (
            f": {shown}" if shown else ""
        )


# --- progress -------------------------------------------------------------------------


class Progress(Protocol):
    """How a download shows its progress: begin and end around each attempt (a retry's
    note is printed between two), update as bytes arrive (done: bytes held, resumed ones
    included; total: None while unknown)."""

    def begin(self, name: str) -> None: ...
    def update(self, done: int, total: int | None) -> None: ...
    def end(self) -> None: ...


class NoProgress:
    def begin(self, name: str) -> None:
        pass

    def update(self, done: int, total: int | None) -> None:
        pass

    def end(self) -> None:
        pass


class LineProgress:
    """Plain lines (for a log or cron mail): the start, then each quarter of the file."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._name = ""
        self._shown = 0

    def begin(self, name: str) -> None:
        self._name, self._shown = name, 0
        print(f"downloading {name}", file=self._stream, flush=True)

    def update(self, done: int, total: int | None) -> None:
        if not total:
            return
        quarter = min(4, done * 4 // total)
        if quarter > self._shown:
            self._shown = quarter
            text = f"  {self._name}: {quarter * 25}% ({done:,} of {total:,} bytes)"
            print(text, file=self._stream, flush=True)

    def end(self) -> None:
        pass


class RichProgress:
    """A rich progress bar (bytes, speed, time left) on a terminal, gone when the attempt
    ends, so that the lines printed after it start on a clean line."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._bar: Bar | None = None
        self._task: TaskID | None = None

    def begin(self, name: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as Bar

        columns: tuple[ProgressColumn, ...] = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        bar = Bar(*columns, console=Console(file=self._stream), transient=True)
        bar.start()
        self._bar, self._task = bar, bar.add_task(name, total=None)

    def update(self, done: int, total: int | None) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done, total=total)

    def end(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        self._bar = self._task = None


def progress_for(stream: TextIO) -> Progress:
    """A progress bar where `stream` is a terminal (and rich is installed: it comes with
    typer), plain lines otherwise."""
    if stream.isatty():
        try:
            import rich.progress  # noqa: F401
        except ImportError:
            return LineProgress(stream)
        return RichProgress(stream)
    return LineProgress(stream)


# --- plan -----------------------------------------------------------------------------


def parse_since(since: str | None) -> str | None:
    """`since` checked: YYYY-MM (month 01-12) or None."""
    if since is None or _VERSION.match(since):
        return since
    raise UpdateError(f"--since must be a release as YYYY-MM (e.g. 2025-01), not {since!r}")


def release_of(name: str) -> str | None:
    """YYYY-MM from a file name or link text: the year and the quarter's month (January,
    April, July, October, or their abbreviations), the year alone for an annual file
    (YYYY-01). None when it names no year, several, or a month that starts no quarter."""
    years = set(_YEAR.findall(name))
    if len(years) != 1:
        return None
    words = re.split(r"[^a-z]+", name.lower())
    months = {w[:3] for w in words if w[:3] in _MONTH_NAMES and w in (w[:3], _MONTH_NAMES[w[:3]])}
    if not months:
        return f"{years.pop()}-01"
    if len(months) > 1 or (month := months.pop()) not in _QUARTER_MONTHS:
        return None
    return f"{years.pop()}-{_QUARTER_MONTHS[month]}"


def find_links(html: str, base_url: str) -> list[Link]:
    """Every distinct zip link of a page, absolute, in page order (a `<base href>` is
    honoured); non-zip links are left out."""
    parser = _LinkParser()
    parser.feed(html)
    parser.close()
    base = urljoin(base_url, parser.base) if parser.base else base_url
    found: dict[str, Link] = {}
    for href, text in parser.links:
        url = urldefrag(urljoin(base, href.strip())).url
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.path.lower().endswith(".zip"):
            continue
        name = unquote(parsed.path.rsplit("/", 1)[-1])
        if url in found:
            continue
        hcpcs = _names_alpha_numeric(name) or _names_alpha_numeric(text)
        release = (release_of(name) or release_of(text)) if hcpcs else None
        found[url] = Link(url, name, text, hcpcs, release)
    return list(found.values())


def _names_alpha_numeric(text: str) -> bool:
    letters = re.sub(r"[^a-z]", "", text.lower())
    return "alphanumeric" in letters or "anweb" in letters


class _LinkParser(HTMLParser):
    """The `<a href>` links of a page with their text, and its `<base href>`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self.base: str | None = None
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "base" and href and self.base is None:
            self.base = href
        elif tag == "a":
            self._close()
            if href:
                self._href, self._text = href, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._close()

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def close(self) -> None:
        super().close()
        self._close()

    def _close(self) -> None:
        if self._href is not None:
            self.links.append((self._href, " ".join("".join(self._text).split())))
        self._href = None


def plan(
    links: Sequence[Link], stored: Collection[str], since: str | None
) -> list[tuple[Link, str | None]]:
    """Each link with the reason it is skipped, None for one to download: links with a
    release in the name first (page order), then those to be read to know their release."""
    planned: list[tuple[Link, str | None]] = []
    first: dict[str, str] = {}
    for link in links:
        if not link.hcpcs:
            planned.append((link, "not an Alpha-Numeric HCPCS file"))
        elif link.release is None:
            continue
        elif link.release in stored:
            planned.append((link, "already stored"))
        elif since and link.release < since:
            planned.append((link, f"before {since} (--since)"))
        elif link.release in first:
            planned.append((link, f"release {link.release} comes from {first[link.release]}"))
        else:
            first[link.release] = link.url
            planned.append((link, None))
    planned += [(link, None) for link in links if link.hcpcs and link.release is None]
    return planned


def fetch_page(client: httpx.Client, page: str, retry: Retry = Retry()) -> tuple[str, str]:
    """The page's HTML and its final URL (after redirects: the base of relative links).

    A refused connection or unknown host fails at once; a timeout or a 5xx is retried."""
    for attempt in range(1, retry.attempts + 1):
        try:
            response = client.get(page)
        except (httpx.ConnectError, httpx.UnsupportedProtocol) as error:
            raise UpdateError(f"cannot read {page}: {_describe(error)}") from None
        except httpx.TransportError as error:
            reason, retry_after = _describe(error), None
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise UpdateError(f"cannot read {page}: {_describe(error)}") from None
        else:
            if response.status_code == 200:
                return response.text, str(response.url)
            reason = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
            if response.status_code not in _TRANSIENT_STATUS:
                raise UpdateError(f"cannot read {page}: {reason}")
            retry_after = _retry_after(response)
        if attempt < retry.attempts:
            time.sleep(retry.delay(attempt, retry_after))
    raise UpdateError(f"cannot read {page}: {reason} (after {retry.attempts} attempts)")


def stored_releases(db: Path | str, *, create: bool = False) -> set[str]:
    """The HCPCS versions a store holds complete (a fragment does not count). A store file
    that does not exist yet holds none, and is created only with `create`: an unusable
    store path then fails before any download."""
    if not create and not Path(db).exists():
        return set()
    try:
        with Store(db) as store:
            held = store.by_url("CodeSystem", codesystem.HCPCS_URL)
    except (StoreError, sqlite3.Error, OSError) as error:
        raise UpdateError(f"cannot read the store {db}: {error}") from None
    return {r["version"] for r in held if r.get("version") and r.get("content") != "fragment"}


# --- download -------------------------------------------------------------------------


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def download(
    client: httpx.Client,
    link: Link,
    folder: Path,
    *,
    retry: Retry = Retry(),
    progress: Progress | None = None,
    note: Callable[[str], None] | None = None,
) -> Download:
    """Download a link into `folder` under its own name, retried and resumed (see the
    module's docstring); note(text) hears of each retry. Raises DownloadError."""
    path = folder / _safe_name(link.name)
    progress = progress or NoProgress()
    state = _Transfer()
    with path.open("wb") as out:
        for attempt in range(1, retry.attempts + 1):
            progress.begin(link.name)  # a bar per attempt: a retry's note is not drawn over
            try:
                _attempt(client, link.url, out, state, progress)
                break
            except _Retryable as error:
                reason, retry_after = str(error), error.retry_after
            except httpx.UnsupportedProtocol as error:
                raise DownloadError(_describe(error)) from None
            except httpx.TransportError as error:
                reason, retry_after = _broken(error, state), None
            except (httpx.HTTPError, httpx.InvalidURL) as error:
                raise DownloadError(_describe(error)) from None
            finally:
                progress.end()
            if attempt == retry.attempts:
                raise DownloadError(f"{reason} (gave up after {attempt} attempts)")
            delay = retry.delay(attempt, retry_after)
            then = f"asking to resume at byte {state.done:,}" if state.done else "from the start"
            if note:
                next_try = f"attempt {attempt + 1} of {retry.attempts} in {delay:g} s"
                note(f"{reason}; {next_try}: {then}")
            time.sleep(delay)
    return Download(
        link,
        path,
        state.done,
        _sha256(path),
        state.content_type,
        attempt,
        state.resumed,
        state.restarted,
    )


@dataclass
class _Transfer:
    done: int = 0
    total: int | None = None
    validator: str | None = None  # ETag or Last-Modified, for If-Range
    content_type: str = ""
    resumed: int = 0
    restarted: int = 0


def _attempt(
    client: httpx.Client, url: str, out: BinaryIO, state: _Transfer, progress: Progress
) -> None:
    """One GET: from the start, or from state.done with Range where bytes are held."""
    headers = {"Accept-Encoding": "identity"}
    if state.done:
        headers["Range"] = f"bytes={state.done}-"
        if state.validator:
            headers["If-Range"] = state.validator
    with client.stream("GET", url, headers=headers) as response:
        status = response.status_code
        if status == 206 and state.done:
            start, total = _content_range(response.headers.get("content-range", ""))
            if start != state.done:
                _restart(out, state)
                raise _Retryable(f"the server resumed at byte {start}, not {state.done}")
            state.total = total or state.total
            state.resumed += 1
        elif status == 200:
            if state.done:  # a server that ignored Range: the whole file again
                state.restarted += 1
                _restart(out, state)
            encoded = response.headers.get("content-encoding", "identity") != "identity"
            length = response.headers.get("content-length", "")
            state.total = int(length) if length.isdigit() and not encoded else None
            etag = response.headers.get("etag", "")
            state.validator = (etag if not etag.startswith("W/") else "") or response.headers.get(
                "last-modified"
            )
            state.content_type = response.headers.get("content-type", "")
        elif status == 416 and state.done:
            _restart(out, state)
            raise _Retryable("the server refused to resume (HTTP 416)")
        elif status in _TRANSIENT_STATUS:
            reason = f"HTTP {status} {response.reason_phrase}".rstrip()
            raise _Retryable(reason, _retry_after(response))
        else:
            raise DownloadError(f"HTTP {status} {response.reason_phrase}".rstrip())
        if state.total and state.total > MAX_BYTES:
            raise DownloadError(f"{state.total:,} bytes: too large for a CMS release")
        progress.update(state.done, state.total)
        for chunk in response.iter_bytes():  # as they arrive: none held back on a break
            out.write(chunk)
            state.done += len(chunk)
            progress.update(state.done, state.total)
            if state.done > MAX_BYTES:
                raise DownloadError(f"over {MAX_BYTES:,} bytes: too large for a CMS release")
        if state.total is not None and state.done < state.total:
            raise _Retryable(f"the connection closed after {state.done:,} of {state.total:,} bytes")
    out.flush()


def _restart(out: BinaryIO, state: _Transfer) -> None:
    out.seek(0)
    out.truncate()
    state.done = 0


def _content_range(header: str) -> tuple[int, int | None]:
    match = _CONTENT_RANGE.match(header.strip())
    if not match:
        raise _Retryable(f"a 206 answer without a usable Content-Range ({header!r})")
    return int(match[1]), None if match[3] == "*" else int(match[3])


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


def _broken(error: httpx.TransportError, state: _Transfer) -> str:
    if state.total:
        at = f"after {state.done:,} of {state.total:,} bytes"
    else:
        at = f"after {state.done:,} bytes"
    return f"the download broke {at} ({_describe(error)})"


def _describe(error: Exception) -> str:
    text = str(error) or "no details"
    return f"{type(error).__name__}: {text}"


def _safe_name(name: str) -> str:
    """The link's file name, kept (the reader takes the release from it, the store records
    it) but usable as a file name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")
    return safe if safe.lower().endswith(".zip") else f"{safe or 'release'}.zip"


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


# --- verify ---------------------------------------------------------------------------


def verify(download: Download) -> Verified:
    """The download read as a CMS release (the version it reads is the release's), or
    VerifyError saying why it is not one."""
    with download.path.open("rb") as file:
        head = file.read(2048)
    if not head.startswith(b"PK"):
        raise VerifyError(_not_a_zip(head, download))
    if not zipfile.is_zipfile(download.path):
        raise VerifyError(
            f"a truncated or damaged zip ({download.size:,} bytes, no zip directory at the end)"
        )
    try:
        release = codesystem.read_release(download.path)
    except codesystem.ReleaseError as error:
        raise VerifyError(f"not a readable CMS release: {error}") from None
    except Exception as error:  # an untrusted file: whatever the reader trips on refuses it
        raise VerifyError(f"not a readable CMS release: {_describe(error)}") from None
    kinds = [c.kind for c in release.concepts]
    if not kinds:
        raise VerifyError(f"{release.source}: no HCPCS codes in the release")
    return Verified(download, release.version, kinds.count("procedure"), kinds.count("modifier"))


def _not_a_zip(head: bytes, download: Download) -> str:
    typed = f", Content-Type {download.content_type}" if download.content_type else ""
    if not head:
        return f"an empty file{typed}"
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text:
        title = re.search(rb"<title[^>]*>(.*?)</title>", head, re.IGNORECASE | re.DOTALL)
        words = " ".join(title[1].decode("utf-8", "replace").split()) if title else ""
        named = f" titled {words!r}" if words else ""
        return f"not a zip file: an HTML page{named} ({download.size:,} bytes{typed})"
    return f"not a zip file: it starts with {head[:16]!r} ({download.size:,} bytes{typed})"


# --- store ----------------------------------------------------------------------------


def store_verified(
    db: Path | str, verified: list[Verified]
) -> tuple[list[Verified], list[tuple[Verified, str]]]:
    """Store verified releases in one transaction (oldest first). A release the loader
    refuses is set aside with its reason and the others are stored in a new transaction.
    Returns (stored, refused). Other failures (the store) raise and store nothing."""
    remaining = sorted(verified, key=lambda v: v.version)
    refused: list[tuple[Verified, str]] = []
    while remaining:
        try:
            with Store(db) as store:
                store_files(store, [v.download.path for v in remaining])
        except LoadError as error:
            bad = [v for v in remaining if _names(error.path, v.download.path)]
            if not bad:
                raise
            reason = str(error).removeprefix(f"{error.path}: ")
            refused += [(v, reason) for v in bad]
            remaining = [v for v in remaining if v not in bad]
        else:
            return remaining, refused
    return [], refused


def _names(reported: Path, path: Path) -> bool:
    return Path(reported) == path or Path(reported).name == path.name


# --- the whole update -----------------------------------------------------------------


def update(
    db: Path | str,
    page: str = DEFAULT_PAGE,
    since: str | None = None,
    *,
    dry_run: bool = False,
    client: httpx.Client | None = None,
    retry: Retry = Retry(),
    progress: Progress | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> UpdateReport:
    """Store the releases linked from `page` that the store `db` lacks (see the module's
    docstring); on_event hears of each event as it happens. Raises UpdateError for bad
    usage; everything else is in the report (report.ok: nothing refused or failed)."""
    since = parse_since(since)
    report = UpdateReport(page, dry_run, on_event=on_event)
    with _client(client) as http, tempfile.TemporaryDirectory(prefix="hcpcs-tx-") as tmp:
        html, base = fetch_page(http, page, retry)
        stored = stored_releases(db, create=not dry_run)
        links = find_links(html, base)
        if not any(link.hcpcs for link in links):
            report.add("failed", page, None, "no Alpha-Numeric HCPCS zip link on the page")
            return report
        verified: dict[str, Verified] = {}
        for number, (link, skip) in enumerate(plan(links, stored, since)):
            if link.hcpcs:
                read = "" if link.release else "no release in the name: read after download"
                report.add("found", link.url, link.release, read)
            if skip:
                report.add("skipped", link.url, link.release, skip)
            elif dry_run:
                report.add("would download", link.url, link.release)
            else:
                folder = Path(tmp) / str(number)
                folder.mkdir()
                got = _download_and_verify(http, link, folder, report, retry, progress)
                if got is not None:
                    _keep(got, stored, since, verified, report)
        if verified:
            _store(db, list(verified.values()), report)
    return report


@contextmanager
def _client(client: httpx.Client | None) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    headers = {"User-Agent": USER_AGENT}
    with httpx.Client(timeout=TIMEOUT, follow_redirects=True, headers=headers) as made:
        yield made


def _download_and_verify(
    http: httpx.Client,
    link: Link,
    folder: Path,
    report: UpdateReport,
    retry: Retry,
    progress: Progress | None,
) -> Verified | None:
    def note(text: str) -> None:
        report.add("retry", link.url, link.release, text)

    try:
        got = download(http, link, folder, retry=retry, progress=progress, note=note)
    except DownloadError as error:
        report.add("refused", link.url, link.release, str(error))
        return None
    tries = ""
    if got.attempts > 1:
        tries = f", {got.attempts} attempts ({got.resumed} resumed, {got.restarted} from the start)"
    size = f"{got.size:,} bytes, sha256 {got.sha256}{tries}"
    report.add("downloaded", link.url, link.release, size)
    try:
        result = verify(got)
    except VerifyError as error:
        report.add("refused", link.url, link.release, str(error))
        return None
    if result.version == link.release:
        named = ""
    else:
        named = f" (the name says {link.release})" if link.release else " (read from the file)"
    codes = result.procedures + result.modifiers
    counts = f"{codes:,} codes = {result.procedures:,} procedures + {result.modifiers:,} modifiers"
    report.add("verified", link.url, result.version, f"release {result.version}{named}, {counts}")
    return result


def _keep(
    result: Verified,
    stored: Collection[str],
    since: str | None,
    kept: dict[str, Verified],
    report: UpdateReport,
) -> None:
    """Keep a verified release to store, unless what it reads as is stored already, before
    `since`, or given by another link (the first link wins)."""
    url = result.download.link.url
    if result.version in stored:
        report.add("skipped", url, result.version, "already stored (as read from the file)")
    elif since and result.version < since:
        report.add("skipped", url, result.version, f"before {since} (--since, as read)")
    elif result.version in kept:
        first = kept[result.version].download.link.url
        report.add("skipped", url, result.version, f"release {result.version} comes from {first}")
    else:
        kept[result.version] = result


def _store(db: Path | str, verified: list[Verified], report: UpdateReport) -> None:
    try:
        stored, refused = store_verified(db, verified)
    except (LoadError, StoreError, sqlite3.Error, OSError) as error:
        for v in verified:
            report.add("failed", v.download.link.url, v.version, f"not stored: {error}")
        return
    for v, reason in refused:
        report.add("refused", v.download.link.url, v.version, f"the store refused it: {reason}")
    for v in stored:
        codes = v.procedures + v.modifiers
        report.add("stored", v.download.link.url, v.version, f"{codes:,} codes in {db}")
