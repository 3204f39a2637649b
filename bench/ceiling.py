"""The two ceiling servers: minimal FastAPI and bare ASGI, replaying our server's exact bytes.

Each scenario gets one route, ``/<scenario id><our path>``, answering the status, content
type and body our server returned for a representative request, with no other work.
Run under uvicorn with ``--factory`` and the same workers/loop/http as our server; the
captured responses come from the JSON file named by ``$BENCH_CEILING_FILE``.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

ENV = "BENCH_CEILING_FILE"


@dataclass(frozen=True)
class Capture:
    """What our server answered for one scenario's representative request."""

    scenario: str
    method: str
    path: str  # without the query string
    status: int
    content_type: str
    body: bytes

    @property
    def route(self) -> str:
        return f"/{self.scenario}{self.path}"

    def to_json(self) -> dict:
        return {
            "scenario": self.scenario,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "content_type": self.content_type,
            "body_b64": base64.b64encode(self.body).decode(),
        }

    @classmethod
    def from_json(cls, d: dict) -> Capture:
        return cls(
            d["scenario"],
            d["method"],
            d["path"],
            d["status"],
            d["content_type"],
            base64.b64decode(d["body_b64"]),
        )


def save_captures(captures: list[Capture], path: Path) -> None:
    path.write_text(json.dumps([c.to_json() for c in captures]))


def load_captures(path: str | Path | None = None) -> list[Capture]:
    path = path or os.environ[ENV]
    return [Capture.from_json(d) for d in json.loads(Path(path).read_text())]


def fastapi_app():
    """Minimal FastAPI app: one route per scenario returning the captured bytes."""
    from fastapi import FastAPI
    from fastapi.responses import Response

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    for cap in load_captures():
        app.add_api_route(cap.route, _endpoint(cap, Response), methods=[cap.method])
    return app


def _endpoint(cap: Capture, response_cls) -> Callable[..., Awaitable]:
    from fastapi import Request

    async def endpoint(request: Request):
        if cap.method == "POST":  # read the body, as any real endpoint must
            await request.body()
        return response_cls(content=cap.body, status_code=cap.status, media_type=cap.content_type)

    endpoint.__annotations__ = {"request": Request}  # real class: this module defers annotations
    endpoint.__name__ = f"ceiling_{cap.scenario}"
    return endpoint


def asgi_app():
    """Bare ASGI app: a dict lookup on the path, then the captured bytes (body drained)."""
    routes: dict[str, tuple[dict, dict]] = {}
    for cap in load_captures():
        start = {
            "type": "http.response.start",
            "status": cap.status,
            "headers": [
                (b"content-type", cap.content_type.encode()),
                (b"content-length", str(len(cap.body)).encode()),
            ],
        }
        routes[cap.route] = (start, {"type": "http.response.body", "body": cap.body})
    not_found = (
        {"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]},
        {"type": "http.response.body", "body": b""},
    )

    async def app(scope, receive, send):
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["method"] == "POST":  # read the body, as any real endpoint must
            more = True
            while more:
                more = (await receive()).get("more_body", False)
        start, body = routes.get(scope["path"], not_found)
        await send(start)
        await send(body)

    return app
