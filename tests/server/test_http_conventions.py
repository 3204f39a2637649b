"""HTTP conventions over real data (the 2019 and 2020 CMS releases): CORS, gzip, ETag /
Last-Modified / Cache-Control and 304, /health and /ready, the access log, and the log
line of a 500."""

from __future__ import annotations

import gzip
import logging
import re

import orjson
import pytest
from fastapi.testclient import TestClient

from terminology import compression
from terminology.api import create_app
from terminology.engine import Engine

from . import releases_2019_2020
from .conftest import HCPCS, parse

LOOKUP = f"/r4/CodeSystem/$lookup?system={HCPCS}&code=J0120"
PLAIN = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip"}


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(releases_2019_2020.engine()))


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def records():
    """The messages logged on `hcpcs_tx` at INFO and above while the test runs."""
    logger = logging.getLogger("hcpcs_tx")
    access = logging.getLogger("hcpcs_tx.access")
    handler = _Records()
    saved = logger.level, access.disabled
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    access.disabled = False
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(saved[0])
    access.disabled = saved[1]


# --- CORS ------------------------------------------------------------------------------------


def test_cors_preflight_and_answers_for_any_origin_by_default(client) -> None:
    asked = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, if-none-match",
    }
    preflight = client.options("/r4/ValueSet/$validate-code", headers=asked)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "content-type, if-none-match"
    answer = client.get(LOOKUP, headers={"Origin": "https://app.example"})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "ETag" in answer.headers["access-control-expose-headers"]
    assert "access-control-allow-origin" not in client.get(LOOKUP).headers  # no Origin


def test_cors_origins_are_configurable(monkeypatch) -> None:
    monkeypatch.setenv("HCPCS_TX_CORS_ORIGINS", "https://app.example, https://other.example")
    client = TestClient(create_app(releases_2019_2020.engine()))
    allowed = client.get(LOOKUP, headers={"Origin": "https://other.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://other.example"
    assert "Origin" in allowed.headers["vary"]
    refused = client.get(LOOKUP, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 200 and "access-control-allow-origin" not in refused.headers
    asked = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    assert client.options(LOOKUP, headers=asked).status_code == 400
    monkeypatch.setenv("HCPCS_TX_CORS_ORIGINS", "")
    off = TestClient(create_app(releases_2019_2020.engine()))
    assert "access-control-allow-origin" not in off.get(LOOKUP, headers=asked).headers


# --- compression -----------------------------------------------------------------------------


def test_the_hcpcs_code_system_read_goes_out_gzipped_and_compressed_once(
    client, monkeypatch
) -> None:
    url = "/r4/CodeSystem/hcpcs-2019-01"
    plain = client.get(url, headers=PLAIN)
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert len(plain.content) > 10_000_000
    big: list[int] = []
    deflate = compression.deflate

    def counted(piece: bytes, level: int = compression.LEVEL):
        if len(piece) > 1_000_000:
            big.append(len(piece))
        return deflate(piece, level)

    monkeypatch.setattr(compression, "deflate", counted)
    for _ in range(3):
        zipped = client.get(url, headers=GZIP)
        assert zipped.headers["content-encoding"] == "gzip"
        assert int(zipped.headers["content-length"]) < len(plain.content) / 10
        assert zipped.content == plain.content  # httpx decoded it
    assert big == [len(plain.content)]  # compressed the first time only


def test_a_search_bundle_around_stored_bodies_is_one_gzip_stream(client) -> None:
    url = f"/r5/CodeSystem?url={HCPCS}&_sort=version"
    plain = client.get(url, headers=PLAIN).json()
    response = client.get(url, headers=GZIP)
    assert response.headers["content-encoding"] == "gzip"
    zipped = response.json()
    assert [e["resource"]["version"] for e in zipped["entry"]] == ["2019-01", "2020-01"]
    assert {**zipped, "id": None} == {**plain, "id": None}
    with client.stream("GET", url, headers=GZIP) as streamed:
        raw = b"".join(streamed.iter_raw())
    assert orjson.loads(gzip.decompress(raw))["total"] == 2  # one member, as gzip reads it


def test_small_answers_stay_plain_and_large_operation_answers_are_gzipped(
    client, monkeypatch
) -> None:
    small = client.get("/r4/$versions", headers=GZIP)
    assert len(small.content) < compression.MIN_SIZE
    assert "content-encoding" not in small.headers
    lookup = client.get(LOOKUP, headers=GZIP)  # about 4 KB: the hot path is not compressed
    assert compression.MIN_SIZE < len(lookup.content) < compression.DYNAMIC_MIN_SIZE
    assert "content-encoding" not in lookup.headers
    monkeypatch.setenv("HCPCS_TX_GZIP_MIN_BYTES", "1024")  # for slow links
    eager = TestClient(create_app(releases_2019_2020.engine()))
    assert eager.get(LOOKUP, headers=GZIP).headers["content-encoding"] == "gzip"
    expansion = client.get(f"/r4/ValueSet/$expand?url={HCPCS}?fhir_vs&count=200", headers=GZIP)
    assert expansion.status_code == 200
    assert expansion.headers["content-encoding"] == "gzip"
    assert len(expansion.json()["expansion"]["contains"]) == 200
    assert "content-encoding" not in client.get(LOOKUP, headers=PLAIN).headers


# --- caching ---------------------------------------------------------------------------------


def test_reads_and_operation_answers_carry_validators_and_answer_304(client) -> None:
    for url in (LOOKUP, "/r5/CodeSystem/hcpcs-betos", "/r4/ValueSet?name=HCPCSBETOS"):
        first = client.get(url)
        assert first.status_code == 200
        etag = first.headers["etag"]
        assert re.fullmatch(r'W/"[0-9a-f]+-json"', etag)
        assert first.headers["last-modified"] == "Wed, 01 Jan 2020 00:00:00 GMT"  # 2020-01
        assert first.headers["cache-control"] == "public, max-age=300"
        again = client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
        strong = client.get(url, headers={"If-None-Match": f'"x", {etag.removeprefix("W/")}'})
        assert strong.status_code == 304
        assert client.get(url, headers={"If-None-Match": 'W/"other"'}).status_code == 200
    assert client.get(LOOKUP, headers={"If-None-Match": "*"}).status_code == 304


def test_the_etag_names_the_content_and_the_variant(client, engine) -> None:
    etag = client.get(LOOKUP).headers["etag"]
    same_data = TestClient(create_app(releases_2019_2020.engine()))  # another worker
    assert same_data.get(LOOKUP).headers["etag"] == etag
    other_data = TestClient(create_app(engine))  # the 2020 release alone
    assert other_data.get(LOOKUP).headers["etag"] != etag
    xml = client.get(LOOKUP, headers={"Accept": "application/fhir+xml"}).headers["etag"]
    french = client.get(LOOKUP, headers={"Accept-Language": "fr"}).headers["etag"]
    assert len({etag, xml, french}) == 3


def test_no_validators_on_failures_posts_and_request_supplied_resources(client) -> None:
    assert "etag" not in client.get("/r4/CodeSystem/nope").headers
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "system", "valueUri": HCPCS},
            {"name": "code", "valueCode": "J0120"},
        ],
    }
    posted = client.post("/r4/CodeSystem/$lookup", json=body)
    assert posted.status_code == 200 and "etag" not in posted.headers
    supplement = {"resourceType": "CodeSystem", "url": "http://x.org/cs", "status": "active"}
    text = orjson.dumps(supplement).decode()
    brought = client.get(LOOKUP, params={"tx-resource": text})
    assert "etag" not in brought.headers and "cache-control" not in brought.headers


# --- health, readiness -----------------------------------------------------------------------


def test_health_and_ready(client) -> None:
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert "expansions" in health.json()["caches"]  # what the memos hold, by kind
    ready = client.get("/ready")
    assert ready.status_code == 200
    found = ready.json()
    assert found["status"] == "ready"
    assert found["hcpcs"] == {"versions": ["2019-01", "2020-01"], "default": "2020-01"}
    assert found["resources"]["CodeSystem"] >= 2
    empty = TestClient(create_app(Engine([])))
    assert empty.get("/health").status_code == 200
    not_ready = empty.get("/ready")
    assert not_ready.status_code == 503
    assert not_ready.json()["status"] == "not ready"


# --- logs ------------------------------------------------------------------------------------


def test_access_log_one_line_per_request_at_info(client, records) -> None:
    client.get(LOOKUP)
    client.get("/r4/CodeSystem/nope")
    lines = [line for line in records.lines if line.startswith("GET /r4/")]
    assert len(lines) == 2
    assert re.fullmatch(re.escape(f"GET {LOOKUP} 200 ") + r"\d+\.\d\dms", lines[0])
    assert lines[1].startswith("GET /r4/CodeSystem/nope 404 ")
    logging.getLogger("hcpcs_tx").setLevel(logging.WARNING)  # serve --log-level warning
    client.get(LOOKUP)
    assert len([line for line in records.lines if line.startswith("GET")]) == 2


def test_a_500_is_logged_with_the_request_and_its_query(records) -> None:
    class Broken:
        def resources(self, kind: str, fhir_version: str | None = None) -> list:
            return []

        def run(self, request):
            raise RuntimeError("a bug")

    client = TestClient(create_app(Broken()))
    response = client.get("/r4/CodeSystem/$lookup?code=x&system=y")
    assert response.status_code == 500
    parse(response.json(), "r4")
    assert "unexpected error on GET /r4/CodeSystem/$lookup?code=x&system=y" in records.lines
    assert "GET /r4/CodeSystem/$lookup?code=x&system=y 500" in " ".join(records.lines)
