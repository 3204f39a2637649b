"""Templates and static files of the web view.

Jinja2 with autoescape on for every template (any text from the data or the request is
escaped), StrictUndefined (a misspelt name fails the tests instead of rendering blank),
and templates compiled once per process (auto_reload off: no file checks per request).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

import jinja2

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def _load_static() -> dict[str, tuple[bytes, str, str]]:
    """name -> (bytes, media type, content hash) of every static file, read once."""
    found = {}
    for path in sorted(STATIC.iterdir()):
        if path.suffix in STATIC_TYPES:
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:12]
            found[path.name] = (body, STATIC_TYPES[path.suffix], digest)
    return found


STATIC_FILES = _load_static()


def static_url(name: str) -> str:
    """/static/<name>?v=<content hash>: a changed file gets a new URL (no stale cache)."""
    return f"/static/{name}?v={STATIC_FILES[name][2]}"


def code_href(code: str, version: str | None = None, default: str | None = None) -> str:
    href = f"/code/{quote(code, safe='')}"
    return href if not version or version == default else f"{href}?version={quote(version)}"


ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
ENV.globals.update(static_url=static_url, code_href=code_href)
ENV.filters["path"] = lambda text: quote(str(text), safe="")


def render(template: str, **context: object) -> str:
    return ENV.get_template(template).render(**context)
