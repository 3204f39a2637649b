"""The web pages through HTTP, over the real 2019 and 2020 releases: what each page shows,
checked against the data, and that every page is valid HTML5 (htmlcheck.parse)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from terminology.engine import Engine

from .htmlcheck import find_text, parse, text_of

HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def page(client: TestClient, url: str, status: int = 200):
    """GET url as a browser does; the parsed (checked) document."""
    response = client.get(url, headers={"accept": "text/html"})
    assert response.status_code == status, (url, response.text[:500])
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert re.fullmatch(r"app;dur=\d+\.\d\d", response.headers["server-timing"])
    return parse(response.text)


def rows(document, caption_start: str = "") -> list[list[str]]:
    """The body rows of the first table whose caption starts so, as cell texts."""
    for table in document.iter("table"):
        if text_of(table.find("caption")).startswith(caption_start):
            return [[text_of(cell) for cell in row] for row in table.findall("tbody/tr")]
    raise AssertionError(f"no table captioned {caption_start!r}")


def links(document) -> dict[str, str]:
    """href -> link text of every link."""
    return {a.get("href"): text_of(a) for a in document.iter("a")}


def concepts(engine: Engine, version: str) -> dict[str, dict]:
    held = [cs for cs in engine.resources("CodeSystem") if cs["url"] == HCPCS]
    (found,) = [cs for cs in held if cs["version"] == version]
    return {c["code"]: c for c in found["concept"]}


def values(concept: dict, prop: str) -> set[str]:
    found = set()
    for p in concept.get("property", []):
        if p["code"] == prop:
            raw = next(v for k, v in p.items() if k.startswith("value"))
            found.add(raw["code"] if isinstance(raw, dict) else str(raw).lower())
    return found


# --- search ---------------------------------------------------------------------------------


def test_search_page_is_a_get_form_with_labelled_filters_and_every_release(client):
    document = page(client, "/")
    form = document.find(".//form[@role='search']")
    assert form.get("method") == "get" and form.get("action") == "/"
    names = {field.get("name") for field in form.iter() if field.get("name")}
    assert {"q", "version", "section", "betos", "coverage", "asc", "status"} <= names
    releases = document.findall(".//select[@id='version']/option")
    assert [o.get("value") for o in releases] == ["2020-01", "2019-01"]
    assert releases[0].get("selected") is not None  # the default: the latest release
    betos = {o.get("value"): text_of(o) for o in document.findall(".//select[@id='betos']/option")}
    assert betos["O1E"] == "O1E: Other drugs"
    assert "7,079 codes in HCPCS 2020-01" in text_of(document.find(".//main"))


def test_search_finds_a_code_by_long_or_short_description_or_code(client):
    for query in ("tetracycline", "Tetracyclin injection", "J0120", "j0120"):
        found = rows(page(client, f"/?q={query}"), "Search results")
        assert found[0][:2] == ["J0120", "Injection, tetracycline, up to 250 mg"], query


def test_search_filters_match_the_concept_properties(client, engine):
    document = page(client, "/?betos=O1E&section=J&status=active&count=100")
    expected = sorted(
        code
        for code, c in concepts(engine, "2020-01").items()
        if values(c, "betos") == {"O1E"}
        and values(c, "section") == {"J"}
        and values(c, "inactive") == {"false"}
    )
    total = int(
        re.search(r"([\d,]+) codes in", text_of(document.find(".//main"))).group(1).replace(",", "")
    )
    assert total == len(expected) > 100
    assert [row[0] for row in rows(document, "Search results")] == expected[:100]


def test_search_by_coverage_and_asc_group(client, engine):
    held = concepts(engine, "2020-01")
    for query, test in (
        ("coverage=I", lambda c: values(c, "coverage") == {"I"}),
        ("asc=YY", lambda c: values(c, "asc-payment-group") == {"YY"}),
        (
            "asc=none&section=L",
            lambda c: not values(c, "asc-payment-group") and values(c, "section") == {"L"},
        ),
    ):
        text = text_of(page(client, f"/?{query}").find(".//main"))
        total = int(re.search(r"([\d,]+) codes in", text).group(1).replace(",", ""))
        assert total == sum(1 for c in held.values() if test(c)), query


def test_search_in_an_older_release_and_by_status(client):
    old = rows(page(client, "/?q=iobenguane&version=2019-01"), "Search results")
    assert ["C9408", "Iodine i-131 iobenguane, therapeutic, 1 millicurie", "active"] in old
    assert "A9590" not in [row[0] for row in old]  # added in 2020-01
    ended = rows(page(client, "/?q=iobenguane&status=terminated"), "Search results")
    assert {row[0] for row in ended} == {"C9407", "C9408"}
    assert all(row[2] == "terminated" for row in ended)
    document = page(client, "/?q=iobenguane&version=2019-01")
    assert links(document).get("/code/C9408?version=2019-01") == "C9408"


def test_search_pages_through_the_results(client):
    document = page(client, "/?q=injection&count=10&page=3")
    assert len(rows(document, "Search results")) == 10
    pager = document.find(".//nav[@aria-label='Result pages']")
    hrefs = {text_of(a): a.get("href") for a in pager.iter("a")}
    assert hrefs["Previous"] == "/?q=injection&count=10&page=2"
    assert hrefs["Next"] == "/?q=injection&count=10&page=4"
    assert text_of(pager.find(".//span[@aria-current='page']")).startswith("Page 3 of ")
    last = int(text_of(pager.find(".//span[@aria-current='page']")).split()[-1])
    page(client, f"/?q=injection&count=10&page={last}")
    page(client, f"/?q=injection&count=10&page={last + 1}", 404)


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/?page=0", 400),
        ("/?page=abc", 400),
        ("/?page=99999999999999999999", 400),
        ("/?page=-1", 400),
        ("/?count=0", 400),
        ("/?count=101", 400),
        ("/?count=1e3", 400),
        ("/?version=1999-01", 404),
        ("/?version=%3Cscript%3E", 404),
        ("/?betos=ZZZ", 400),
        ("/?status=gone", 400),
        ("/?q=%25%25%25", 400),
        ("/?q=" + "a" * 201, 400),
        ("/?q=%FF%FE", 400),
    ],
)
def test_bad_search_input_is_a_4xx_page(client, url, status):
    document = page(client, url, status)
    if status != 200:
        assert text_of(document.find(".//p[@class='status-code']")) == f"Error {status}"


def test_suggest_answers_json_for_the_typeahead(client):
    found = client.get("/suggest", params={"q": "tetracyc"}).json()
    assert found[0] == {
        "code": "J0120",
        "display": "Injection, tetracycline, up to 250 mg",
        "inactive": False,
    }
    assert client.get("/suggest", params={"q": "j0120"}).json()[0]["code"] == "J0120"
    old = client.get("/suggest", params={"q": "iobenguane", "version": "2019-01"}).json()
    assert "C9408" in [f["code"] for f in old] and "A9590" not in [f["code"] for f in old]
    new = client.get("/suggest", params={"q": "iobenguane"}).json()
    assert {
        "code": "C9408",
        "display": "Iodine i-131 iobenguane, therapeutic, 1 millicurie",
        "inactive": True,
    } in new
    assert len(client.get("/suggest", params={"q": "injection"}).json()) == 8
    assert client.get("/suggest", params={"q": ""}).json() == []
    for params, status in (({"q": "a" * 300}, 400), ({"q": "x", "version": "nope"}, 404)):
        response = client.get("/suggest", params=params)
        assert response.status_code == status and "error" in response.json()


# --- a code ----------------------------------------------------------------------------------


def test_code_page_shows_descriptions_and_every_property_with_its_meaning(client, engine):
    document = page(client, "/code/J0120")
    assert text_of(document.find(".//h1")) == "J0120 Injection, tetracycline, up to 250 mg"
    summary = find_text(document, ".//dl[@class='summary']/dd")
    assert summary[:2] == ["Injection, tetracycline, up to 250 mg", "Tetracyclin injection"]
    table = {row[0]: row[1:] for row in rows(document, "Every property")}
    assert table["betos"] == ["O1E (Other drugs)", "Berenson-Eggers Type of Service category."]
    assert table["coverage"][0] == "D (Special coverage instructions apply)"
    assert table["section"][0] == "J (Drugs administered other than oral method)"
    assert table["added-date"][0] == "1986-01-01"
    declared = {p["code"] for c in concepts(engine, "2020-01")["J0120"]["property"] for p in [c]}
    assert set(table) == declared  # every property of the concept, none left out
    assert text_of(document.find(".//p[@class='notice active']")) == "Active in HCPCS 2020-01."


def test_code_page_lists_the_value_sets_holding_it(client):
    document = page(client, "/code/J0120")
    section = document.find(".//section[@aria-labelledby='valuesets-heading']")
    held = {a.get("href"): text_of(a) for a in section.iter("a")}
    assert held == {
        "/ValueSet/hcpcs-all-2020-01": "All HCPCS Level II codes",
        "/ValueSet/hcpcs-active-2020-01": "Active HCPCS Level II codes",
        "/ValueSet/hcpcs-procedures-2020-01": "HCPCS Level II procedure codes",
        "/ValueSet/hcpcs-betos-O1E-2020-01": "HCPCS codes in BETOS O1E: Other drugs",
    }
    ended = document = page(client, "/code/C9408")
    section = ended.find(".//section[@aria-labelledby='valuesets-heading']")
    held = {a.get("href") for a in section.iter("a")}
    assert "/ValueSet/hcpcs-terminated-2020-01" in held
    assert "/ValueSet/hcpcs-active-2020-01" not in held


def test_code_page_gives_the_fhir_request_as_curl(client):
    document = page(client, "/code/J0120")
    curl = text_of(document.find(".//section[@class='fhir']/pre/code"))
    assert curl == (
        "curl -s 'http://testserver/r4/CodeSystem/$lookup?system="
        f"{HCPCS}&code=J0120&version=2020-01'"
    )
    answer = client.get(curl.split("'")[1].replace("http://testserver", ""))
    assert answer.headers["content-type"] == "application/fhir+json"
    betos = [
        p
        for p in answer.json()["parameter"]
        if p["name"] == "property" and p["part"][0]["valueCode"] == "betos"
    ]
    assert betos[0]["part"][1]["valueCoding"]["display"] == "Other drugs"


def test_a_code_terminated_in_2020_shows_its_end_and_its_replacement(client):
    document = page(client, "/code/C9408")
    notice = text_of(document.find(".//div[@class='notice terminated']"))
    assert notice == (
        "Terminated: its last day of use was 2019-12-31. "
        "Replaced by A9590 (Iodine i-131, iobenguane, 1 millicurie)."
    )
    assert links(document.find(".//div[@class='notice terminated']")) == {"/code/A9590": "A9590"}
    life = rows(document, "What changed for C9408")
    assert life[0][:2] == ["2019-01", "2019-01-01"]
    assert life[0][2] == "In the first stored release (CMS added it on 2019-01-01)"
    assert life[1][0] == "2020-01"
    assert "Terminated: last day of use 2019-12-31" in life[1][2]
    assert "cross-reference: (none) → A9590 (Iodine i-131, iobenguane, 1 millicurie)" in life[1][2]
    assert (
        "action: A (Add procedure or modifier code) → D (Discontinue procedure or modifier code)"
        in life[1][2]
    )


def test_the_replacement_code_says_what_it_replaces_and_when_it_was_added(client):
    document = page(client, "/code/A9590")
    replaces = document.findall(".//dl[@class='summary']/dd")[-1]
    assert links(replaces) == {"/code/C9408": "C9408"}
    life = rows(document, "What changed for A9590")
    assert life == [["2020-01", "2020-01-01", "Added in this release (CMS added-date 2020-01-01)"]]


def test_description_and_property_changes_across_releases(client):
    life = rows(page(client, "/code/J9355"), "What changed for J9355")
    assert (
        "Description changed from “Injection, trastuzumab, 10 mg” to "
        "“Injection, trastuzumab, excludes biosimilar, 10 mg”"
    ) in life[1][2]
    life = rows(page(client, "/code/B4105"), "What changed for B4105")
    assert "coverage: D (Special coverage instructions apply) → C (Carrier judgment)" in life[1][2]
    assert life[1][2].count("pricing-indicator: 00 ") == 1
    life = rows(page(client, "/code/J0120"), "What changed for J0120")
    assert life[1] == ["2020-01", "2020-01-01", "no change"]


def test_code_page_of_an_older_release(client):
    document = page(client, "/code/C9408?version=2019-01")
    assert text_of(document.find(".//p[@class='notice active']")) == "Active in HCPCS 2019-01."
    picker = document.find(".//dl[@class='summary']/dd/ul")
    assert links(picker) == {"/code/C9408": "2020-01"}
    assert text_of(picker.find(".//span[@aria-current='page']")) == "2019-01"
    curl = text_of(document.find(".//section[@class='fhir']/pre/code"))
    assert curl.endswith("code=C9408&version=2019-01'")


def test_unknown_code_suggests_the_right_case(client):
    document = page(client, "/code/j0120", 404)
    assert "There is no code 'j0120' in HCPCS" in text_of(document.find(".//main"))
    assert (
        links(document)["/code/J0120"]
        == "Did you mean J0120: Injection, tetracycline, up to 250 mg"
    )


def test_unknown_code_suggests_close_matches_and_other_releases(client):
    near = links(page(client, "/code/J012", 404))
    assert near["/code/J0120"] == "J0120: Injection, tetracycline, up to 250 mg"
    document = page(client, "/code/A9590?version=2019-01", 404)
    assert "It is in 2020-01." in text_of(document.find(".//main"))
    assert links(document)["/code/A9590"] == "A9590 in HCPCS 2020-01"


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/code/%3Cscript%3Ealert(1)%3C%2Fscript%3E", 404),
        ("/code/" + "X" * 500, 404),
        ("/code/%25%25", 404),
        ("/code/J0120?version=2030-01", 404),
        ("/code/J0120?version=%22%3E%3Cb%3E", 404),
        ("/release/2031-07", 404),
        ("/release/2020-01?kind=bogus", 400),
        ("/release/2020-01?kind=added&page=999", 404),
        ("/release/2020-01?kind=added&page=x", 400),
        ("/release/2019-01?kind=added", 404),
        ("/ValueSet/no-such-set", 404),
        ("/CodeSystem/no-such-system", 404),
        ("/ValueSet/hcpcs-all-2020-01?count=0", 400),
        ("/ValueSet/hcpcs-all-2020-01?count=100000", 400),
        ("/ValueSet/hcpcs-all-2020-01?page=1000", 404),
        ("/ValueSet/hcpcs-all-2020-01?page=100000", 400),
        ("/code/J0120/../x", 404),
        ("/CodeSystem/hcpcs-2020-01?page=-3", 400),
    ],
)
def test_bad_input_is_an_escaped_4xx_page(client, url, status):
    response = client.get(url)
    assert response.status_code == status
    parse(response.text)
    assert "<script>" not in response.text.split("<body>")[1].replace("<script src=", "")
    assert "<b>" not in response.text


# --- value sets, code systems, releases ------------------------------------------------------


def test_value_set_page_shows_its_definition_and_a_paged_expansion(client):
    document = page(client, "/ValueSet/hcpcs-betos-O1E-2020-01")
    assert text_of(document.find(".//h1")) == "HCPCS codes in BETOS O1E: Other drugs 2020-01"
    rule = text_of(document.find(".//ul[@class='rules']/li"))
    assert rule == f"Include codes from {HCPCS} version 2020-01 where betos = O1E (Other drugs)"
    main = text_of(document.find(".//main"))
    assert "897 codes; showing 1–25." in main
    second = rows(page(client, "/ValueSet/hcpcs-betos-O1E-2020-01?page=2"), "Codes, page 2 of 36")
    assert len(second) == 25
    found = rows(page(client, "/ValueSet/hcpcs-betos-O1E-2020-01?q=tetracycline"), "Codes")
    assert found == [["J0120", "Injection, tetracycline, up to 250 mg", "active"]]
    assert links(document)["/r4/ValueSet/hcpcs-betos-O1E-2020-01?_format=json"].startswith(
        "This ValueSet"
    )


def test_code_system_pages(client):
    document = page(client, "/CodeSystem/hcpcs-2020-01")
    facts = dict(
        zip(
            find_text(document, ".//dl[@class='facts']/dt"),
            find_text(document, ".//dl[@class='facts']/dd"),
            strict=True,
        )
    )
    assert facts["Version"] == "2020-01" and facts["Concepts"] == "7079"
    declared = {row[0]: row[1:] for row in rows(document, "The properties")}
    assert declared["betos"] == ["Coding", "Berenson-Eggers Type of Service category."]
    assert links(document)["/release/2020-01"] == "What changed in HCPCS 2020-01"
    assert "7,079 codes" in text_of(document.find(".//main"))
    table = page(client, "/CodeSystem/hcpcs-betos?q=other+drugs")
    assert rows(table, "Codes") == [["O1E", "Other drugs", "active"]]
    assert not [a for a in table.findall(".//table[@class='codes']//a")]  # not HCPCS codes


def test_release_page_lists_what_changed_against_the_previous_release(client):
    document = page(client, "/release/2020-01")
    counts = {row[0]: row[1] for row in rows(document, "Codes per kind of change")}
    assert counts == {
        "Added": "279",
        "Removed": "0",
        "Terminated": "89",
        "Re-described": "70",
        "Property changes": "656",
    }
    assert links(document)["/release/2019-01"] == "Previous: 2019-01"
    terminated = rows(page(client, "/release/2020-01?kind=terminated"), "Terminated in 2020-01")
    assert len(terminated) == 89
    assert [
        "C9408",
        "Iodine i-131 iobenguane, therapeutic, 1 millicurie",
        "2019-12-31",
        "A9590 (Iodine i-131, iobenguane, 1 millicurie)",
    ] in terminated
    redescribed = rows(page(client, "/release/2020-01?kind=redescribed"), "Re-described")
    assert [
        "J9355",
        "Injection, trastuzumab, 10 mg",
        "Injection, trastuzumab, excludes biosimilar, 10 mg",
    ] in redescribed
    changed = page(client, "/release/2020-01?kind=property-changed&page=7")
    assert len(rows(changed, "Property changes in 2020-01, page 7 of 7")) == 56
    first = page(client, "/release/2019-01")
    assert "This is the first stored release" in text_of(first.find(".//main"))


def test_listings_and_navigation(client):
    releases = page(client, "/release")
    assert [row[0] for row in rows(releases, "Every stored HCPCS")] == [
        "2020-01 (current)",
        "2019-01",
    ]
    value_sets = page(client, "/ValueSet")
    assert (
        links(value_sets)["/ValueSet/hcpcs-added-2020-01"]
        == "HCPCS Level II codes added in 2020-01"
    )
    systems = page(client, "/CodeSystem")
    assert links(systems)["/CodeSystem/hcpcs-betos"] == "Berenson-Eggers Type of Service (BETOS)"
    current = systems.find(".//header//a[@aria-current='page']")
    assert text_of(current) == "Code systems"


def test_static_files_are_served_with_validators(client):
    css = client.get("/static/style.css")
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert (
        client.get("/static/style.css", headers={"if-none-match": css.headers["etag"]}).status_code
        == 304
    )
    js = client.get("/static/typeahead.js")
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"
    assert 'role", "combobox"' in js.text
    assert client.get("/static/nope.js").status_code == 404
    document = page(client, "/")
    scripts = [s.get("src") for s in document.iter("script")]
    assert len(scripts) == 1 and scripts[0].startswith("/static/typeahead.js?v=")


def test_pages_send_security_headers(client):
    response = client.get("/code/J0120")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
