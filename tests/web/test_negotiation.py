"""A browser opening a FHIR resource URL gets the HTML page; FHIR clients get FHIR as before.

`wants_html` decides from the request; `page_for` renders. api._endpoint calls them (the
three-line hook in docs/web.md); `hooked_client` serves a FHIR route with exactly that hook,
so the pages are tested before and after the hook lands in api.py.
"""

from __future__ import annotations

import inspect

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from terminology import api, web

from .htmlcheck import parse, text_of

CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SAFARI = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def request(accept: str | None = None, query: bytes = b"", method: str = "GET") -> Request:
    headers = [(b"accept", accept.encode())] if accept is not None else []
    scope = {"type": "http", "method": method, "path": "/r4/CodeSystem/x", "headers": headers}
    return Request({**scope, "query_string": query})


@pytest.mark.parametrize("accept", [CHROME, FIREFOX, SAFARI, "text/html", "application/xhtml+xml"])
def test_browsers_want_html(accept):
    assert web.wants_html(request(accept))
    assert not web.wants_html(request(accept, method="POST"))
    assert not web.wants_html(request(accept, query=b"_format=json"))
    assert not web.wants_html(request(accept, query=b"_format=application/fhir%2Bxml"))


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "",
        "*/*",
        "application/fhir+json",
        "application/json",
        "application/fhir+xml",
        "application/fhir+json, text/html;q=0.5",
        "text/html, application/fhir+json",  # a tie: FHIR wins
        "text/html;q=0",
        "text/plain",
    ],
)
def test_fhir_clients_do_not(accept):
    assert not web.wants_html(request(accept))


def test_format_html_asks_for_the_page_whatever_the_accept_header():
    assert web.wants_html(request(None, query=b"_format=html"))
    assert web.wants_html(request("application/fhir+json", query=b"_format=text/html"))


def hooked(engine) -> Starlette:
    """A FHIR read route with the hook as docs/web.md gives it for api._endpoint."""

    async def endpoint(request: Request) -> Response:
        if web.wants_html(request) and (page := web.page_for(request, engine)) is not None:
            return page
        return Response(b'{"resourceType":"CodeSystem"}', media_type="application/fhir+json")

    routes = [Route(path, endpoint) for path in ("/{base}/{rtype}/{id}", "/{base}/{rtype}")]
    routes.append(Route("/{base}/{rtype}/{id}/${op}", endpoint))
    app = Starlette(routes=routes)
    app.state.engine = engine
    return app


@pytest.fixture(scope="module")
def hooked_client(engine) -> TestClient:
    return TestClient(hooked(engine))


def test_the_hook_shows_resource_pages_to_browsers(hooked_client):
    response = hooked_client.get("/r4/CodeSystem/hcpcs-2020-01", headers={"accept": CHROME})
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    document = parse(response.text)
    assert text_of(document.find(".//h1")).startswith("Healthcare Common Procedure Coding System")
    response = hooked_client.get(
        "/r5/ValueSet/hcpcs-betos-O1E-2020-01", headers={"accept": FIREFOX}
    )
    assert (
        text_of(parse(response.text).find(".//h1"))
        == "HCPCS codes in BETOS O1E: Other drugs 2020-01"
    )
    listing = hooked_client.get("/fhir/ValueSet", headers={"accept": CHROME})
    assert text_of(parse(listing.text).find(".//h1")) == "Value sets"
    missing = hooked_client.get("/r4/ValueSet/nope", headers={"accept": CHROME})
    assert missing.status_code == 404 and parse(missing.text) is not None


def test_the_hook_leaves_fhir_answers_alone(hooked_client):
    for path, accept in (
        ("/r4/CodeSystem/hcpcs-2020-01", None),
        ("/r4/CodeSystem/hcpcs-2020-01", "application/fhir+json"),
        ("/r4/CodeSystem/hcpcs-2020-01", "*/*"),
        ("/r4/CodeSystem/hcpcs-2020-01?_format=json", CHROME),
        ("/r4/CodeSystem/hcpcs-2020-01/$lookup", CHROME),  # operations stay FHIR
        ("/r4/ValueSet?url=x", CHROME),  # searches too
        ("/r4/ConceptMap/hcpcs-replacements", CHROME),
        ("/r9/CodeSystem/hcpcs-2020-01", CHROME),  # not a FHIR base: its 404 stays FHIR
    ):
        headers = {"accept": accept} if accept else {}
        response = hooked_client.get(path, headers=headers)
        assert response.headers["content-type"] == "application/fhir+json", (path, accept)


def test_json_clients_of_the_real_app_are_unaffected(client):
    for accept in (None, "application/fhir+json", "*/*", "application/json"):
        headers = {"accept": accept} if accept else {}
        response = client.get("/r4/ValueSet/hcpcs-betos-O1E-2020-01", headers=headers)
        assert response.headers["content-type"] == "application/fhir+json"
        assert response.json()["url"] == "https://hcpcs-tx.org/fhir/ValueSet/hcpcs-betos-O1E"
    missing = client.get("/r4/nothing/here/at-all")
    assert missing.headers["content-type"] == "application/fhir+json"


def test_the_real_app_shows_pages_to_browsers_once_hooked(client):
    if "wants_html" not in inspect.getsource(api):
        pytest.skip("the hook is not in api._endpoint yet (docs/web.md)")
    response = client.get("/r4/CodeSystem/hcpcs-2020-01", headers={"accept": CHROME})
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    parse(response.text)
    fhir = client.get("/r4/CodeSystem/hcpcs-2019-01", headers={"accept": "application/fhir+json"})
    assert fhir.json()["version"] == "2019-01"
