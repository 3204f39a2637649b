"""The HTTP layer: FHIR REST routes over the Engine, R4 and R5, JSON and XML.

Thin on purpose: a route parses the request once (query or Parameters body -> R5
Parameters), calls the engine, and renders the R5 result for the asked base. Routes take
the raw Request and return a raw Response (orjson bytes): no pydantic models, and around
them only http_conventions' edge middleware (CORS, gzip, access log: one header scan per
request when none of them applies). Every failure becomes an OperationOutcome with a 4xx/5xx
status; nothing escapes as a stack trace.

Bases: /r4 (4.0.1), /r5 (5.0.0), /fhir (= /r4).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, cast
from urllib.parse import parse_qsl, unquote_to_bytes

import orjson
from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

import codesystem
from codesystem.fhir_types import JSON, Resource
from terminology import bundle, caches, http_conventions, logs, settings, web
from terminology.engine import Engine, OperationRequest
from terminology.live import Live, freeze
from terminology.outcome import TerminologyError, invalid
from terminology.params import parameters_from_query, with_query
from terminology.registry import TYPES
from terminology.rest import RELEASES, capabilities, check_type
from terminology.rest.read import operation_definitions, read
from terminology.rest.search import handling, search
from terminology.sharing import Sharer
from terminology.store import Store, default_path
from terminology.versions import to_r4, to_r5

if TYPE_CHECKING:
    from fhir_core.fhirabstractmodel import FHIRAbstractModel

log = logging.getLogger("hcpcs_tx.api")

BASES = {"r4": "r4", "r5": "r5", "fhir": "r4"}
MAX_BODY = 16 * 1024 * 1024
BODY_ENV = "HCPCS_TX_BODY_SECONDS"
BODY_SECONDS = 30.0
"""How long a client may take to send a request body (headers: http_protocol.py)."""


def body_seconds() -> float:
    return settings.number(BODY_ENV, BODY_SECONDS, minimum=0.001, unit="seconds")


MAX_XML = 64_000  # bytes of JSON an answer may have to be given as XML (_too_big_for_xml)
JSON_TYPE = "application/fhir+json"
XML_TYPE = "application/fhir+xml"
FORMATS = {
    "json": "json",
    "application/json": "json",
    "application/fhir+json": "json",
    "xml": "xml",
    "text/xml": "xml",
    "application/xml": "xml",
    "application/fhir+xml": "xml",
}
CONTROL = ("_format", "_pretty")


class _Served:
    """Everything that answers requests and depends on the store's content: replaced
    whole when the store changes (live.Live), so one request sees one state."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.stored = _StoredJson(engine)
        self.capabilities = capabilities.capability_statement(
            xml=_xml_available(), code_systems=engine.resources("CodeSystem")
        )
        self.terminology = {  # per base: each lists its FHIR release's code systems
            base: capabilities.terminology_capabilities(engine.resources("CodeSystem", release))
            for base, release in RELEASES.items()
        }


Handler = bundle.Handler[_Served]


def create_app(engine: Engine | Live[_Served]) -> FastAPI:
    """The application serving one engine on /r4, /r5 and /fhir; given a Live state (as
    app_from_store does), it follows the store's changes while it runs.

    Routes take the raw request and answer bytes: FHIR parameters are typed per operation
    (params.py), not by pydantic models, so FastAPI's validation layer stays off the hot
    path (its per-request cost is then Starlette's); the OpenAPI description (/openapi.json,
    /docs) is built from the operations' parameter tables (openapi.py), not from route
    signatures. `app.state.engine` is the engine answering now."""
    live = engine if isinstance(engine, Live) else Live.fixed(_Served(engine))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with live.running():
            yield
        if live.path is not None:
            log.info("worker stopping: served %s, generation %s", live.path, live.generation)

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.engine = live.current.engine
    live.on_swap(lambda served: setattr(app.state, "engine", served.engine))
    for path, handler, methods in (
        ("/{base}/metadata", _Routes.metadata, ["GET"]),
        ("/{base}/$versions", _Routes.versions, ["GET", "POST"]),
        ("/{base}/{rtype}/${op}", _Routes.operation, ["GET", "POST"]),
        ("/{base}/{rtype}/{id}/${op}", _Routes.operation, ["GET", "POST"]),
        ("/{base}/{rtype}/_search", _Routes.search, ["POST"]),
        ("/{base}/{rtype}/{id}", _Routes.read, ["GET"]),
        ("/{base}/{rtype}", _Routes.search, ["GET"]),
        ("/{base}", _Routes.bundle, ["POST"]),
    ):
        app.router.add_route(path, _endpoint(handler, live), methods=methods)
    http_conventions.install(app, live)  # CORS, gzip, access log, /health, /ready, OpenAPI
    body_seconds()  # a bad setting fails now, not on a request
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    web.register(app)
    return app


def engine_from_store(path: Path | str | None = None) -> Engine:
    """An Engine over everything in the store (the default store when path is None);
    what did not change between code system versions is shared in memory."""
    return _engine_snapshot(path)[1]


def _engine_snapshot(path: Path | str | None) -> tuple[int, Engine]:
    with Store(path) as store:
        generation, resources = store.snapshot(each=Sharer())
    return generation, Engine(resources, codesystem.HCPCS_ALIASES)


def _served_from_store(path: Path | None) -> tuple[int, _Served]:
    generation, engine = _engine_snapshot(path)
    return generation, _Served(engine)


def app_from_store() -> FastAPI:
    """uvicorn's app factory: each worker builds its engine from $HCPCS_TX_DB, and
    rebuilds it when a load / update / remove changes the store (live.py).

    The stored resources and indexes are a few million objects that live as long as the
    worker: live.freeze() takes them out of the cyclic collector's full passes, which
    otherwise walk all of them every so often under load (a long pause, worst in batches)."""
    logs.configure()
    live = Live(_served_from_store, default_path())
    app = create_app(live)
    freeze()
    log.info("worker started: serving %s, generation %s", live.path, live.generation)
    return app


class _Routes:
    """The route bodies: each takes the request, the resolved base and the state serving
    it, and returns R5."""

    @staticmethod
    async def operation(request: Request, base: str, served: _Served) -> Resource:
        path = request.path_params
        operation = path["op"]
        check_type(path["rtype"])
        parameters = await _parameters(request, base, operation)
        languages = request.headers.get("accept-language")
        release = RELEASES[base]
        limit = _cost_limit(request.headers.get("x-too-costly-threshold"))
        asked = OperationRequest(
            operation, path["rtype"], parameters, path.get("id"), languages, release, limit
        )
        if not _heavy(operation, parameters, request.headers.get("content-length", "")):
            return served.engine.run(asked)
        request.scope[HEAVY] = True  # rendered off the event loop too (_endpoint)
        return await asyncio.to_thread(served.engine.run, asked)

    @staticmethod
    async def read(request: Request, base: str, served: _Served) -> Resource:
        path = request.path_params
        return read(served.engine, path["rtype"], path["id"], _query(request), RELEASES[base])

    @staticmethod
    async def search(request: Request, base: str, served: _Served) -> Resource:
        """GET {type}?..., and POST {type}/_search with the parameters as a form body."""
        kind = request.path_params["rtype"]
        url = str(request.base_url) + request.path_params["base"]
        query = _query(request)
        if request.method == "POST" and (body := await _body(request, empty=True)):
            if "x-www-form-urlencoded" not in request.headers.get("content-type", ""):
                text = "POST _search takes its parameters as application/x-www-form-urlencoded"
                raise _error(415, "not-supported", text)
            form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
            query = [(k, v) for k, v in form if k not in CONTROL] + query
        held = operation_definitions() if kind == "OperationDefinition" else None
        resources = held if held is not None else served.engine.resources(kind, RELEASES[base])
        return search(resources, kind, query, url, handling(request.headers.get("prefer")))

    @staticmethod
    async def bundle(request: Request, base: str, served: _Served) -> Resource:
        """A batch or transaction Bundle POSTed at the base (bundle.py)."""
        asked = _json_body(await _body(request))
        return await bundle.answer(request, base, served, asked, _BUNDLE_ROUTES)

    @staticmethod
    async def metadata(request: Request, base: str, served: _Served) -> Resource:
        mode = _last(request, "mode", "full")
        url = str(request.base_url) + request.path_params["base"]
        if mode == "terminology":
            return capabilities.for_base(served.terminology[base], url)
        if mode not in ("full", "normative"):
            raise invalid("PARAM_INVALID", "mode", mode)
        return capabilities.for_base(served.capabilities, url)

    @staticmethod
    async def versions(request: Request, base: str, served: _Served) -> Resource:
        return capabilities.versions(base)


# What each route of a Bundle entry runs (bundle.py routes the entries).
_BUNDLE_ROUTES = {
    "operation": _Routes.operation,
    "read": _Routes.read,
    "search": _Routes.search,
    "metadata": _Routes.metadata,
    "versions": _Routes.versions,
}


class _StoredJson:
    """The JSON bytes of stored resources, per base, serialised on first use and kept: a
    read or search of a full HCPCS CodeSystem (about 13 MB of JSON) then costs a copy of
    bytes instead of an R4 conversion and a serialisation (a search Bundle splices them in
    with orjson.Fragment). Small resources are cheap to serialise and are not kept."""

    KEEP_FROM = 32 * 1024  # bytes
    BUDGET = 96 * 1024 * 1024  # bytes kept at most, over every resource and base

    def __init__(self, engine: Engine) -> None:
        self._stored = {
            id(r): r for kind in TYPES for v in RELEASES.values() for r in engine.resources(kind, v)
        }
        self._bytes: dict[tuple[int, str], bytes] = {}
        self._small: set[tuple[int, str]] = set()
        self._kept = 0

    def get(self, resource: object, base: str) -> bytes | None:
        """The JSON of a stored resource for base (None for any other object)."""
        if self._stored.get(id(resource)) is not resource:
            return None
        key = (id(resource), base)
        found = self._bytes.get(key)
        if found is not None or key in self._small:
            return found
        # resource is a stored Resource here (the identity check above), typed object for callers
        found = orjson.dumps(to_r4(resource) if base == "r4" else resource)  # type: ignore[arg-type]
        if len(found) < self.KEEP_FROM:
            self._small.add(key)
        elif self._kept + len(found) <= self.BUDGET:
            self._bytes[key] = found
            self._kept += len(found)
        return found

    def render(self, resource: Resource, base: str) -> list[bytes] | None:
        """The JSON body of a stored resource, or of a Bundle holding stored resources, as
        pieces to send in turn: the stored resources' kept bytes are sent as they are, not
        copied into one body per answer (50 clients searching 17 MB CodeSystems would
        otherwise hold a body each)."""
        if resource.get("resourceType") != "Bundle":
            found = self.get(resource, base)
            return None if found is None else [found]
        entries = resource.get("entry")
        if not entries or not any(id(e.get("resource")) in self._stored for e in entries):
            return None
        spliced, bodies = [], []
        for entry in entries:
            body = self.get(entry.get("resource"), base)
            if body is not None:
                bodies.append(body)
                entry = {**entry, "resource": orjson.Fragment(_SPLICE)}
            elif base == "r4":  # converted one by one: a Fragment cannot be deep-copied
                entry = _entry_to_r4(entry)
            spliced.append(entry)
        bundle = {**resource, "entry": spliced}
        if base == "r4":
            bundle.pop("issues", None)  # what to_r4 does to the Bundle itself
        frame = orjson.dumps(bundle).split(_SPLICE)
        if len(frame) != len(bodies) + 1:  # the marker met elsewhere: render as usual
            return None
        return _interleave(frame, bodies)


def _entry_to_r4(entry: JSON) -> JSON:
    """A Bundle entry's resource and response outcome in R4 (as to_r4 of the Bundle)."""
    found = dict(entry)
    if isinstance(entry.get("resource"), dict):
        found["resource"] = to_r4(entry["resource"])
    response = entry.get("response")
    if isinstance(response, dict) and isinstance(response.get("outcome"), dict):
        found["response"] = {**response, "outcome": to_r4(response["outcome"])}
    return found


# Where a stored resource's bytes go in a Bundle's JSON (random: no request can write it).
_SPLICE = b'"splice-' + uuid.uuid4().hex.encode() + b'"'
CHUNK = 1024 * 1024


def _interleave(frame: list[bytes], bodies: list[bytes]) -> list[bytes]:
    pieces = [frame[0]]
    for body, after in zip(bodies, frame[1:], strict=True):
        pieces += [body, after]
    return pieces


class _Pieces(Response):
    """A JSON body sent as its pieces, in chunks of at most CHUNK bytes: the server waits
    for each chunk to drain, so a slow client holds a chunk, not a copy of the body."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.status_code, self.background, self.media_type = 200, None, JSON_TYPE
        self.pieces = pieces
        self.body = b""
        length = str(sum(len(p) for p in pieces)).encode()
        self.raw_headers = [(b"content-length", length), (b"content-type", JSON_TYPE.encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        chunks = [
            memoryview(piece)[at : at + CHUNK]
            for piece in self.pieces
            for at in range(0, len(piece), CHUNK)
        ]
        for chunk in chunks[:-1]:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": chunks[-1] if chunks else b""})


def _endpoint(handler: Handler, live: Live[_Served]) -> Callable[[Request], Awaitable[Response]]:
    """Wraps a route body: base and format resolution, rendering, errors as outcomes."""

    async def endpoint(request: Request) -> Response:
        base = BASES.get(request.path_params["base"])
        fmt = "json"
        served = live.current  # read once: the whole request sees one state of the store
        state = http_conventions.state(served, live.generation)
        if web.wants_html(request) and (page := web.page_for(request, served.engine)):
            return page  # a browser on a resource URL: the page, not JSON or XML
        try:
            if base is None:
                raise _error(404, "not-found", f"Unknown base '/{request.path_params['base']}'")
            fmt = _format(request)
            cache = http_conventions.cacheable(request, state, fmt)  # ETag etc. (GET only)
            if cache is not None and cache.fresh:
                return cache.not_modified()  # If-None-Match holds this answer's ETag
            answer = await handler(request, base, served)
            if (pieces := served.stored.render(answer, base)) is None:
                if request.scope.get(HEAVY):
                    response = await asyncio.to_thread(_render, answer, base, fmt)
                else:
                    response = _render(answer, base, fmt)
            elif fmt == "json":
                zipped = await http_conventions.gzip_stored(request, state, answer, base, pieces)
                response = _stored_response(zipped or pieces, zipped is not None)
            elif (size := sum(len(piece) for piece in pieces)) > MAX_XML:
                raise _too_big_for_xml(size)
            else:
                response = _render(answer, base, fmt)
            return response if cache is None else cache.finish(response)
        except TerminologyError as error:
            return _render(error.outcome, base or "r5", fmt, error.status)
        except Exception:
            target = http_conventions.target(request.scope)
            log.exception("unexpected error on %s %s", request.method, target)
            return _render(_server_error(), base or "r5", "json", 500)

    return endpoint


def _stored_response(pieces: list[bytes], zipped: bool) -> Response:
    """Stored JSON (or its gzip stream) as it is: one body, or pieces sent in chunks."""
    if len(pieces) == 1 and len(pieces[0]) <= CHUNK:
        response = Response(pieces[0], 200, media_type=JSON_TYPE)
    else:
        response = _Pieces(pieces)
    if zipped:
        response.raw_headers.append((b"content-encoding", b"gzip"))
    return response


def _format(request: Request) -> str:
    """json or xml, from _format, else the Accept header; an unknown _format is a 406."""
    asked = _last(request, "_format")
    if asked is not None:
        fmt = FORMATS.get(asked.split(";")[0].strip().lower().replace(" ", "+"))
        if fmt is None:
            raise _error(406, "not-supported", f"Unsupported _format '{asked}': use json or xml")
        return fmt
    accept = request.headers.get("accept", "")
    return "xml" if "xml" in accept and "json" not in accept else "json"


def _query(request: Request) -> list[tuple[str, str]]:
    return [(k, v) for k, v in _query_items(request) if k not in CONTROL]


def _query_items(request: Request) -> list[tuple[str, str]]:
    """The query's (name, value) pairs, parsed once per request: what Starlette's
    query_params holds (parse_qsl of the latin-1 text, blank values kept), about twice as
    fast for the usual ASCII query (a percent-decoded ASCII text is what unquote gives)."""
    found = request.scope.get("hcpcs.query")
    if found is None:
        found = request.scope["hcpcs.query"] = _parse_query(request.scope.get("query_string", b""))
    return found


def _parse_query(raw: bytes) -> list[tuple[str, str]]:
    if not raw.isascii():
        return parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    items = []
    for pair in raw.decode("ascii").split("&"):
        if pair:
            name, _, value = pair.partition("=")
            items.append((_unquote(name), _unquote(value)))
    return items


def _unquote(text: str) -> str:
    if "%" not in text:
        return text.replace("+", " ") if "+" in text else text
    found = cast("str | None", _UNQUOTED.get(text))  # the memo holds what it was given
    if found is None:
        found = unquote_to_bytes(text.replace("+", " ")).decode("utf-8", "replace")
        if len(text) <= 1024:  # the usual values repeat (system and value set urls)
            _UNQUOTED.put(text, found, caches.estimate(text) + caches.estimate(found))
    return found


_UNQUOTED = caches.Memo("strings")


def _last(request: Request, name: str, default: str | None = None) -> str | None:
    """The last value of a query parameter (as Starlette's query_params.get)."""
    found = default
    for key, value in _query_items(request):
        if key == name:
            found = value
    return found


# Operations that may run for seconds (within their budget, budget.py): run in a thread, so
# that the worker's event loop goes on answering its other clients meanwhile; and so do an
# $expand without a small `count`, a request bringing its own resources, a large body. The
# usual small requests ($lookup, $validate-code, a typeahead) run on the loop: a thread hop
# would cost them more than they take.
HEAVY = "hcpcs.heavy"  # request.scope key: this request runs and renders off the loop
HEAVY_OPERATIONS = frozenset({"batch-validate-code", "changes", "closure"})
SMALL_PAGE = 1000  # an $expand asking at most this many codes runs on the loop
SMALL_BODY = 64 * 1024


def _heavy(operation: str, parameters: Mapping[str, object], content_length: str) -> bool:
    """Whether a request may take long enough to stall the worker's other clients."""
    if operation in HEAVY_OPERATIONS:
        return True
    if content_length.isdigit() and int(content_length) > SMALL_BODY:
        return True
    entries = parameters.get("parameter")
    if not isinstance(entries, list):
        return False  # malformed: refused at once by the engine
    names = {e.get("name"): e for e in entries if isinstance(e, dict)}
    if "tx-resource" in names:
        return True
    if operation != "expand":
        return False
    count = names.get("count", {}).get("valueInteger")
    return not (isinstance(count, int) and 0 <= count <= SMALL_PAGE)


def _cost_limit(header: str | None) -> int | None:
    """X-TOO-COSTLY-THRESHOLD: a client asks for a lower limit on an expansion's size (test
    harnesses use it to check the too-costly answer without a huge value set)."""
    try:
        limit = int(header) if header else None
    except ValueError:
        return None
    return limit if limit is not None and limit > 0 else None


async def _parameters(request: Request, base: str, operation: str) -> Resource:
    """The request's R5 Parameters: the query (GET), or the body plus any query (POST)."""
    query = _query(request)
    if request.method == "GET":
        parameters = parameters_from_query(operation, query)
        translate_r4 = base == "r4" and operation == "translate"
        return to_r5(parameters, operation, in_place=True) if translate_r4 else parameters
    body = await _body(request)
    kind = request.headers.get("content-type", "")
    if "x-www-form-urlencoded" in kind:
        parameters = parameters_from_query(operation, parse_qsl(body.decode("utf-8", "replace")))
    else:
        parameters = _xml_parameters(body, base) if "xml" in kind else _json_parameters(body)
    if query:
        parameters = with_query(parameters, operation, query)
    return to_r5(parameters, operation, in_place=True) if base == "r4" else parameters


async def _body(request: Request, empty: bool = False) -> bytes:
    """The body, refused with 413 past MAX_BODY (declared or streamed); an empty body is a
    400 unless `empty` (a POST _search may have no parameters)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise _too_large()
    body = bytearray()
    try:
        async with asyncio.timeout(body_seconds()):
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY:
                    raise _too_large()
    except TimeoutError:
        text = f"The request body did not arrive within {body_seconds():g} s"
        raise _error(408, "timeout", text) from None
    if not body and not empty:
        raise _error(400, "required", "The request body is empty: POST a Parameters resource")
    return bytes(body)


def _json_body(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise _error(400, "structure", f"The request body is not valid JSON: {error}") from None


def _json_parameters(body: bytes) -> Resource:
    parameters = _json_body(body)
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        found = parameters.get("resourceType") if isinstance(parameters, dict) else None
        raise invalid("NOT_PARAMETERS", found or "a JSON value without a resourceType")
    return parameters


def _xml_parameters(body: bytes, base: str) -> Resource:
    """A Parameters resource sent as FHIR XML, read through fhir.resources."""
    try:
        model = _model_class("Parameters", base).model_validate_xml(body)
        parameters: Resource = orjson.loads(model.model_dump_json())
        return parameters
    except Exception as error:  # lxml missing, not XML, not a Parameters resource
        text = f"The request body is not a FHIR XML Parameters resource: {error}"
        raise _error(400, "structure", text.splitlines()[0]) from None


def _render(resource: Resource, base: str, fmt: str, status: int = 200) -> Response:
    if base == "r4":
        resource = to_r4(resource)
    if fmt == "xml":
        if (size := len(orjson.dumps(resource))) > MAX_XML:  # a cheap measure, then refuse
            resource, status = _too_big_for_xml(size).outcome, 406
            return Response(orjson.dumps(resource), status, media_type=JSON_TYPE)
        try:
            return Response(_to_xml(resource, base), status, media_type=XML_TYPE)
        except Exception as error:
            log.warning("no XML for %s: %s", resource.get("resourceType"), error)
            text = f"This response cannot be given as XML ({type(error).__name__}): use JSON"
            resource = _error(406, "not-supported", text).outcome
            status = 406
    return Response(orjson.dumps(resource), status, media_type=JSON_TYPE)


def _to_xml(resource: Resource, base: str) -> bytes:
    model = _model_class(resource["resourceType"], base).model_validate(resource)
    # fhir_core annotates model_dump_xml as str, but it returns lxml's bytes
    return model.model_dump_xml()  # type: ignore[return-value]


def _model_class(kind: str, base: str) -> type[FHIRAbstractModel]:
    """The fhir.resources model of a resource type (R4B models for R4), imported lazily."""
    if base == "r4":
        from fhir.resources.R4B import get_fhir_model_class
    else:
        from fhir.resources import get_fhir_model_class
    return get_fhir_model_class(kind)


@cache
def _xml_available() -> bool:
    try:
        import lxml  # noqa: F401
    except ImportError:
        return False
    return True


def _error(status: int, code: str, text: str) -> TerminologyError:
    """An HTTP-level failure (not an operation's): one error issue with the text."""
    return TerminologyError.plain(status, code, text)


def _too_big_for_xml(size: int) -> TerminologyError:
    """An answer too big to be written as XML: fhir.resources takes about a second and
    hundreds of MB per MB of JSON (a full HCPCS CodeSystem is 13.5 MB of JSON: minutes and
    gigabytes), blocking the worker, so such answers are JSON only."""
    text = f"This answer is {size / 1e6:.1f} MB of JSON, too big to be given as XML (at most "
    text += f"{MAX_XML / 1e6:g} MB): ask for JSON, or for less (_summary, _elements, _count)"
    return _error(406, "too-costly", text)


def _too_large() -> TerminologyError:
    return _error(413, "too-costly", f"The request body is over the limit of {MAX_BODY} bytes")


def _server_error() -> Resource:
    text = "Internal server error: the failure was logged"
    return _error(500, "exception", text).outcome


async def _http_error(request: Request, error: Exception) -> Response:
    """Router-level failures (no route, wrong method) as OperationOutcomes."""
    status = getattr(error, "status_code", 500)
    if status == 404:
        text = f"No route for {request.method} {request.url.path}"
        return _render(_error(404, "not-found", text).outcome, "r5", "json", 404)
    if status == 405:
        text = f"Method {request.method} is not allowed on {request.url.path}"
        return _render(_error(405, "not-supported", text).outcome, "r5", "json", 405)
    text = str(getattr(error, "detail", "")) or "HTTP error"
    return _render(_error(status, "processing", text).outcome, "r5", "json", status)


async def _unexpected(request: Request, error: Exception) -> Response:
    target = http_conventions.target(request.scope)
    log.error("unexpected error on %s %s", request.method, target, exc_info=error)
    return _render(_server_error(), "r5", "json", 500)
