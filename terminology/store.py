"""Embedded SQLite store of the R5 resources the server serves.

One row per resource, keyed by (type, id) and indexed by (type, url, version): each HCPCS
release is its own CodeSystem version, so loading 2020 next to 2019 adds a row, and loading
the same release again replaces it. A load is one transaction: a failure rolls it back and
what was served before stays intact. JSON is stored compactly (orjson, zlib above a size
where it pays off: a full HCPCS CodeSystem shrinks about tenfold).
"""

from __future__ import annotations

import gc
import os
import re
import sqlite3
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import orjson
import platformdirs

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
    PRIMARY KEY (type, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS resource_url ON resource (type, url, version);
"""


def default_path() -> Path:
    """$HCPCS_TX_DB, else store.sqlite3 in the user data dir (created on first use)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return Path(platformdirs.user_data_dir("hcpcs-tx")) / "store.sqlite3"


Derive = Callable[["Store"], Iterable[dict]]


class StoreError(Exception):
    """A resource the store cannot hold (no resourceType, no id and no url)."""


class Store:
    """The SQLite file holding every loaded resource."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(self, resources: Iterable[dict], derive: Derive | None = None) -> int:
        """Add or replace resources in one transaction; returns how many were written.

        derive(store), called inside the same transaction after the puts, returns resources
        computed from everything then stored (e.g. a map over all releases); each replaces
        every stored version of its url, so a concurrent load cannot leave it incomplete.
        """
        count = 0
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for resource in resources:
                self._put(resource)
                count += 1
            for resource in derive(self) if derive else ():
                self._db.execute(
                    "DELETE FROM resource WHERE type = ? AND url = ?",
                    (resource["resourceType"], resource["url"]),
                )
                self._put(resource)
                count += 1
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return count

    def resources(
        self, resource_type: str | None = None, each: Callable[[dict], dict] | None = None
    ) -> list[dict]:
        """Every stored resource (of one type), in load order; `each` (e.g. a
        sharing.Sharer) is applied to each one as it is decoded, so that what it frees
        never adds up.

        The cyclic GC is paused while decoding: a release is a million small objects that
        hold no cycles, and collections during their creation triple the start-up time.
        """
        sql, args = "SELECT zipped, json FROM resource", ()
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

    def by_url(self, resource_type: str, url: str) -> list[dict]:
        """Every stored version of one canonical url (uncommitted writes of a load included)."""
        rows = self._db.execute(
            "SELECT zipped, json FROM resource WHERE type = ? AND url = ? ORDER BY rowid",
            (resource_type, url),
        )
        return [_decode(zipped, blob) for zipped, blob in rows]

    def is_empty(self) -> bool:
        return self._db.execute("SELECT 1 FROM resource LIMIT 1").fetchone() is None

    def _put(self, resource: dict) -> None:
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
            "INSERT OR REPLACE INTO resource VALUES (?, ?, ?, ?, ?, ?)",
            (kind, resource["id"], url, version, int(zipped), blob),
        )

    def _free_id(self, kind: str, resource: dict, url: str | None, version: str | None) -> str:
        """The resource's id, unless another url|version holds it: then id-version."""
        wanted = resource.get("id") or _slug(url or "")
        row = self._db.execute(
            "SELECT url, version FROM resource WHERE type = ? AND id = ?", (kind, wanted)
        ).fetchone()
        if row is None or row == (url, version):
            return wanted
        return _slug(f"{wanted}-{version or 'none'}")


def _decode(zipped: int, blob: bytes) -> dict:
    return _unpack(orjson.loads(zlib.decompress(blob) if zipped else blob))


# A stored CodeSystem's table of its concepts' distinct properties and designations: a
# release repeats the same few thousand (a BETOS Coding, a date) over its ~7,000 concepts,
# so each is written once and the concepts refer to it by position. Reading it back is
# then a smaller parse, and equal parts come back as one object (which sharing.Sharer
# would otherwise find by hashing each of them: most of a worker's start-up). Rows
# written before this format decode as they are.
_PARTS = "_hcpcsTxParts"


def _pack(resource: dict) -> dict:
    if resource.get("resourceType") != "CodeSystem" or not isinstance(
        resource.get("concept"), list
    ):
        return resource
    positions: dict[bytes, int] = {}
    table: list[dict] = []

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


def _unpack(resource: dict) -> dict:
    table = resource.pop(_PARTS, None) if isinstance(resource, dict) else None
    if table is None:
        return resource

    def unpack(concepts: list) -> None:
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
