"""Batch and transaction Bundles POSTed at a base (`POST /r4`): reads, searches and
operations, as fhir-kit-client and the FHIR validator send them.

Each entry's `request` (method GET or POST, a url relative to the base such as
`CodeSystem/$lookup?system=...&code=...`, `ValueSet/hcpcs-all-2020-01`, `ValueSet?name=...`;
a POST entry's `resource` is the operation's Parameters) is routed to the route body that
answers the same request over HTTP (api._Routes), through a request built for the entry:
same parsing, same engine, same errors. Every entry sees the one served state the Bundle
request was given (nothing is written, so a transaction is atomic by construction).

- batch: each entry is answered on its own; the batch-response's entry has
  `response.status` and the resource, or for a failed entry `response.outcome` (an
  OperationOutcome).
- transaction: all or nothing; the first failing entry fails the whole request with its
  status and an OperationOutcome naming the entry (index, method and url).

At most `max_entries()` entries ($HCPCS_TX_BUNDLE_MAX_ENTRIES, 1,000 by default): more is a
413. Only reads, searches and operations are served: a create, update, delete or patch
entry is a 405 for that entry.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import orjson
from starlette.requests import Request
from starlette.types import Message

from codesystem.fhir_types import JSON, Resource
from terminology import settings
from terminology.outcome import TerminologyError
from terminology.rendering import operation_outcome

log = logging.getLogger("hcpcs_tx.bundle")

MAX_ENTRIES_ENV = "HCPCS_TX_BUNDLE_MAX_ENTRIES"
DEFAULT_MAX_ENTRIES = 1000
KINDS = {"batch": "batch-response", "transaction": "transaction-response"}
BASES = ("r4", "r5", "fhir")

Served = TypeVar("Served")
"""The served state every entry is answered from (api.py's), passed through untouched."""
Handler = Callable[[Request, str, Served], Awaitable[Resource]]
"""A route body: (the entry's request, the base, the served state) -> the answer."""


def max_entries() -> int:
    return settings.number(MAX_ENTRIES_ENV, DEFAULT_MAX_ENTRIES, minimum=1, unit="entries")


_fail = TerminologyError.plain


def checked(bundle: object, limit: int | None = None) -> tuple[str, list[JSON]]:
    """The Bundle's type (batch | transaction) and entries, or a 400 / 413 saying why not."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        found = bundle.get("resourceType") if isinstance(bundle, dict) else None
        text = f"POST a Bundle of type batch or transaction to the base (got {found or 'JSON'})"
        raise _fail(400, "invalid", text)
    kind = bundle.get("type")
    if kind not in KINDS:
        text = f"Bundle.type '{kind}' cannot be processed: POST a batch or a transaction"
        raise _fail(400, "invalid", text)
    entries = bundle.get("entry", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise _fail(400, "structure", "Bundle.entry must be a list of entries")
    limit = max_entries() if limit is None else limit
    if len(entries) > limit:
        text = f"The {kind} has {len(entries)} entries: at most {limit} are processed per request"
        raise _fail(413, "too-costly", text)
    return kind, entries


class Entry:
    """One entry's request, routed: which route body answers it and with what."""

    def __init__(self, at: int, entry: JSON) -> None:
        self.at = at
        request = entry.get("request")
        if not isinstance(request, dict):
            raise _fail(400, "required", "The entry has no request (method and url)")
        self.method = str(request.get("method", "")).upper()
        self.url = str(request.get("url", ""))
        self.resource = entry.get("resource")
        if not self.url:
            raise _fail(400, "required", "The entry's request has no url")
        self.route, self.path_params, self.path, self.query = _route(self.method, self.url)
        if self.method == "POST" and not isinstance(self.resource, dict):
            raise _fail(400, "required", "A POST entry needs a resource (the Parameters)")

    def name(self) -> str:
        return f"entry {self.at} ({self.method} {self.url})"


def _route(method: str, url: str) -> tuple[str, dict[str, str], str, str]:
    """(route, path parameters, path after the base, raw query) of an entry's url."""
    parts = urlsplit(url)
    path = parts.path
    if parts.scheme or path.startswith("/"):  # absolute: drop everything up to the base
        segments = path.strip("/").split("/")
        at = next((i for i, s in enumerate(segments) if s in BASES), None)
        path = "/".join(segments[at + 1 :] if at is not None else segments)
    segments = [unquote(s) for s in path.strip("/").split("/")] if path.strip("/") else []
    if method not in ("GET", "HEAD", "POST"):
        raise _fail(405, "not-supported", f"{method} is not supported: this server is read-only")
    params: dict[str, str] = {}
    route = None
    if segments == ["metadata"] and method != "POST":
        route = "metadata"
    elif segments == ["$versions"]:
        route = "versions"
    elif len(segments) == 1 and method != "POST":
        route, params = "search", {"rtype": segments[0]}
    elif len(segments) == 2 and segments[1].startswith("$"):
        route, params = "operation", {"rtype": segments[0], "op": segments[1][1:]}
    elif len(segments) == 2 and method != "POST" and segments[1] != "_search":
        route, params = "read", {"rtype": segments[0], "id": segments[1]}
    elif len(segments) == 3 and segments[2].startswith("$"):
        route = "operation"
        params = {"rtype": segments[0], "id": segments[1], "op": segments[2][1:]}
    if route is None:
        verb = "a create" if method == "POST" and len(segments) == 1 else "this request"
        raise _fail(
            405 if method == "POST" else 404,
            "not-supported",
            f"No route for {method} {url} in a Bundle ({verb} is not supported): entries read, "
            "search or call operations",
        )
    return route, params, path.strip("/"), parts.query


async def answer(
    request: Request,
    base: str,
    served: Served,
    bundle: object,
    handlers: Mapping[str, Handler[Served]],
) -> Resource:
    """The batch-response / transaction-response Bundle (R5) for a Bundle POSTed at the base,
    each entry answered by handlers[route] over `served`."""
    kind, entries = checked(bundle)
    results = []
    for at, raw in enumerate(entries):
        try:
            entry = Entry(at, raw)
            resource = await handlers[entry.route](_entry_request(request, entry), base, served)
            results.append({"resource": resource, "response": {"status": _status(200)}})
        except TerminologyError as error:
            if kind == "transaction":
                raise _transaction_failed(at, raw, error) from None
            results.append(
                {"response": {"status": _status(error.status), "outcome": error.outcome}}
            )
        except Exception:
            log.exception("unexpected error on %s entry %s of POST %s", kind, at, request.url.path)
            text = f"Internal server error on entry {at}: the failure was logged"
            if kind == "transaction":
                raise _fail(500, "exception", text) from None
            outcome = _fail(500, "exception", text).outcome
            results.append({"response": {"status": _status(500), "outcome": outcome}})
    result: Resource = {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": KINDS[kind]}
    if results:
        result["entry"] = results
    return result


def _status(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


def _transaction_failed(at: int, raw: JSON, error: TerminologyError) -> TerminologyError:
    request = raw.get("request")
    request = request if isinstance(request, dict) else {}
    named = f"entry {at} ({request.get('method', '?')} {request.get('url', '?')})"
    issues = error.outcome.get("issue") or []
    first = issues[0].get("details", {}).get("text", "") if issues else ""
    text = f"The transaction failed at {named}: {first}".rstrip(": ")
    head = {
        "severity": "error",
        "code": issues[0].get("code", "processing") if issues else "processing",
        "details": {"text": text},
        "expression": [f"Bundle.entry[{at}]"],
    }
    return TerminologyError(error.status, operation_outcome([head, *issues]))


def _entry_request(outer: Request, entry: Entry) -> Request:
    """A request for one entry, as if sent on its own: the outer request's connection and
    headers (languages, Prefer, ...), the entry's method, path, query and body."""
    scope = {
        key: value
        for key, value in outer.scope.items()
        if key not in ("hcpcs.query", "path_params", "endpoint", "route")
    }
    base = outer.path_params["base"]
    body = orjson.dumps(entry.resource) if entry.method == "POST" else b""
    headers = [
        (name, value)
        for name, value in outer.scope["headers"]
        if name not in (b"content-type", b"content-length", b"if-none-match")
    ]
    if body:
        headers += [(b"content-type", b"application/fhir+json")]
        headers += [(b"content-length", str(len(body)).encode())]
    path = f"{outer.scope.get('root_path', '')}/{base}/{entry.path}"
    scope.update(
        method="GET" if entry.method == "HEAD" else entry.method,
        path=path,
        raw_path=path.encode(),
        query_string=entry.query.encode(),
        headers=headers,
        path_params={"base": base, **entry.path_params},
    )
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)
