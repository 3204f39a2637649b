"""Building the golden server and asking it the golden requests: shared by record.py (run
over the code at b0be068) and test_golden.py (run over the current tree), so both sides
build the store, send and normalise the same way.

The server is the real application (create_app) over a store filled as `hcpcs-tx load`
fills it (store_files: the CMS releases of STORE_RELEASES, their history resources and the
FHIR core code systems), asked in-process over ASGI.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import re
from collections.abc import Iterable, Iterator, Set
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypedDict

import httpx
from fastapi import FastAPI

from .requests import STORE_RELEASES, GoldenRequest

HERE = Path(__file__).parent
ANSWERS = HERE / "answers.jsonl.gz"
CHANGED = HERE / "changed.txt"


class Answer(TypedDict, total=False):
    """What the server answered: status, Content-Type, and the body as text when it is
    UTF-8 (answer) or else as base64 (answer_base64), after normalise()."""

    status: int
    content_type: str
    answer: str
    answer_base64: str


class Record(GoldenRequest, Answer):
    """One line of answers.jsonl.gz: the request and its answer."""


def golden_app(folder: Path) -> FastAPI:
    """The application over a new store in folder."""
    from terminology.api import create_app, engine_from_store
    from terminology.loader import store_files
    from terminology.store import Store

    path = folder / "golden.sqlite3"
    with Store(path) as store:
        store_files(store, list(STORE_RELEASES))
    return create_app(engine_from_store(path))


def ask_all(app: FastAPI, requests: Iterable[GoldenRequest]) -> list[Answer]:
    """Each request's normalised answer, asked in order on one event loop (httpx's ASGI
    transport: half the time of TestClient's thread hop per request). A server error is
    answered (500), not raised, so it is pinned as a client would see it."""
    return asyncio.run(_ask_all(app, list(requests)))


async def _ask_all(app: FastAPI, requests: list[GoldenRequest]) -> list[Answer]:
    since = datetime.now(UTC)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return [await _ask(client, request, since) for request in requests]


async def _ask(client: httpx.AsyncClient, request: GoldenRequest, since: datetime) -> Answer:
    content = request["body"].encode("utf-8") if request["body"] is not None else None
    response = await client.request(
        request["method"], request["path"], headers=request["headers"], content=content
    )
    sent = request["path"].encode("utf-8") + (content or b"")
    body = normalise(response.content, since, set(UUID.findall(sent)))
    answer = Answer(
        status=response.status_code, content_type=response.headers.get("content-type", "")
    )
    try:
        answer["answer"] = body.decode("utf-8")
    except UnicodeDecodeError:
        answer["answer_base64"] = base64.b64encode(body).decode("ascii")
    return answer


# What changes from one run to the next, and nothing else:
# - UUIDs the server makes: the id of every searchset and batch-response Bundle and the
#   expansion identifier (urn:uuid:...) are uuid4 per answer. A UUID the request holds
#   (tx-ecosystem resources carry fixed ones) is echoed, so it is kept.
# - Instants of the run: the expansion timestamp is the time of the request. An instant
#   within the run (from a minute before it started to a minute after now) is that; every
#   date in the data (releases, effective dates, terminations, RELEASE_DATE) is older.
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
INSTANT = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")
SLACK = timedelta(minutes=1)


def normalise(body: bytes, since: datetime, echoed: Set[bytes] = frozenset()) -> bytes:
    """body with each UUID the server made as $uuid$ and each instant of the run as $now$."""
    now = datetime.now(UTC) + SLACK

    def uuid(match: re.Match[bytes]) -> bytes:
        return match.group() if match.group() in echoed else b"$uuid$"

    def instant(match: re.Match[bytes]) -> bytes:
        when = datetime.fromisoformat(match.group().decode("ascii").replace("Z", "+00:00"))
        return b"$now$" if since - SLACK <= when <= now else match.group()

    return INSTANT.sub(instant, UUID.sub(uuid, body))


def write_records(records: Iterable[Record], path: Path = ANSWERS) -> int:
    """Write the records as gzipped JSON lines (mtime 0: the same answers, the same bytes)."""
    count = 0
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as sink:
        for record in records:
            sink.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
            count += 1
    return count


def read_records(path: Path = ANSWERS) -> Iterator[Record]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


def allowed_changes(path: Path = CHANGED) -> dict[str, str]:
    """changed.txt: request name -> the defect whose fix changes its answer."""
    allowed = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, defect = line.partition(" ")
            allowed[name] = defect.strip()
    return allowed
