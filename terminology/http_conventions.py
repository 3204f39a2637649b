"""What HTTP clients expect around the FHIR routes: caching validators, compression, CORS,
health and readiness, the access log, and the OpenAPI description.

Kept off the hot path on purpose: a GET $lookup pays for one header scan in the edge
middleware (nothing more unless the client sends Origin or asks for gzip, or the access
log is on), and for its validators (one more header scan and a dict lookup: they are made
once per served state and variant). The FHIR routes stay raw (api.py); this module only
wraps them. Settings are read when the app is created (a bad value fails there).

- `install(app, live)`: the edge middleware (CORS with origins from
  $HCPCS_TX_CORS_ORIGINS, `*` by default, empty = off; the access log on `hcpcs_tx.access`;
  gzip of answers made per request from 8 KB on), /health (with the worker's pid and the
  requests it has taken: how the load spreads over workers), /ready, /openapi.json, /docs.
- `state(served, generation)`: what the HTTP layer derives once per served state (the
  content tag behind every ETag, Last-Modified, the compressed stored bodies, readiness).
- `cacheable(request, state, fmt)`: the ETag / Last-Modified / Cache-Control of a GET over
  stored content, and whether the client's If-None-Match already holds it (304).
- `gzip_stored(...)`: a stored body (or a Bundle around stored bodies) as gzip pieces,
  compressed once per state (compression.py).
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import logging
import os
import time
import zlib
from email.utils import formatdate
from typing import TYPE_CHECKING, Protocol, TypedDict, TypeVar
from weakref import WeakKeyDictionary

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codesystem import HCPCS_URL
from codesystem.fhir_types import Resource
from terminology import bundle, caches, compression, openapi, settings
from terminology.compression import Deflated, accepts_gzip
from terminology.live import gc_report
from terminology.openapi import OpenAPI
from terminology.openapi import Served as ServedEngine
from terminology.registry import TYPES, preference_key
from terminology.rest.capabilities import data_date

if TYPE_CHECKING:
    from fastapi import FastAPI

    from terminology.live import Live

ACCESS = logging.getLogger("hcpcs_tx.access")

CORS_ENV = "HCPCS_TX_CORS_ORIGINS"
"""Comma-separated origins allowed by CORS; `*` (the default) allows any; empty: no CORS."""
MAX_AGE_ENV = "HCPCS_TX_CACHE_SECONDS"
"""Cache-Control max-age of answers over stored content (300 s by default; 0: no-cache)."""
DEFAULT_MAX_AGE = 300
JSON = "application/json"
# Headers whose value changes the answer to a GET of one URL (besides the format).
_KEYED = (b"accept-language", b"prefer", b"x-too-costly-threshold")
_VARY = (b"vary", b"Accept, Accept-Encoding, Accept-Language")
_COMPRESSIBLE = (b"json", b"xml", b"text/", b"javascript")


class Served(Protocol):
    """A served state (api._Served) as this module reads it: the engine answering."""

    @property
    def engine(self) -> ServedEngine: ...


S = TypeVar("S", bound=Served)


# --- install ---------------------------------------------------------------------------------


def install(app: FastAPI, live: Live[S]) -> None:
    """Add the middleware and the non-FHIR routes to an app made by api.create_app."""
    max_age()  # a bad setting fails now, not on a request
    bundle.max_entries()
    app.add_middleware(Edge, origins=cors_origins())
    document: OpenAPI = {}

    def describe() -> OpenAPI:
        if not document:
            document.update(openapi.document(app))
        return document

    async def openapi_json(request: Request) -> Response:
        return Response(orjson.dumps(describe()), media_type=JSON)

    async def docs(request: Request) -> Response:
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url="/openapi.json", title="hcpcs-tx: HTTP API")

    async def ready(request: Request) -> Response:
        served = live.current
        found = state(served, live.generation).readiness if served is not None else None
        if not found:
            body = {"status": "not ready", "reason": "no HCPCS release is loaded"}
            return Response(orjson.dumps(body), 503, media_type=JSON)
        return Response(orjson.dumps(found), media_type=JSON)

    app.openapi = describe  # type: ignore[method-assign]
    app.router.routes += [  # after the FHIR routes: a $lookup is not matched against them
        Route("/health", _health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ]


def cors_origins() -> list[str]:
    raw = os.environ.get(CORS_ENV)
    if raw is None:
        return ["*"]
    return [origin.strip() for origin in raw.split(",") if origin.strip()]


def max_age() -> int:
    return settings.number(MAX_AGE_ENV, DEFAULT_MAX_AGE, unit="seconds")


class _RequestCount:
    """HTTP requests this worker process has taken (one increment per request)."""

    total = 0


REQUESTS = _RequestCount()


async def _health(request: Request) -> Response:
    """Live, with the worker answering (pid, requests taken: bench/ reads the balance between
    workers from it) and what its memos hold (entries and bytes against their budgets)."""
    body = {
        "status": "ok",
        "pid": os.getpid(),
        "requests": REQUESTS.total,
        "gc": gc_report(),
        "caches": caches.report(),
    }
    return Response(orjson.dumps(body), media_type=JSON)


# --- per served state ------------------------------------------------------------------------


class State:
    """What the HTTP layer derives from one served state (api._Served), once."""

    KEEP_FROM = 32 * 1024  # stored bodies compressed once and kept from this size on
    BUDGET = 48 * 1024 * 1024  # compressed bytes kept at most

    def __init__(self, engine: ServedEngine, generation: int) -> None:
        resources = [r for kind in TYPES for r in engine.resources(kind)]
        self.stored = {id(r): r for r in resources}
        digest = hashlib.blake2b(str(generation).encode(), digest_size=6)
        for r in resources:
            size = len(r.get("concept") or r.get("compose", {}).get("include") or ())
            key = f"{r.get('resourceType')}/{r.get('id')}|{r.get('url')}|{r.get('version')}|{size}"
            digest.update(key.encode() + b"\n")
        self.tag = digest.hexdigest()
        """Changes with the store's generation and with what is served: the base of ETags,
        equal across the workers of one store."""
        code_systems = [r for r in resources if r.get("resourceType") == "CodeSystem"]
        day = data_date(code_systems)
        stamp = calendar.timegm(time.strptime(day, "%Y-%m-%d"))
        self.last_modified = formatdate(min(stamp, time.time()), usegmt=True)
        self.readiness = _readiness(code_systems, resources, generation)
        self._validators: dict[tuple[str, bytes | None], list[tuple[bytes, bytes]]] = {}
        self._plain: dict[tuple[str, bytes | None], Cacheable] = {}
        self._deflated: dict[tuple[int, str], Deflated] = {}
        self._pending: dict[tuple[int, str], asyncio.Future[Deflated]] = {}
        self._kept = 0
        self.cache_control = _cache_control(max_age())

    def validators(self, fmt: str, keyed: bytes | None) -> list[tuple[bytes, bytes]]:
        """ETag, Last-Modified, Cache-Control and Vary of an answer in this state, by
        format and the request headers that change an answer (keyed)."""
        found = self._validators.get((fmt, keyed))
        if found is None:
            variant = fmt if keyed is None else f"{fmt}-{zlib.crc32(keyed):08x}"
            found = [
                (b"etag", f'W/"{self.tag}-{variant}"'.encode()),
                (b"last-modified", self.last_modified.encode()),
                (b"cache-control", self.cache_control),
                _VARY,
            ]
            if len(self._validators) < 256:  # keyed values come from requests: bounded
                self._validators[(fmt, keyed)] = found
        return found

    def plain(self, fmt: str, keyed: bytes | None) -> Cacheable:
        """The validators of a request without If-None-Match (shared: never changed)."""
        found = self._plain.get((fmt, keyed))
        if found is None:
            found = Cacheable(self.validators(fmt, keyed), None)
            if len(self._plain) < 256:
                self._plain[(fmt, keyed)] = found
        return found

    async def deflated(self, resource: Resource, base: str, body: bytes) -> Deflated:
        """The stored resource's body compressed, kept after the first time (a big one is
        compressed in a thread: the worker keeps answering meanwhile)."""
        if len(body) < self.KEEP_FROM:
            return compression.deflate(body)
        key = (id(resource), base)
        found = self._deflated.get(key)
        if found is not None:
            return found
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            found = await asyncio.to_thread(compression.deflate, body)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning when no one waits
            raise
        finally:
            del self._pending[key]
        if self._kept + len(found.raw) <= self.BUDGET:
            self._deflated[key] = found
            self._kept += len(found.raw)
        future.set_result(found)
        return found


_STATES: WeakKeyDictionary[Served, State] = WeakKeyDictionary()


def state(served: Served, generation: int) -> State:
    """The State of a served state (built on its first request)."""
    found = _STATES.get(served)
    if found is None:
        found = _STATES[served] = State(served.engine, generation)
    return found


class Releases(TypedDict):
    """The HCPCS releases a worker serves, as /ready reports them."""

    versions: list[str]
    default: str


class Readiness(TypedDict):
    """The /ready answer of a worker serving at least one HCPCS release."""

    status: str
    generation: int
    hcpcs: Releases
    resources: dict[str, int]  # resource type -> how many are served


def _readiness(
    code_systems: list[Resource], resources: list[Resource], generation: int
) -> Readiness | None:
    hcpcs = [cs for cs in code_systems if cs.get("url") == HCPCS_URL and cs.get("version")]
    if not hcpcs:
        return None
    counts = {kind: 0 for kind in TYPES}
    for r in resources:
        counts[r["resourceType"]] += 1
    return {
        "status": "ready",
        "generation": generation,
        "hcpcs": {
            "versions": sorted(cs["version"] for cs in hcpcs),
            "default": max(hcpcs, key=preference_key)["version"],
        },
        "resources": counts,
    }


def _cache_control(seconds: int) -> bytes:
    return b"no-cache" if seconds == 0 else f"public, max-age={seconds}".encode()


# --- caching validators ----------------------------------------------------------------------


class Cacheable:
    """The validators of one GET answer over stored content.

    The ETag names the content (State.tag: the store's generation and what it holds) and
    the representation's variant (format; Accept-Language, Prefer, X-TOO-COSTLY-THRESHOLD
    when sent), not the URL: HTTP compares entity tags per URL (a cache keys its entries by
    URL and the Vary headers), so the URL need not be hashed into them. Weak (W/): an
    expansion's timestamp may differ between two equivalent answers."""

    __slots__ = ("headers", "fresh", "any")

    def __init__(self, headers: list[tuple[bytes, bytes]], asked: bytes | None) -> None:
        self.headers = headers  # etag first
        self.any = asked is not None and asked.strip() == b"*"
        self.fresh = asked is not None and not self.any and _matches(asked, headers[0][1])

    @property
    def etag(self) -> str:
        return self.headers[0][1].decode()

    def not_modified(self) -> Response:
        response = Response(status_code=304)
        response.raw_headers.extend(self.headers)
        return response

    def finish(self, response: Response) -> Response:
        """The answer with its validators (a 304 for `If-None-Match: *`); failures get none."""
        if response.status_code != 200:
            return response
        if self.any:
            return self.not_modified()
        response.raw_headers.extend(self.headers)
        return response


def cacheable(request: Request, found: State, fmt: str) -> Cacheable | None:
    """The validators of a GET answered from the stored content alone, else None (other
    methods; requests that bring their own resources as tx-resource)."""
    scope = request.scope
    if scope["method"] not in ("GET", "HEAD") or b"tx-resource" in scope["query_string"]:
        return None
    keyed = None
    asked = None
    for name, value in scope["headers"]:
        if name in _KEYED:
            keyed = (keyed or b"") + name + b":" + value + b"\n"
        elif name == b"if-none-match":
            asked = value
    if asked is None:  # the usual case: one Cacheable per variant, made once
        return found.plain(fmt, keyed)
    return Cacheable(found.validators(fmt, keyed), asked)


def _matches(asked: bytes, etag: bytes) -> bool:
    """Weak comparison (RFC 9110 13.1.2): a GET matches with or without W/."""
    wanted = etag.removeprefix(b"W/")
    return any(tag.strip().removeprefix(b"W/") == wanted for tag in asked.split(b","))


# --- compression of stored bodies ------------------------------------------------------------


async def gzip_stored(
    request: Request, found: State, answer: Resource, base: str, pieces: list[bytes]
) -> list[bytes] | None:
    """The pieces of a stored answer (api._StoredJson.render: a stored resource's body, or
    a Bundle's frame around stored bodies) as one gzip stream, when the client accepts gzip
    and the body is worth it; the stored bodies are compressed once per state."""
    if not accepts_gzip(request.headers.get("accept-encoding")):
        return None
    if sum(len(piece) for piece in pieces) < compression.MIN_SIZE:
        return None
    if answer.get("resourceType") != "Bundle":
        return compression.gzip_join([await found.deflated(answer, base, pieces[0])])
    stored = [
        e["resource"] for e in answer.get("entry", []) if id(e.get("resource")) in found.stored
    ]
    if len(pieces) != 2 * len(stored) + 1:
        return None  # not the shape render gives: answer uncompressed rather than wrongly
    deflated = []
    for at, piece in enumerate(pieces):
        if at % 2 == 0:  # the Bundle's own JSON, made for this request
            deflated.append(compression.deflate(piece, compression.DYNAMIC_LEVEL))
        else:
            deflated.append(await found.deflated(stored[at // 2], base, piece))
    return compression.gzip_join(deflated)


# --- the edge middleware: CORS, access log and gzip -------------------------------------------

_METHODS = b"GET, HEAD, POST, OPTIONS"
_EXPOSED = b"ETag, Last-Modified, Content-Location, Location"


class Edge:
    """Pure ASGI middleware around every route:

    - CORS for browser apps: a preflight (OPTIONS with Origin and
      Access-Control-Request-Method) is answered here; an allowed Origin gets
      Access-Control-Allow-Origin (and the exposed headers) on the answer. Origins from
      $HCPCS_TX_CORS_ORIGINS (`*` by default; empty: no CORS headers at all). Starlette's
      CORSMiddleware did the same for about 10 us more per request, on every request.
    - one access-log line per request (method, path and query, status, milliseconds) on
      `hcpcs_tx.access` at INFO, when that logger is enabled;
    - gzip for answers of compression.dynamic_min_size() bytes or more (8 KB by default)
      when the client accepts it (answers already encoded, such as the stored bodies
      compressed once, pass as they are).

    A request with none of these (no Origin, no Accept-Encoding: gzip, access log off)
    costs one scan of its headers here."""

    def __init__(self, app: ASGIApp, origins: list[str] | None = None) -> None:
        self.app = app
        self.origins = cors_origins() if origins is None else origins
        self.any_origin = "*" in self.origins
        self.allowed = {origin.encode("latin-1") for origin in self.origins}
        self.min_size = compression.dynamic_min_size()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        REQUESTS.total += 1
        zipped = False
        origin = None
        for name, value in scope["headers"]:
            if name == b"accept-encoding":
                zipped = accepts_gzip(value)
            elif name == b"origin":
                origin = value
        logged = not ACCESS.disabled and ACCESS.isEnabledFor(logging.INFO)
        cors = self._cors(origin) if origin is not None and self.origins else None
        if not logged and not zipped and cors is None:
            await self.app(scope, receive, send)
            return
        app = self.app
        if cors is not None and scope["method"] == "OPTIONS" and _asks_method(scope):
            app = _preflight(cors)
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering
        held: Message | None = None

        async def wrapped(message: Message) -> None:
            nonlocal status, held
            if message["type"] == "http.response.start":
                status = message["status"]
                if cors:
                    message = {**message, "headers": [*message.get("headers", ()), *cors]}
                if zipped:
                    held = message
                    return
            elif held is not None:
                start, held = held, None
                start, message = _compress(start, message, self.min_size)
                await send(start)
            await send(message)

        try:
            await app(scope, receive, wrapped)
        finally:
            if logged:
                elapsed = (time.perf_counter() - started) * 1000
                ACCESS.info("%s %s %d %.2fms", scope["method"], target(scope), status, elapsed)

    def _cors(self, origin: bytes) -> list[tuple[bytes, bytes]] | None:
        """The CORS headers for an allowed origin (empty list: not allowed)."""
        if self.any_origin:
            return [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-expose-headers", _EXPOSED),
            ]
        if origin in self.allowed:
            return [
                (b"access-control-allow-origin", origin),
                (b"access-control-expose-headers", _EXPOSED),
                (b"vary", b"Origin"),
            ]
        return []


def _asks_method(scope: Scope) -> bool:
    """Whether an OPTIONS request is a CORS preflight (it names the method it will send)."""
    return any(name == b"access-control-request-method" for name, _ in scope["headers"])


def _preflight(cors: list[tuple[bytes, bytes]]) -> ASGIApp:
    """The answer to a CORS preflight: 200 with what may be sent, or 400 for an origin or
    a method not allowed."""

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        asked = {name: value for name, value in scope["headers"]}
        method = asked.get(b"access-control-request-method", b"").upper()
        if not cors or method not in (b"GET", b"HEAD", b"POST", b"OPTIONS"):
            body = b"Disallowed CORS origin or method"
            headers = [(b"content-type", b"text/plain; charset=utf-8")]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        headers = [
            (b"access-control-allow-methods", _METHODS),
            (b"access-control-max-age", b"600"),
            (b"content-length", b"0"),
        ]
        if b"access-control-request-headers" in asked:
            headers.append(
                (b"access-control-allow-headers", asked[b"access-control-request-headers"])
            )
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    return answer


def target(scope: Scope) -> str:
    """The request's path and query as the client sent them."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    query = scope.get("query_string")
    return f"{path}?{query.decode('latin-1')}" if query else path


def _compress(start: Message, message: Message, min_size: int) -> tuple[Message, Message]:
    body = message.get("body", b"")
    if message.get("more_body") or len(body) < min_size:
        return start, message
    headers = list(start.get("headers", ()))
    kind = b""
    for name, value in headers:
        if name == b"content-encoding":
            return start, message
        if name == b"content-type":
            kind = value
    if not any(hint in kind for hint in _COMPRESSIBLE):
        return start, message
    gz = compression.gzip_bytes(body)
    headers = [(n, v) for n, v in headers if n != b"content-length"]
    headers += [(b"content-length", str(len(gz)).encode()), (b"content-encoding", b"gzip")]
    if not any(n == b"vary" for n, _ in headers):
        headers.append((b"vary", b"Accept-Encoding"))
    return {**start, "headers": headers}, {**message, "body": gz}
