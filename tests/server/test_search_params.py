"""Search as FHIR clients send it, over the 2019 and 2020 releases: _total, _sort, _count=0,
_summary, _elements, Prefer: handling (lenient by default, strict on request), POST
_search, paging links, bounded and checked numbers; _summary / _elements on read."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from terminology.api import create_app

from . import releases_2019_2020
from .conftest import HCPCS, parse
from .helpers import BASES

STRICT = {"Prefer": "handling=strict"}


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(releases_2019_2020.engine()))


def _bundle(client, url: str, status: int = 200, **kwargs) -> dict:
    response = client.get(url, **kwargs)
    assert response.status_code == status, response.text[:500]
    found = response.json()
    if found.get("resourceType") == "Bundle":
        parse(
            {
                **found,
                "entry": [
                    {**e, "resource": {k: v for k, v in e["resource"].items() if k != "concept"}}
                    for e in found.get("entry", [])
                ],
            },
            "r5" if url.startswith("/r5") else "r4",
        )
    else:
        parse(found, "r5" if url.startswith("/r5") else "r4")
    return found


def _links(bundle: dict) -> dict[str, dict[str, list[str]]]:
    return {k["relation"]: parse_qs(urlsplit(k["url"]).query) for k in bundle["link"]}


@pytest.mark.parametrize("base", BASES)
def test_total_none_estimate_accurate(client, base) -> None:
    url = f"/{base}/CodeSystem?url={HCPCS}&_elements=version"
    assert _bundle(client, url)["total"] == 2
    assert _bundle(client, url + "&_total=accurate")["total"] == 2
    assert _bundle(client, url + "&_total=estimate")["total"] == 2
    none = _bundle(client, url + "&_total=none")
    assert "total" not in none and len(none["entry"]) == 2
    _bundle(client, url + "&_total=maybe", 400)


@pytest.mark.parametrize("base", BASES)
def test_sort_ascending_descending_and_by_several_fields(client, base) -> None:
    url = f"/{base}/ValueSet?name=HCPCSBETOSO1A&_elements=version,name"
    down = _bundle(client, url + "&_sort=-version")
    assert [e["resource"]["version"] for e in down["entry"]] == ["2020-01", "2019-01"]
    up = _bundle(client, url + "&_sort=version")
    assert [e["resource"]["version"] for e in up["entry"]] == ["2019-01", "2020-01"]
    both = _bundle(client, f"/{base}/ValueSet?name=HCPCSBETOSO1&_sort=-version,name&_count=100")
    keys = [(e["resource"]["version"], e["resource"]["name"]) for e in both["entry"]]
    assert keys == sorted(keys, key=lambda k: (-int(k[0][:4]), k[1]))
    dated = _bundle(client, f"/{base}/CodeSystem?url={HCPCS}&_sort=-date&_elements=version")
    assert [e["resource"]["version"] for e in dated["entry"]] == ["2020-01", "2019-01"]
    assert _links(down)["self"]["_sort"] == ["-version"]
    outcome = _bundle(client, f"/{base}/ValueSet?_sort=colour", 400)
    assert "Sorting by 'colour' is not supported" in outcome["issue"][0]["details"]["text"]


@pytest.mark.parametrize("base", BASES)
def test_count_zero_and_summary_count_give_the_total_only(client, base) -> None:
    zero = _bundle(client, f"/{base}/ValueSet?name=HCPCSBETOS&_count=0")
    assert zero["total"] > 80 and "entry" not in zero
    assert [k["relation"] for k in zero["link"]] == ["self"]
    counted = _bundle(client, f"/{base}/ValueSet?name=HCPCSBETOS&_summary=count")
    assert counted["total"] == zero["total"] and "entry" not in counted


@pytest.mark.parametrize("base", BASES)
def test_summary_views_and_elements(client, base) -> None:
    url = f"/{base}/CodeSystem?url={HCPCS}&version=2019-01"
    for summary, kept, dropped in (
        ("true", {"url", "version", "status"}, {"concept", "property"}),
        ("text", {"url", "status", "content"}, {"version", "concept"}),
        ("data", {"url", "concept"}, {"text"}),
    ):
        (entry,) = _bundle(client, f"{url}&_summary={summary}")["entry"]
        assert kept <= set(entry["resource"]) and not dropped & set(entry["resource"])
        assert entry["resource"]["meta"]["tag"][0]["code"] == "SUBSETTED"
    (entry,) = _bundle(client, f"{url}&_summary=false&_elements=title")["entry"]
    assert entry["resource"]["title"].startswith("Healthcare Common Procedure")
    assert "concept" not in entry["resource"]
    _bundle(client, f"{url}&_summary=maybe", 400)


@pytest.mark.parametrize("base", BASES)
def test_unknown_parameters_lenient_by_default_strict_on_request(client, base) -> None:
    url = f"/{base}/ValueSet?name=HCPCSAllCodes&colour=blue&_include=ValueSet:x"
    lenient = _bundle(client, url)
    matches = [e for e in lenient["entry"] if e["search"]["mode"] == "match"]
    (outcome,) = [e for e in lenient["entry"] if e["search"]["mode"] == "outcome"]
    assert lenient["total"] == len(matches) == 2
    texts = [i["details"]["text"] for i in outcome["resource"]["issue"]]
    assert {i["severity"] for i in outcome["resource"]["issue"]} == {"warning"}
    assert any("'colour'" in t for t in texts) and any("'_include'" in t for t in texts)
    assert set(_links(lenient)["self"]) == {"name", "_count", "_offset"}  # what was used
    explicit = _bundle(client, url, headers={"Prefer": "handling=lenient"})
    assert explicit["total"] == 2
    strict = _bundle(client, url, 400, headers=STRICT)
    assert strict["resourceType"] == "OperationOutcome"
    assert "'colour'" in strict["issue"][0]["details"]["text"]
    assert _bundle(client, f"/{base}/ValueSet?name=HCPCSAllCodes", headers=STRICT)["total"] == 2


@pytest.mark.parametrize("base", BASES)
def test_post_search_with_a_form_body(client, base) -> None:
    form = {"name": "HCPCSBETOSO1", "version": "2020-01", "_count": "3", "_sort": "name"}
    response = client.post(f"/{base}/ValueSet/_search", data=form)
    assert response.status_code == 200, response.text
    bundle = response.json()
    parse(bundle, base)
    assert bundle["total"] == 8 and len(bundle["entry"]) == 3
    assert bundle["entry"][0]["resource"]["name"] == "HCPCSBETOSO1A"
    everything = client.post(f"/{base}/CodeSystem/_search", data={})
    assert everything.status_code == 200 and everything.json()["total"] >= 2
    wrong = client.post(f"/{base}/ValueSet/_search", json={"name": "x"})
    assert wrong.status_code == 415


@pytest.mark.parametrize("base", BASES)
def test_paging_links_and_bounded_checked_numbers(client, base) -> None:
    first = _bundle(client, f"/{base}/ValueSet?name=HCPCSBETOS&_count=10&_sort=name")
    links = _links(first)
    assert set(links) == {"self", "first", "last", "next"}
    assert links["next"]["_offset"] == ["10"] and links["next"]["_sort"] == ["name"]
    second = _bundle(client, f"/{base}/ValueSet?name=HCPCSBETOS&_count=10&_offset=10&_sort=name")
    assert _links(second)["previous"]["_offset"] == ["0"]
    assert second["entry"][0]["resource"]["name"] >= first["entry"][-1]["resource"]["name"]
    capped = _bundle(client, f"/{base}/ValueSet?_count=100000&_elements=name")
    assert _links(capped)["self"]["_count"] == ["1000"]
    for bad in ("_count=%C2%B2", "_count=-1", "_count=1.5", "_offset=%D9%A3", "_offset=x"):
        outcome = _bundle(client, f"/{base}/ValueSet?{bad}", 400)
        assert outcome["issue"][0]["severity"] == "error"


@pytest.mark.parametrize("base", BASES)
def test_summary_and_elements_on_read(client, base) -> None:
    summary = client.get(f"/{base}/CodeSystem/hcpcs-2020-01?_summary=true", headers={})
    assert summary.status_code == 200
    assert len(summary.content) < 20_000  # not the 13 MB of concepts
    found = summary.json()
    parse(found, base)
    assert "concept" not in found and found["version"] == "2020-01"
    assert found["meta"]["tag"][0]["code"] == "SUBSETTED"
    elements = _bundle(client, f"/{base}/CodeSystem/hcpcs-2020-01?_elements=title,count")
    assert elements["count"] == 7079 and "concept" not in elements
    assert set(elements) >= {"resourceType", "id", "title", "status", "content"}
    text = _bundle(client, f"/{base}/ValueSet/hcpcs-all-2019-01?_summary=text")
    assert "compose" not in text
    _bundle(client, f"/{base}/CodeSystem/hcpcs-2020-01?_summary=count", 400)


def test_stored_content_too_big_for_xml_is_refused_at_once(client) -> None:
    """A search of every CodeSystem as XML would make fhir.resources write 27 MB of
    concepts (minutes, gigabytes): a 406 that says what to ask instead."""
    pytest.importorskip("lxml", reason="fhir.resources writes XML with lxml")
    for url in ("/r4/CodeSystem?_format=xml", "/r5/CodeSystem/hcpcs-2020-01?_format=xml"):
        response = client.get(url)
        assert response.status_code == 406  # an OperationOutcome, in XML as asked
        assert "<OperationOutcome" in response.text and "too-costly" in response.text
        assert "too big to be given as XML" in response.text and "_summary" in response.text
    small = client.get("/r4/CodeSystem?_format=xml&_summary=true")
    assert small.status_code == 200 and small.text.startswith("<?xml")
