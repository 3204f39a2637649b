"""Call an ASGI app in-process, with no server and no sockets (for profiling our own code).

``call`` is the least an HTTP server does before and after the app; ``Transport`` lets an
httpx.Client (and so ``corpus.fetch_corpus``) talk to the app the same way.
"""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

import httpx

from bench.lua import Request

ACCEPT = (b"accept", b"application/fhir+json")


async def call(
    app, method: str, target: str, body: bytes = b"", headers: list[tuple[bytes, bytes]] = ()
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One request through ``app``; returns (status, headers, body)."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench"), *headers, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent = False
    status, out_headers, chunks = 500, [], []

    async def receive() -> dict:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # a disconnect would come here; none does
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        nonlocal status, out_headers
        if message["type"] == "http.response.start":
            status, out_headers = message["status"], message.get("headers", [])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, out_headers, b"".join(chunks)


async def call_request(app, r: Request) -> tuple[int, list, bytes]:
    headers = [ACCEPT] + ([(b"content-type", r.content_type.encode())] if r.content_type else [])
    return await call(app, r.method, r.path, r.body or b"", headers)


class Transport(httpx.BaseTransport):
    """A synchronous httpx transport running each request through the app on its own loop."""

    def __init__(self, app) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        skip = (b"host", b"content-length")
        headers = [(k.lower(), v) for k, v in request.headers.raw if k.lower() not in skip]
        status, out, body = self.loop.run_until_complete(
            call(self.app, request.method, request.url.raw_path.decode(), request.read(), headers)
        )
        return httpx.Response(status, headers=out, content=body)

    def close(self) -> None:
        self.loop.close()
