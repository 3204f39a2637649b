"""The web view's HTTP side: routes, content negotiation for browsers, HTML responses.

Every page is rendered on the server (templates/, Jinja2) and works without JavaScript;
static/typeahead.js only adds suggestions to the search box, from GET /suggest. The engine
is read per request from `request.app.state.engine` (the API swaps it when the store
changes). A failure is an HTML page with a 4xx status (a 500 page for a bug, logged), and
every response says its server time in a `Server-Timing` header.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlencode

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from terminology.engine import Engine
from terminology.outcome import TerminologyError
from terminology.web import pages
from terminology.web.pages import Catalog, PageError
from terminology.web.render import STATIC_FILES, render

log = logging.getLogger("hcpcs_tx.web")

HTML_TYPE = "text/html; charset=utf-8"
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
RESOURCE_PAGES = ("CodeSystem", "ValueSet")
FHIR_BASES = ("r4", "r5", "fhir")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_FHIR_HINTS = ("json", "xml")

Context = dict[str, object]
"""The variables a template is rendered with."""
Build = Callable[[Request, Catalog], tuple[str, Context]]
"""A page: the template to render and its context, or a PageError."""


def register(app: Starlette) -> None:
    """Add the web pages to a FastAPI/Starlette app created by terminology.api.create_app.

    They go ahead of the FHIR routes: `/{base}/{rtype}` would otherwise take `/code/J0120`
    (and answer an unknown base); no page path starts with a FHIR base (r4, r5, fhir)."""
    if not hasattr(app.state, "engine"):
        raise RuntimeError("web.register needs app.state.engine (the engine answering now)")
    routes: list[BaseRoute] = [
        Route("/", _page(_search), methods=["GET"]),
        Route("/suggest", _suggest, methods=["GET"]),
        Route("/code/{code:path}", _page(_code), methods=["GET"]),
        Route("/release", _page(_releases), methods=["GET"]),
        Route("/release/{version:path}", _page(_release), methods=["GET"]),
        Route("/ValueSet", _page(_listing("ValueSet")), methods=["GET"]),
        Route("/ValueSet/{id:path}", _page(_resource("ValueSet")), methods=["GET"]),
        Route("/CodeSystem", _page(_listing("CodeSystem")), methods=["GET"]),
        Route("/CodeSystem/{id:path}", _page(_resource("CodeSystem")), methods=["GET"]),
        Route("/static/{name}", _static, methods=["GET"]),
    ]
    app.router.routes[0:0] = routes


# --- content negotiation -----------------------------------------------------------------


def wants_html(request: Request) -> bool:
    """True when a FHIR URL is asked for by a browser: a GET whose `_format` is html, or
    whose Accept header ranks text/html above every JSON / XML type it names (a browser's
    `text/html,...,application/xml;q=0.9,*/*;q=0.8`). No Accept, `*/*`, FHIR JSON / XML, or
    html tied with them: False (FHIR clients are unaffected)."""
    if request.method not in ("GET", "HEAD"):
        return False
    if b"_format" in request.scope.get("query_string", b""):
        formats = request.query_params.getlist("_format")
        if formats:
            return formats[-1].strip().lower() in ("html", "text/html")
    accept = request.headers.get("accept")
    if not accept or "html" not in accept:
        return False
    html_q, other_q = 0.0, 0.0
    for item in accept.split(","):
        kind, _, params = item.strip().partition(";")
        kind = kind.strip().lower()
        q = _quality(params)
        if kind in _HTML_TYPES:
            html_q = max(html_q, q)
        elif any(hint in kind for hint in _FHIR_HINTS):
            other_q = max(other_q, q)
    return html_q > 0 and html_q > other_q


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return max(0.0, min(1.0, float(value)))
            except ValueError:
                return 0.0
    return 1.0


def page_for(request: Request, engine: Engine | None = None) -> Response | None:
    """The HTML page for a FHIR URL a browser asks for (see wants_html), or None to answer
    FHIR as usual: `/{base}/CodeSystem/{id}` and `/{base}/ValueSet/{id}` (reads; an unknown
    id is a 404 page), `/{base}/CodeSystem` and `/{base}/ValueSet` without search
    parameters (the lists). Operations and everything else stay FHIR."""
    path = request.path_params
    kind = path.get("rtype")
    if path.get("base") not in FHIR_BASES or kind not in RESOURCE_PAGES or path.get("op"):
        return None
    if path.get("id") is None:
        if any(name != "_format" for name in request.query_params):
            return None
        return _respond(request, _listing(kind), engine)
    return _respond(request, _resource(kind), engine)


# --- responses -----------------------------------------------------------------------------


def _page(build: Build) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return _respond(request, build)

    return endpoint


def _respond(request: Request, build: Build, engine: Engine | None = None) -> Response:
    """Render a page (or the error page for what went wrong), timed."""
    started = time.perf_counter()
    status = 200
    try:
        cat = pages.catalog(engine or request.app.state.engine)
        template, context = build(request, cat)
    except PageError as error:
        status, template, context = error.status, "error.html", _error_context(error)
    except TerminologyError as error:
        status = error.status if 400 <= error.status < 500 else 400
        failure = PageError(status, "The request cannot be answered", error.text)
        template, context = "error.html", _error_context(failure)
    except Exception:
        log.exception("web page failed: %s %s", request.method, request.url)
        failure = PageError(500, "Internal error", "The page failed; the failure was logged.")
        status, template, context = 500, "error.html", _error_context(failure)
    try:
        body = render(template, base_url=str(request.base_url), **context)
    except Exception:
        log.exception("web page failed to render: %s %s", request.method, request.url)
        failure = PageError(500, "Internal error", "The page failed; the failure was logged.")
        status, body = 500, render("error.html", base_url="/", **_error_context(failure))
    return _html(body, status, started)


def _html(body: str, status: int, started: float) -> Response:
    elapsed = (time.perf_counter() - started) * 1000
    headers = {**SECURITY_HEADERS, "server-timing": f"app;dur={elapsed:.2f}"}
    return Response(body, status, headers=headers, media_type=HTML_TYPE)


def _error_context(error: PageError) -> Context:
    return {"error": error, "title": error.title, "request_": None}


def _query(request: Request) -> dict[str, str]:
    """The query's last value per name."""
    return dict(request.query_params.multi_items())


# --- pages ---------------------------------------------------------------------------------


def _search(request: Request, cat: Catalog) -> tuple[str, Context]:
    query = _query(request)
    search = pages.Search.parse(query, cat)
    result = pages.search(cat, search)
    options = {name: cat.options(prop) for name, prop, _ in pages.SEARCH_FILTERS}
    return "search.html", {
        "title": f"Search HCPCS {search.version}",
        "result": result,
        "search": search,
        "cat": cat,
        "options": options,
        "filters": pages.SEARCH_FILTERS,
        "statuses": pages.STATUSES,
        "request_": result.request,
        "nav": "search",
        "page_link": lambda n: search.link(page=n),
    }


def _code(request: Request, cat: Catalog) -> tuple[str, Context]:
    code = request.path_params["code"]
    page = pages.code_page(cat, code, request.query_params.get("version"))
    return "code.html", {
        "title": f"{page.code}: {page.display}",
        "page": page,
        "cat": cat,
        "request_": page.request,
    }


def _release(request: Request, cat: Catalog) -> tuple[str, Context]:
    query = _query(request)
    page = pages.integer(query.get("page"), "page", 1, 1, pages.MAX_PAGE)
    release = pages.release_page(cat, request.path_params["version"], query.get("kind", ""), page)
    path = f"/release/{quote(release.version, safe='')}?kind={release.kind}"
    return "release.html", {
        "title": f"HCPCS release {release.version}",
        "release": release,
        "cat": cat,
        "request_": release.request,
        "titles": pages.CHANGE_TITLES,
        "nav": "release",
        "page_link": lambda n: f"{path}&page={n}",
    }


def _releases(request: Request, cat: Catalog) -> tuple[str, Context]:
    context = {"title": "HCPCS releases", "cat": cat, "request_": None, "nav": "release"}
    return "releases.html", context


def _listing(kind: str) -> Build:
    def build(request: Request, cat: Catalog) -> tuple[str, Context]:
        title = "Value sets" if kind == "ValueSet" else "Code systems"
        resources = pages.listing(cat, kind)
        return "listing.html", {
            "title": title,
            "kind": kind,
            "resources": resources,
            "cat": cat,
            "request_": None,
            "nav": kind,
        }

    return build


def _resource(kind: str) -> Build:
    def build(request: Request, cat: Catalog) -> tuple[str, Context]:
        query = _query(request)
        text = pages.search_text(query.get("q"))
        page = pages.integer(query.get("page"), "page", 1, 1, pages.MAX_PAGE)
        count = pages.integer(query.get("count"), "count", pages.PAGE_SIZE, 1, pages.MAX_COUNT)
        id = request.path_params["id"]
        make = pages.value_set_page if kind == "ValueSet" else pages.code_system_page
        shown = make(cat, id, text, page, count)
        resource = shown.resource
        name = resource.get("title") or resource.get("name") or id
        version = f" {resource['version']}" if resource.get("version") else ""
        self_path = f"/{kind}/{quote(id, safe='')}"
        return "resource.html", {
            "title": f"{name}{version}",
            "page": shown,
            "cat": cat,
            "self_path": self_path,
            "json_path": f"/{pages.FHIR_BASE}/{kind}/{quote(id, safe='')}?_format=json",
            "request_": shown.request,
            "nav": kind,
            "page_link": lambda n: _with_page(self_path, query, n),
        }

    return build


def _with_page(path: str, query: dict[str, str], page: int) -> str:
    kept = [(k, v) for k, v in query.items() if k in ("q", "count") and v]
    kept += [("page", str(page))] if page > 1 else []
    return path + (f"?{urlencode(kept)}" if kept else "")


# --- JSON and static files -----------------------------------------------------------------


async def _suggest(request: Request) -> Response:
    """Typeahead: [{code, display, inactive}] for ?q= (and ?version=), best first."""
    started = time.perf_counter()
    try:
        cat = pages.catalog(request.app.state.engine)
        query = _query(request)
        found = pages.suggest(cat, query.get("q", ""), query.get("version"))
        body, status = orjson.dumps(found), 200
    except PageError as error:
        body, status = orjson.dumps({"error": error.detail}), error.status
    except TerminologyError as error:
        body, status = orjson.dumps({"error": error.text}), 400
    elapsed = (time.perf_counter() - started) * 1000
    headers = {"server-timing": f"app;dur={elapsed:.2f}", "cache-control": "no-store"}
    return Response(body, status, headers=headers, media_type="application/json")


async def _static(request: Request) -> Response:
    found = STATIC_FILES.get(request.path_params["name"])
    if found is None:
        return Response("Not found", 404, media_type="text/plain")
    body, media_type, digest = found
    headers = {"cache-control": "public, max-age=86400", "etag": f'"{digest}"'}
    if request.headers.get("if-none-match") == f'"{digest}"':
        return Response(status_code=304, headers=headers)
    return Response(body, 200, headers=headers, media_type=media_type)
