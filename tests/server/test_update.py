"""`hcpcs-tx update` against a fake CMS site on loopback: a quarterly-update page linking
copies of real CMS release zips under CMS-style names, and broken links (a 404, an HTML page
served as .zip, a truncated zip, a 14-code fragment, a server that drops the connection),
plus links that are not releases (a PDF, another zip)."""

from __future__ import annotations

import hashlib
import io
import re
import socket
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

import codesystem
from terminology import update as updater
from terminology.cli import app
from terminology.store import Store
from tests.conftest import shared_file

runner = CliRunner()

ZIP_2019 = "cms-2019-annual/2019-Alpha-Numeric-HCPCS-File.zip"
ZIP_2020 = "cms-2020-annual/2020-Alpha-Numeric-HCPCS-File.zip"
EXCERPT_2026 = "cms-2026-jan-excerpt/HCPC2026_JAN_ANWEB_excerpt.txt"
NOT_FOUND_PAGE = b"<!DOCTYPE html><html><head><title>Page Not Found | CMS</title></head></html>"


@dataclass
class File:
    body: bytes
    content_type: str = "application/zip"
    drop: str = ""  # "once": cut the first full download halfway; "always": every answer
    ranges: bool = True  # answer Range requests with 206 (else the whole file again)


@dataclass
class Site:
    """The fake CMS: path -> File (or an HTML page); `log` holds (path, Range header)."""

    files: dict[str, File]
    url: str = ""
    log: list[tuple[str, str | None]] = field(default_factory=list)
    dropped: set[str] = field(default_factory=set)

    def reset(self) -> None:
        self.log.clear()
        self.dropped.clear()

    def requested(self, path: str) -> list[str | None]:
        return [ranged for got, ranged in self.log if got == path]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    site: Site

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        ranged = self.headers.get("Range")
        self.site.log.append((path, ranged))
        file = self.site.files.get(path)
        if file is None:
            self._send(404, "text/html", NOT_FOUND_PAGE)
            return
        body, start = file.body, 0
        match = re.fullmatch(r"bytes=(\d+)-", ranged or "")
        if match and file.ranges:
            start = int(match[1])
        drop = file.drop == "always" or (file.drop == "once" and path not in self.site.dropped)
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", file.content_type)
        self.send_header("Content-Length", str(len(body) - start))
        self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()[:16]}"')
        if file.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        if drop:  # half of what is left, then the connection goes away
            self.site.dropped.add(path)
            self.wfile.write(body[start : start + max(1, (len(body) - start) // 2)])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body[start:])

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _page(*links: str) -> File:
    items = "\n".join(f"<li>{link}</li>" for link in links)
    html = f"<!DOCTYPE html><html><body><nav><a href='/'>Home</a></nav><ul>{items}</ul></body>"
    return File(html.encode(), "text/html; charset=utf-8")


def _zip_of(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def cms() -> Iterator[Site]:
    r2019 = shared_file(f"data/hcpcs/{ZIP_2019}").read_bytes()
    r2020 = shared_file(f"data/hcpcs/{ZIP_2020}").read_bytes()
    excerpt = shared_file(f"data/hcpcs/{EXCERPT_2026}").read_bytes()
    site = Site({})
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Handler,), {"site": site}))
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    z = "/files/zip/"
    site.files.update(
        {
            # the releases, under names CMS has used
            z + "2019-alpha-numeric-hcpcs-file.zip": File(r2019),
            z + "january-2020-alpha-numeric-hcpcs-files.zip": File(r2020, drop="once"),
            z + "2020-alpha-numeric-hcpcs-file.zip": File(r2020),
            # broken: an HTML error page served as a zip, a truncated zip, a fragment
            z + "july-2024-alpha-numeric-hcpcs-file.zip": File(NOT_FOUND_PAGE, "text/html"),
            z + "april-2024-alpha-numeric-hcpcs-file.zip": File(r2019[: len(r2019) // 2]),
            z + "january-2026-alpha-numeric-hcpcs-file.zip": File(
                _zip_of("HCPC2026_JAN_ANWEB_excerpt.txt", excerpt)
            ),
            # dropped at every try; no Range support and a name without a release
            z + "october-2020-alpha-numeric-hcpcs-file.zip": File(r2020, drop="always"),
            z + "hcpcs-alpha-numeric-latest.zip": File(r2019, drop="once", ranges=False),
            "/files/document/hcpcs-quarterly-update-guide.pdf": File(
                b"%PDF-1.7", "application/pdf"
            ),
            z + "2024-hcpcs-asc-addenda.zip": File(b"PK\x05\x06" + bytes(18)),
            # the pages
            "/medicare/quarterly-update": _page(
                '<a href="/files/zip/2019-alpha-numeric-hcpcs-file.zip">2019 Alpha-Numeric'
                " HCPCS File (ZIP)</a>",
                '<a href="../files/zip/january-2020-alpha-numeric-hcpcs-files.zip">January'
                " 2020 Alpha-Numeric HCPCS Files (ZIP)</a>",
                f'<a href="{site.url}/files/zip/october-2024-alpha-numeric-hcpcs-file.zip">'
                "October 2024</a>",
                '<a href="/files/zip/july-2024-alpha-numeric-hcpcs-file.zip">July 2024</a>',
                '<a href="/files/zip/april-2024-alpha-numeric-hcpcs-file.zip">April 2024</a>',
                '<a href="/files/zip/january-2026-alpha-numeric-hcpcs-file.zip">Jan 2026</a>',
                '<a href="/files/document/hcpcs-quarterly-update-guide.pdf">Guide (PDF)</a>',
                '<a href="/files/zip/2024-hcpcs-asc-addenda.zip">ASC addenda</a>',
                '<a href="/files/zip/2019-alpha-numeric-hcpcs-file.zip#top">again</a>',
            ),
            "/good": _page(
                '<a href="/files/zip/2019-alpha-numeric-hcpcs-file.zip">2019</a>',
                '<a href="/files/zip/2020-alpha-numeric-hcpcs-file.zip">2020</a>',
                '<a href="/files/document/hcpcs-quarterly-update-guide.pdf">Guide (PDF)</a>',
            ),
            "/flaky": _page(
                '<a href="/files/zip/hcpcs-alpha-numeric-latest.zip">Latest release</a>',
                '<a href="/files/zip/october-2020-alpha-numeric-hcpcs-file.zip">Oct 2020</a>',
            ),
            "/no-releases": _page(
                '<a href="/files/document/hcpcs-quarterly-update-guide.pdf">x</a>'
            ),
        }
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    server.shutdown()
    server.server_close()


@pytest.fixture
def site(cms: Site) -> Site:
    cms.reset()
    return cms


def _run(db: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--db", str(db), "update", *args])
    return result.exit_code, result.output


def _versions(db: Path) -> list[str]:
    with Store(db) as store:
        return sorted(r["version"] for r in store.by_url("CodeSystem", codesystem.HCPCS_URL))


def _line(output: str, action: str, url: str) -> str:
    """The output line of an action on a link (fails when there is none)."""
    found = [line for line in output.splitlines() if line.startswith(action) and url in line]
    assert found, f"no {action!r} line for {url} in:\n{output}"
    return found[-1]


def test_update_stores_the_good_releases_and_refuses_each_broken_link(site, tmp_path) -> None:
    db, z = tmp_path / "store.sqlite3", f"{site.url}/files/zip/"
    code, output = _run(db, "--page", f"{site.url}/medicare/quarterly-update")
    assert code == 1, output
    # the good releases are stored, and only they: no shipped release fills the new store
    assert _versions(db) == ["2019-01", "2020-01"]
    assert "2019-01" in _line(output, "stored", z + "2019-alpha-numeric-hcpcs-file.zip")
    assert "2020-01" in _line(output, "stored", z + "january-2020-alpha-numeric-hcpcs-files")
    # each link found with its release, whatever the name's shape or the href's form
    for name, release in [
        ("2019-alpha-numeric-hcpcs-file.zip", "2019-01"),
        ("january-2020-alpha-numeric-hcpcs-files.zip", "2020-01"),
        ("october-2024-alpha-numeric-hcpcs-file.zip", "2024-10"),
        ("july-2024-alpha-numeric-hcpcs-file.zip", "2024-07"),
        ("april-2024-alpha-numeric-hcpcs-file.zip", "2024-04"),
        ("january-2026-alpha-numeric-hcpcs-file.zip", "2026-01"),
    ]:
        assert f" {release} " in _line(output, "found", z + name)
    assert output.count(z + "2019-alpha-numeric-hcpcs-file.zip\n") == 1  # one link, not two
    # every broken link named with its reason, and nothing of it stored
    assert "HTTP 404" in _line(output, "refused", z + "october-2024-")
    html = _line(output, "refused", z + "july-2024-")
    assert "not a zip file: an HTML page titled 'Page Not Found | CMS'" in html
    assert "truncated or damaged zip" in _line(output, "refused", z + "april-2024-")
    fragment = _line(output, "refused", z + "january-2026-")
    assert "the store refused it" in fragment and "14 codes" in fragment
    # the dropped download was retried and resumed where it broke, and came whole
    path = "/files/zip/january-2020-alpha-numeric-hcpcs-files.zip"
    half = len(site.files[path].body) // 2
    first, resumed = site.requested(path)
    assert first is None and 0 < int(resumed.removeprefix("bytes=").rstrip("-")) <= half
    assert "asking to resume at byte" in _line(output, "retry", z + "january-2020-")
    sha = hashlib.sha256(site.files[path].body).hexdigest()
    assert f"sha256 {sha}, 2 attempts (1 resumed, 0 from the start)" in _line(
        output, "downloaded", z + "january-2020-"
    )
    # links that are not releases: a PDF is ignored, another zip is skipped
    assert "quarterly-update-guide.pdf" not in output
    assert "not an Alpha-Numeric HCPCS file" in _line(output, "skipped", "asc-addenda.zip")
    assert output.rstrip().endswith("2 stored, 4 refused")

    # a second run: the stored releases are not downloaded again, the broken links are
    # refused again, and the store file is not touched
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    site.reset()
    code, output = _run(db, "--page", f"{site.url}/medicare/quarterly-update")
    assert code == 1
    assert "already stored" in _line(output, "skipped", z + "2019-alpha-numeric-hcpcs-file.zip")
    assert "already stored" in _line(output, "skipped", z + "january-2020-alpha")
    assert not site.requested("/files/zip/2019-alpha-numeric-hcpcs-file.zip")
    assert not site.requested(path)
    assert not [line for line in output.splitlines() if line.startswith("stored")]
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_dry_run_lists_what_it_would_download_and_stores_nothing(site, tmp_path) -> None:
    db = tmp_path / "store.sqlite3"
    code, output = _run(db, "--page", f"{site.url}/medicare/quarterly-update", "--dry-run")
    assert code == 0, output
    would = [line for line in output.splitlines() if line.startswith("would download")]
    assert len(would) == 6
    assert " 2020-01 " in _line(output, "would download", "january-2020-alpha-numeric")
    assert not [path for path, _ in site.log if path.endswith(".zip")]  # nothing downloaded
    assert not db.exists()  # not even an empty store


def test_since_skips_older_releases_and_an_up_to_date_store_exits_0(site, tmp_path) -> None:
    db, z = tmp_path / "store.sqlite3", f"{site.url}/files/zip/"
    code, output = _run(db, "--page", f"{site.url}/good", "--since", "2020-01")
    assert code == 0, output
    assert "before 2020-01" in _line(output, "skipped", z + "2019-alpha-numeric-hcpcs-file.zip")
    assert not site.requested("/files/zip/2019-alpha-numeric-hcpcs-file.zip")
    assert "2020-01" in _line(output, "stored", z + "2020-alpha-numeric-hcpcs-file.zip")
    assert _versions(db) == ["2020-01"]

    site.reset()
    code, output = _run(db, "--page", f"{site.url}/good", "--since", "2020-01")
    assert code == 0, output
    assert "already stored" in _line(output, "skipped", z + "2020-alpha-numeric-hcpcs-file.zip")
    assert not [path for path, _ in site.log if path.endswith(".zip")]
    assert output.rstrip().endswith(": 1 already stored")


def test_an_unreadable_page_or_a_bad_since_is_a_one_line_usage_error(site, tmp_path) -> None:
    db = tmp_path / "store.sqlite3"
    with socket.socket() as closed:  # a loopback port with nobody listening
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    for args, expected in [
        (["--page", f"http://127.0.0.1:{port}/quarterly-update"], "ConnectError"),
        (["--page", f"{site.url}/moved-away"], "HTTP 404 Not Found"),
        (["--page", f"{site.url}/good", "--since", "2020-13"], "--since must be"),
        (["--page", f"{site.url}/good", "--since", "2020"], "--since must be"),
    ]:
        code, output = _run(db, *args)
        assert code == 2, output
        assert output.startswith("error: ") and expected in output
        assert output.count("\n") == 1, output
    assert not db.exists()
    # a store path that cannot be a store: refused before anything is downloaded
    code, output = _run(tmp_path, "--page", f"{site.url}/good")
    assert code == 2 and output.startswith(f"error: cannot read the store {tmp_path}")
    assert not [path for path, _ in site.log if path.endswith(".zip")]


def test_a_page_without_release_links_fails(site, tmp_path) -> None:
    code, output = _run(tmp_path / "store.sqlite3", "--page", f"{site.url}/no-releases")
    assert code == 1
    assert "no Alpha-Numeric HCPCS zip link on the page" in output


def test_retries_give_up_restart_without_range_and_the_file_tells_the_release(
    site, tmp_path
) -> None:
    """Through the module's API: a link dropped at every try is refused after the retries;
    a server without Range support sends the whole file again; a name without a release is
    read, and what the file reads as decides (here: before --since, so not stored)."""
    events: list[updater.Event] = []
    report = updater.update(
        tmp_path / "store.sqlite3",
        f"{site.url}/flaky",
        "2020-01",
        retry=updater.Retry(attempts=3, backoff=0.01),
        on_event=events.append,
    )
    assert report.events == events and not report.ok and report.stored == []
    latest = f"{site.url}/files/zip/hcpcs-alpha-numeric-latest.zip"
    october = f"{site.url}/files/zip/october-2020-alpha-numeric-hcpcs-file.zip"
    by_link = {(e.action, e.url): e for e in report.events}
    # planned after the links whose names give a release
    assert [e.url for e in report.of("found")] == [october, latest]
    refused = by_link["refused", october]
    assert refused.release == "2020-10" and "gave up after 3 attempts" in refused.detail
    assert len(site.requested("/files/zip/october-2020-alpha-numeric-hcpcs-file.zip")) == 3
    assert by_link["found", latest].release is None
    body = site.files["/files/zip/hcpcs-alpha-numeric-latest.zip"].body
    sha = hashlib.sha256(body).hexdigest()
    assert f"{len(body):,} bytes, sha256 {sha}, 2 attempts (0 resumed, 1 from the start)" in (
        by_link["downloaded", latest].detail
    )
    assert by_link["verified", latest].release == "2019-01"
    assert "(read from the file)" in by_link["verified", latest].detail
    assert by_link["skipped", latest].detail.startswith("before 2020-01")
    assert _versions(tmp_path / "store.sqlite3") == []


def test_find_links_reads_the_names_cms_has_used() -> None:
    page = "https://www.cms.gov/medicare/coding-billing/healthcare-common-procedure-system/x"
    html = """<html><head><base href="/medicare/hcpcs/"></head><body>
      <a href="/files/zip/january-2025-alpha-numeric-hcpcs-file.zip">January 2025</a>
      <a href="https://www.cms.gov/files/zip/april-2024-alpha-numeric-hcpcs-files.zip">x</a>
      <a href="2024-alpha-numeric-hcpcs-file.zip">2024 (annual)</a>
      <a href="/files/zip/HCPC2026_JUL_ANWEB_06172026.zip">data</a>
      <a href="/files/zip/hcpcs-file-12345.zip">October 2025 Alpha-Numeric HCPCS File</a>
      <a href="/files/zip/march-2021-alpha-numeric-hcpcs-file.zip">March 2021</a>
      <a href="/files/zip/2025-dmepos-fee-schedule.zip">DMEPOS</a>
      <a href="/files/document/2025-alpha-numeric-hcpcs-readme.pdf">README</a>
      <a href="mailto:hcpcs@cms.hhs.gov">mail</a><a>no href</a>
    </body></html>"""
    links = updater.find_links(html, page)
    got = {
        link.url.removeprefix("https://www.cms.gov"): (link.hcpcs, link.release) for link in links
    }
    assert got == {
        "/files/zip/january-2025-alpha-numeric-hcpcs-file.zip": (True, "2025-01"),
        "/files/zip/april-2024-alpha-numeric-hcpcs-files.zip": (True, "2024-04"),
        "/medicare/hcpcs/2024-alpha-numeric-hcpcs-file.zip": (True, "2024-01"),
        "/files/zip/HCPC2026_JUL_ANWEB_06172026.zip": (True, "2026-07"),
        "/files/zip/hcpcs-file-12345.zip": (True, "2025-10"),  # from the link's text
        "/files/zip/march-2021-alpha-numeric-hcpcs-file.zip": (True, None),  # read it
        "/files/zip/2025-dmepos-fee-schedule.zip": (False, None),
    }
    stored = {"2025-01"}
    skipped = dict((link.name, why) for link, why in updater.plan(links, stored, "2024-07"))
    assert skipped["january-2025-alpha-numeric-hcpcs-file.zip"] == "already stored"
    assert skipped["april-2024-alpha-numeric-hcpcs-files.zip"] == "before 2024-07 (--since)"
    assert skipped["hcpcs-file-12345.zip"] is None
    assert skipped["march-2021-alpha-numeric-hcpcs-file.zip"] is None
    assert skipped["2025-dmepos-fee-schedule.zip"] == "not an Alpha-Numeric HCPCS file"
