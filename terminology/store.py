"""Embedded SQLite store of the R5 resources the server serves.

One row per resource, keyed by (type, id) and indexed by (type, url, version): each HCPCS
release is its own CodeSystem version, so loading 2020 next to 2019 adds a row, and loading
the same release again replaces it. A load (or a removal) is one transaction: a failure
rolls it back and what was served before stays intact. JSON is stored compactly (orjson,
zlib above a size where it pays off: a full HCPCS CodeSystem shrinks about tenfold).

Each row remembers its origin: the source (a release file, a JSON file) it came from, or
DERIVED for what a load computes from everything stored (the HCPCS history resources). A
source's row says which file it was, its sha256 and when it was loaded, so a release can
be listed and removed with everything it brought. Every committed change bumps the store's
generation, which running servers poll to reload (WAL mode: they read while a load writes).
"""

from __future__ import annotations

import gc
import os
import re
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import platformdirs

from codesystem.fhir_types import JSON, Resource

ENV_VAR = "HCPCS_TX_DB"
_COMPRESS_ABOVE = 4096
_SCHEMA = """
CREATE TABLE IF NOT EXISTS resource (
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    url TEXT,
    version TEXT,
    zipped INTEGER NOT NULL,
    json BLOB NOT NULL,
    origin TEXT,
    PRIMARY KEY (type, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS resource_url ON resource (type, url, version);
CREATE TABLE IF NOT EXISTS source (
    key TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    loaded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
DERIVED = "derived"
"""The origin of resources computed at load time from everything stored (replaced whole)."""
BUSY_TIMEOUT_S = 30.0
"""How long a writer waits for another writer (a concurrent `load`) before giving up."""


def default_path() -> Path:
    """$HCPCS_TX_DB, else store.sqlite3 in the user data dir (created on first use)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return Path(platformdirs.user_data_dir("hcpcs-tx")) / "store.sqlite3"


Derive = Callable[["Store"], Iterable[Resource]]


class StoreError(Exception):
    """A store that cannot be used, or a resource it cannot hold."""


@dataclass(frozen=True)
class Source:
    """Where a group of stored resources came from: key names it (e.g. the release's
    `CodeSystem|url|version`), file and sha256 identify the bytes."""

    key: str
    file: str
    sha256: str
    loaded_at: str = ""


@dataclass(frozen=True)
class Batch:
    """Resources loaded together from one source (None: no record of where from)."""

    resources: list[Resource]
    source: Source | None = None


class Store:
    """The SQLite file holding every loaded resource."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
            self._prepare(time.monotonic() + BUSY_TIMEOUT_S)
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"{self.path}: not a usable store ({error})") from None

    def _prepare(self, deadline: float) -> None:
        """WAL mode, schema, migrations. Two processes creating one store at once: switching
        to WAL takes a lock SQLite does not wait for (no busy handler), so "database is
        locked" is retried here until the other has finished, up to the busy timeout."""
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.executescript(_SCHEMA)
                self._migrate()
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _migrate(self) -> None:
        """Stores written before origins were recorded get the column (their rows: none)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(resource)")}
        if "origin" not in columns:
            self._db.execute("ALTER TABLE resource ADD COLUMN origin TEXT")
        self._db.execute("CREATE INDEX IF NOT EXISTS resource_origin ON resource (origin)")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(self, batches: Iterable[Batch | Resource], derive: Derive | None = None) -> int:
        """Add or replace resources in one transaction; returns how many were written.

        Each Batch records its source; a bare dict is a resource with no source. derive
        (store), called inside the same transaction after the puts, returns resources
        computed from everything then stored (e.g. a map over all releases): they replace
        every resource derived before, so a concurrent load cannot leave them incomplete.
        """
        with self._transaction():
            count = 0
            for batch in batches:
                if isinstance(batch, dict):
                    batch = Batch([batch])
                count += self._put_batch(batch)
            return count + self._derive(derive)

    def remove(self, source_key: str, derive: Derive | None = None) -> int:
        """Take out everything one source brought (and re-derive), in one transaction;
        returns how many resources went. An unknown key is a StoreError."""
        with self._transaction():
            if self.source(source_key) is None:
                raise StoreError(f"nothing stored from {source_key}")
            removed = self._db.execute("DELETE FROM resource WHERE origin = ?", (source_key,))
            self._db.execute("DELETE FROM source WHERE key = ?", (source_key,))
            count = removed.rowcount
            self._derive(derive)
            return count

    def sources(self) -> list[Source]:
        """Every recorded source, in load order."""
        rows = self._db.execute("SELECT key, file, sha256, loaded_at FROM source ORDER BY rowid")
        return [Source(*row) for row in rows]

    def source(self, key: str) -> Source | None:
        row = self._db.execute(
            "SELECT key, file, sha256, loaded_at FROM source WHERE key = ?", (key,)
        ).fetchone()
        return Source(*row) if row else None

    def generation(self) -> int:
        """A number that changes with every committed load or removal (by any process)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return row[0] if row else 0

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:  # another writer held it too long
            raise StoreError(f"{self.path}: the store is busy ({error}); try again") from None
        try:
            yield
            self._db.execute(
                "INSERT INTO meta VALUES ('generation', 1) "
                "ON CONFLICT (key) DO UPDATE SET value = value + 1"
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _put_batch(self, batch: Batch) -> int:
        origin = batch.source.key if batch.source else None
        if batch.source is not None:
            # what this source brought before goes, so a reload leaves nothing stale behind
            self._db.execute("DELETE FROM resource WHERE origin = ?", (origin,))
            loaded_at = batch.source.loaded_at or datetime.now(UTC).isoformat(timespec="seconds")
            self._db.execute(
                "INSERT OR REPLACE INTO source VALUES (?, ?, ?, ?)",
                (origin, batch.source.file, batch.source.sha256, loaded_at),
            )
        for resource in batch.resources:
            self._put(resource, origin)
        return len(batch.resources)

    def _derive(self, derive: Derive | None) -> int:
        if derive is None:
            return 0
        derived = list(derive(self))
        self._db.execute("DELETE FROM resource WHERE origin = ?", (DERIVED,))
        for resource in derived:
            self._db.execute(  # rows derived before origins were recorded
                "DELETE FROM resource WHERE type = ? AND url = ?",
                (resource["resourceType"], resource["url"]),
            )
            self._put(resource, DERIVED)
        return len(derived)

    def resources(
        self, resource_type: str | None = None, each: Callable[[Resource], Resource] | None = None
    ) -> list[Resource]:
        """Every stored resource (of one type), in load order; `each` (e.g. a
        sharing.Sharer) is applied to each one as it is decoded, so that what it frees
        never adds up.

        The cyclic GC is paused while decoding: a release is a million small objects that
        hold no cycles, and collections during their creation triple the start-up time.
        """
        sql = "SELECT zipped, json FROM resource"
        args: tuple[str, ...] = ()
        if resource_type:
            sql, args = sql + " WHERE type = ?", (resource_type,)
        rows = self._db.execute(sql + " ORDER BY rowid", args)
        paused = gc.isenabled()
        gc.disable()
        try:
            decoded = (_decode(zipped, blob) for zipped, blob in rows)
            return [each(r) for r in decoded] if each else list(decoded)
        finally:
            if paused:
                gc.enable()

    def snapshot(
        self, each: Callable[[Resource], Resource] | None = None
    ) -> tuple[int, list[Resource]]:
        """The generation and every resource, read in one transaction: what a server
        builds its engine from, never a half-committed load."""
        self._db.execute("BEGIN")
        try:
            return self.generation(), self.resources(each=each)
        finally:
            self._db.execute("COMMIT")

    def by_url(self, resource_type: str, url: str) -> list[Resource]:
        """Every stored version of one canonical url (uncommitted writes of a load included)."""
        rows = self._db.execute(
            "SELECT zipped, json FROM resource WHERE type = ? AND url = ? ORDER BY rowid",
            (resource_type, url),
        )
        return [_decode(zipped, blob) for zipped, blob in rows]

    def is_empty(self) -> bool:
        return self._db.execute("SELECT 1 FROM resource LIMIT 1").fetchone() is None

    def _put(self, resource: Resource, origin: str | None) -> None:
        kind = resource.get("resourceType")
        if not kind or not (resource.get("id") or resource.get("url")):
            raise StoreError(f"a {kind or 'resource'} needs a resourceType and an id or url")
        url, version = resource.get("url"), resource.get("version")
        resource = {**resource, "id": self._free_id(kind, resource, url, version)}
        blob = orjson.dumps(_pack(resource))
        zipped = len(blob) > _COMPRESS_ABOVE
        if zipped:
            blob = zlib.compress(blob, 6)
        if url:
            self._db.execute(
                "DELETE FROM resource WHERE type = ? AND url = ? AND version IS ?",
                (kind, url, version),
            )
        self._db.execute(
            "INSERT OR REPLACE INTO resource (type, id, url, version, zipped, json, origin) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (kind, resource["id"], url, version, int(zipped), blob, origin),
        )

    def _free_id(self, kind: str, resource: Resource, url: str | None, version: str | None) -> str:
        """The resource's id, unless another url|version holds it: then id-version (the
        FHIR core copies of each release are served under their own id again on their
        release's endpoint: engine._published_ids)."""
        wanted = resource.get("id") or _slug(url or "")
        row = self._db.execute(
            "SELECT url, version FROM resource WHERE type = ? AND id = ?", (kind, wanted)
        ).fetchone()
        if row is None or row == (url, version):
            return wanted
        return _slug(f"{wanted}-{version or 'none'}")


def _decode(zipped: int, blob: bytes) -> Resource:
    return _unpack(orjson.loads(zlib.decompress(blob) if zipped else blob))


# A stored CodeSystem's table of its concepts' distinct properties and designations: a
# release repeats the same few thousand (a BETOS Coding, a date) over its ~7,000 concepts,
# so each is written once and the concepts refer to it by position. Reading it back is
# then a smaller parse, and equal parts come back as one object (which sharing.Sharer
# would otherwise find by hashing each of them: most of a worker's start-up). Rows
# written before this format decode as they are.
_PARTS = "_hcpcsTxParts"


def _pack(resource: Resource) -> Resource:
    if resource.get("resourceType") != "CodeSystem" or not isinstance(
        resource.get("concept"), list
    ):
        return resource
    positions: dict[bytes, int] = {}
    table: list[JSON] = []

    def refer(items: object) -> object:
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return items
        found = []
        for item in items:
            key = orjson.dumps(item)
            at = positions.get(key)
            if at is None:
                at = positions[key] = len(table)
                table.append(item)
            found.append(at)
        return {_PARTS: found}

    def pack(concept: object) -> object:
        if not isinstance(concept, dict):
            return concept
        packed = dict(concept)
        for name in ("property", "designation"):
            if name in packed:
                packed[name] = refer(packed[name])
        if isinstance(packed.get("concept"), list):
            packed["concept"] = [pack(c) for c in packed["concept"]]
        return packed

    return {**resource, "concept": [pack(c) for c in resource["concept"]], _PARTS: table}


def _unpack(resource: Resource) -> Resource:
    table = resource.pop(_PARTS, None) if isinstance(resource, dict) else None
    if table is None:
        return resource

    def unpack(concepts: list[Any]) -> None:
        for concept in concepts:
            if concept.__class__ is not dict:
                continue
            for name in ("property", "designation"):
                held = concept.get(name)
                if held.__class__ is dict and _PARTS in held:
                    concept[name] = [table[at] for at in held[_PARTS]]
            if isinstance(concept.get("concept"), list):
                unpack(concept["concept"])

    unpack(resource["concept"])
    return resource


def _slug(text: str) -> str:
    """A valid FHIR id ([A-Za-z0-9.-]{1,64}) from any text."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text.rstrip("/").rsplit("/", 1)[-1])[:64] or "x"
