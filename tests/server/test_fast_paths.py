"""The performance shortcuts (issue 6) answer exactly what the plain paths answer: the
batch memo, the cached $lookup properties, the query parser, and the stored resources'
cached JSON spliced into reads and searches. The engine's memos are observed through
caches.report() (what /health shows), not through their private names."""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
import pytest

import codesystem
from terminology import api, caches
from terminology.engine import Engine, OperationRequest
from terminology.rest.search import search

from .conftest import HCPCS, TEST_MAP

ALL_CODES = f"{HCPCS}?fhir_vs"


def _batch(codings: list[dict]) -> OperationRequest:
    validations = [
        {
            "name": "validation",
            "resource": {
                "resourceType": "Parameters",
                "parameter": [{"name": "coding", "valueCoding": coding}],
            },
        }
        for coding in codings
    ]
    parameters = [{"name": "url", "valueUri": ALL_CODES}, *validations]
    return OperationRequest(
        "batch-validate-code", "ValueSet", {"resourceType": "Parameters", "parameter": parameters}
    )


def _single(coding: dict) -> dict:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": ALL_CODES},
            {"name": "coding", "valueCoding": coding},
        ],
    }


def test_batch_memo_answers_as_each_validation_alone(resources) -> None:
    engine = Engine([*resources, TEST_MAP], codesystem.HCPCS_ALIASES)  # its own memo
    concepts = next(r for r in resources if r.get("url") == HCPCS)["concept"][:200]
    codings = [{"system": HCPCS, "code": c["code"], "display": c["display"]} for c in concepts]
    codings += [{"system": HCPCS, "code": c["code"]} for c in concepts[:50]]
    codings += [{"system": HCPCS, "code": "J0120", "display": "wrong"}, {"code": "J0120"}]
    codings += [{"system": HCPCS, "code": "NOPE1"}, {"system": "urn:x", "code": "J0120"}]
    kept_before = _batch_answers_kept()
    first = engine.run(_batch(codings))
    kept = _batch_answers_kept() - kept_before
    again = engine.run(_batch(codings))  # from the memo where it may
    assert orjson.dumps(first) == orjson.dumps(again)
    alone = [engine.run(OperationRequest("validate-code", "ValueSet", _single(c))) for c in codings]
    answers = [p["resource"] for p in again["parameter"]]
    assert [orjson.dumps(a) for a in answers] == [orjson.dumps(a) for a in alone]
    assert 0 < kept < len(codings)  # plain valid answers only (not the wrong or unknown)


def test_batch_with_tx_resources_is_not_memoised(resources) -> None:
    engine = Engine(resources, codesystem.HCPCS_ALIASES)
    request = _batch([{"system": HCPCS, "code": "J0120"}])
    request.parameters["parameter"].append({"name": "tx-resource", "resource": TEST_MAP})
    kept_before = _batch_answers_kept()
    engine.run(request)
    assert _batch_answers_kept() == kept_before


def _batch_answers_kept() -> int:
    entries = caches.report()["batch-answers"]["entries"]
    assert isinstance(entries, int)
    return entries


@pytest.mark.parametrize("wanted", [None, ["betos"], ["inactive", "parent", "child"], ["*"]])
def test_lookup_properties_cached_as_computed(resources, wanted) -> None:
    parameters = [{"name": "system", "valueUri": HCPCS}, {"name": "code", "valueCode": "J0120"}]
    parameters += [{"name": "property", "valueCode": w} for w in wanted or []]
    request = OperationRequest("lookup", "CodeSystem", {"resourceType": "Parameters"})
    request.parameters["parameter"] = parameters
    caches.forget_all()
    computed = Engine(resources, codesystem.HCPCS_ALIASES).run(request)  # nothing kept yet
    properties = [p for p in computed["parameter"] if p["name"] == "property"]
    assert properties  # J0120 has every property asked for here
    if wanted and "*" not in wanted:
        asked = {part["valueCode"] for p in properties for part in p["part"][:1]}
        assert asked <= set(wanted)
    engine = Engine(resources, codesystem.HCPCS_ALIASES)
    engine.run(request)
    assert engine.run(request) == computed  # the second time from the cached pieces


@pytest.mark.parametrize(
    "query",
    [
        b"",
        b"a",
        b"a=&b",
        b"&&a=1&&",
        b"x=%zz%4&y=a+b%2B",
        b"q=%E2%82%AC%E2",
        b"q=%C3%28x",
        b"k+e%20y=v=w;z",
        "\u00e9=\u00fc".encode(),
        b"a=1&a=2",
        b"url=http%3A%2F%2Fx.org%2Fcs&code=A+B",
    ],
)
def test_query_parser_reads_as_starlette(query: bytes) -> None:
    expected = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    assert api._parse_query(query) == expected
    assert api._parse_query(query) == expected  # cached unquoting


@pytest.mark.parametrize("base", ["r4", "r5"])
def test_stored_json_is_what_rendering_gives(engine, base) -> None:
    stored = api._StoredJson(engine)
    code_systems = engine.resources("CodeSystem")
    bundle = search(code_systems, "CodeSystem", [("url", HCPCS)], "http://x/" + base)
    pieces = stored.render(bundle, base)
    assert len(pieces) == 3  # the Bundle around the one stored CodeSystem's kept bytes
    assert b"".join(pieces) == api._render(bundle, base, "json").body
    hcpcs = next(r for r in code_systems if r.get("url") == HCPCS)
    for _ in range(2):  # serialised, then kept
        assert stored.render(hcpcs, base) == [api._render(hcpcs, base, "json").body]
    assert stored.render({"resourceType": "CodeSystem", "url": "x"}, base) is None


def test_search_and_read_answer_the_stored_json(client) -> None:
    plain = {"Accept-Encoding": "identity"}  # httpx asks for gzip by default
    found = client.get("/r4/CodeSystem", params={"url": HCPCS}, headers=plain)
    assert found.status_code == 200
    assert int(found.headers["content-length"]) == len(found.content) > api.CHUNK  # in chunks
    entry = found.json()["entry"][0]["resource"]
    read = client.get(f"/r4/CodeSystem/{entry['id']}")
    assert read.status_code == 200 and read.json() == entry
    assert "effectivePeriod" not in entry  # R4: converted before it was kept


def test_store_writes_each_distinct_part_once_and_reads_back_equal(tmp_path, resources) -> None:
    import sqlite3
    import zlib

    from terminology.store import _PARTS, Store, _decode

    hcpcs = next(r for r in resources if r.get("url") == HCPCS)
    odd = {
        "resourceType": "CodeSystem",
        "id": "odd",
        "url": "http://example.org/odd",
        "content": "complete",
        "concept": [
            {"code": "a", "property": [{"code": "p", "valueString": "x"}], "display": "A"},
            {"code": "b", "property": [{"code": "p", "valueString": "x"}], "concept": [{}]},
            {"code": "c", "designation": ["not a dict"], "property": {"not": "a list"}},
        ],
    }
    with Store(tmp_path / "s.db") as store:
        store.load([hcpcs, odd])
        back = store.resources()
    assert [orjson.dumps(r) for r in back] == [orjson.dumps(hcpcs), orjson.dumps(odd)]
    concepts = back[1]["concept"]
    assert concepts[0]["property"][0] is concepts[1]["property"][0]  # one object per part
    assert list(concepts[0]) == ["code", "property", "display"]  # key order kept
    rows = sqlite3.connect(tmp_path / "s.db").execute("SELECT zipped, json FROM resource")
    raw = [orjson.loads(zlib.decompress(b) if z else b) for z, b in rows]
    assert all(_PARTS in r for r in raw)
    old = zlib.compress(orjson.dumps(odd))  # a row written before the parts table
    assert _decode(1, old) == odd
