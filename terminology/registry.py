"""Resolves CodeSystem / ValueSet / ConceptMap resources by url (+ version, + aliases).

A Registry holds the stored resources; `layer(tx_resources)` gives a per-request view where
the request's own resources come first and the stored ones are shared, not copied. It
answers None for what it does not hold: resolver.py turns that into the error an operation
reports, and resolves instance ids.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TypeAlias, cast

from codesystem.fhir_types import JSON, Resource
from terminology.caches import Local, Memo, estimate
from terminology.index import CodeSystemIndex
from terminology.providers import CodeSystemProvider

TYPES = ("CodeSystem", "ValueSet", "ConceptMap")
IMPLICIT_VS = "?fhir_vs"
_VERSION_SEP = re.compile(r"[.\-]")
_MISSING = object()
MEMO_KEY_MAX = 1024  # a url or version longer than this is resolved, never memoised
_VERSION_KEYS = Memo("strings")

VersionKey: TypeAlias = tuple[tuple[int, int, str], ...]
"""version_key's answer: per dot- or dash-separated part, (0, number, "") or (1, 0, text)."""


def version_key(version: str | None) -> VersionKey:
    """Orders versions semantically where they look like numbers (1.10.0 > 1.9.0).
    Memoised (bounded): resolution asks for the same few versions on every request."""
    found = _VERSION_KEYS.get(version)
    if found is None:
        parts = _VERSION_SEP.split(version or "")
        found = tuple((0, int(p), "") if p.isascii() and p.isdigit() else (1, 0, p) for p in parts)
        if version is None or len(version) <= 64:  # versions from requests are not kept
            _VERSION_KEYS.put(version, found, 2 * estimate(version) + 100 * len(parts))
    return found  # type: ignore[return-value]  # the memo holds what this function put


def recency_key(resource: Resource) -> tuple[str, VersionKey]:
    """Which version is the latest: the latest effectivePeriod.start (the release in force
    last), then version order (versions without a start date sort before dated ones)."""
    start = (resource.get("effectivePeriod") or {}).get("start") or ""
    return (start[:10], version_key(resource.get("version")))


def preference_key(resource: Resource) -> tuple[bool, str, VersionKey]:
    """Which version answers when none is asked for: a complete one before a fragment (a
    partial release never becomes the default while a complete one is held), then the
    latest (recency_key)."""
    return (resource.get("content") != "fragment", *recency_key(resource))


def version_matches(pattern: str, version: str | None) -> bool:
    """Exact match, or a wildcard pattern such as 1.0.x / 1.x / 1.0.*."""
    if version is None:
        return False
    if pattern == version:
        return True
    if "x" not in pattern.split(".") and "*" not in pattern:
        return False
    regex = r"\.".join("[^.]+" if p in ("x", "*") else re.escape(p) for p in pattern.split("."))
    return re.fullmatch(regex + r"(\..*)?", version) is not None


def is_wildcard(version: str | None) -> bool:
    if not version:
        return False
    return any(p in ("x", "*") for p in version.split("."))


class Registry:
    """Resources by type, url and version; a parent registry is consulted after this one."""

    def __init__(
        self,
        resources: Iterable[Resource],
        aliases: Mapping[str, str] | None = None,
        parent: Registry | None = None,
        transient: bool = False,
    ) -> None:
        self.parent = parent
        self.transient = transient  # a layer for one request (see layer)
        self.aliases: Mapping[str, str] = aliases if aliases is not None else {}
        if parent is not None and not self.aliases:
            self.aliases = parent.aliases
        self._by_url: dict[str, dict[str, list[Resource]]] = {t: defaultdict(list) for t in TYPES}
        self._by_id: dict[str, dict[str, Resource]] = {t: {} for t in TYPES}
        self._indexes: dict[int, CodeSystemIndex] = {}
        self._owned: set[int] = set()
        self._translations: dict[tuple[str, str], list[tuple[str, JSON]]] | None = None
        # memos (terminology/caches.py), bounded by bytes; a request's layer keeps its own
        # in plain dicts, so per-request resources never reach the shared ones:
        # evaluated composes (operations/compose.py: Composer.evaluate)
        self.expansions: Memo | Local = Local() if transient else Memo("expansions")
        # `{system}?fhir_vs` value sets, per (system, version); their composes, per code system
        self._implicit_sets: Memo | Local = Local() if transient else Memo("implicit-value-sets")
        self._implicit_composes: dict[str, JSON] = {}
        # resolve(), versions() and supplements_for() answers, keyed ("resolve", type, url,
        # version), ("versions", type, url), ("supplements", system): every request
        # resolves the same few, and validation asks for every coding
        self._resolution: Memo | Local = Local() if transient else Memo("resolution")
        for resource in resources:
            self.add(resource)

    def add(self, resource: Resource) -> None:
        rtype = resource.get("resourceType")
        if rtype not in TYPES:
            return
        self._owned.add(id(resource))
        self._translations = None
        if self._resolution:
            self._resolution.forget()
        if resource.get("url"):
            self._by_url[rtype][resource["url"]].append(resource)
        if resource.get("id"):
            self._by_id[rtype][resource["id"]] = resource

    def owns(self, resource: Resource) -> bool:
        """Whether this layer stores this very resource (not an equal copy)."""
        return id(resource) in self._owned

    def layer(self, resources: list[Resource]) -> Registry:
        """A per-request view: these resources over this registry."""
        return Registry(resources, parent=self, transient=True) if resources else self

    def cacheable(self, vs: Resource) -> bool:
        """Whether what is worked out from vs may be kept across requests: vs is a stored
        value set, or an implicit one this registry made (not a request's own)."""
        if self.transient:
            return False
        if self.owns(vs):
            return True
        url = vs.get("url")
        if not isinstance(url, str) or not url.endswith(IMPLICIT_VS):
            return False
        compose = self._implicit_composes.get(self.canonical(url[: -len(IMPLICIT_VS)]))
        return compose is not None and compose is vs.get("compose")

    # -- generic resolution -----------------------------------------------------------
    def canonical(self, url: str) -> str:
        return self.aliases.get(url, url)

    def candidates(self, rtype: str, url: str) -> list[Resource]:
        """Every version of url, this layer's first."""
        url = self.canonical(url)
        own = self._by_url[rtype].get(url, [])
        inherited = self.parent.candidates(rtype, url) if self.parent else []
        versions = {r.get("version") for r in own}
        return own + [r for r in inherited if r.get("version") not in versions]

    def resolve(self, rtype: str, url: str, version: str | None = None) -> Resource | None:
        """url may carry |version; no version means the latest; wildcards pick the latest match."""
        if version is None and "|" in url:
            url, version = url.split("|", 1)
        key = ("resolve", rtype, url, version)
        try:
            found = self._resolution.get(key, _MISSING)
        except TypeError:  # an unhashable url or version: resolve it uncached
            return self._resolve(rtype, url, version)
        if found is not _MISSING:
            return found  # type: ignore[return-value]  # the memo holds what _resolve gave
        found = self._resolve(rtype, url, version)
        if len(url) <= MEMO_KEY_MAX and len(version or "") <= MEMO_KEY_MAX:
            self._resolution.put(key, found, estimate(key))
        return found

    def _resolve(self, rtype: str, url: str, version: str | None) -> Resource | None:
        found = self.candidates(rtype, url)
        if version:
            found = [r for r in found if version_matches(version, r.get("version"))]
        if not found:
            return None
        if len(found) == 1:
            return found[0]
        return max(found, key=preference_key)

    def in_force(self, date: str) -> dict[str, str]:
        """url -> the CodeSystem version in force at date (YYYY-MM-DD): the largest
        effectivePeriod.start <= date, else the earliest one (the best knowledge held).
        Only code systems whose versions carry an effectivePeriod.start are listed."""
        dated: dict[str, list[Resource]] = defaultdict(list)
        for resource in self.all("CodeSystem"):
            if (resource.get("effectivePeriod") or {}).get("start") and resource.get("version"):
                dated[resource.get("url", "")].append(resource)
        return {url: _at(held, date)["version"] for url, held in dated.items()}

    def version_at(self, rtype: str, url: str, date: str) -> str | None:
        """The version of url in force at date, None unless its versions carry a start date."""
        dated = [r for r in self.candidates(rtype, url) if recency_key(r)[0] and r.get("version")]
        return _at(dated, date)["version"] if dated else None

    def versions(self, rtype: str, url: str) -> list[str]:
        """The versions held of url, in version order (a new list each call). Memoised per
        (type, url), since $validate-code asks for every coding, and sorting them each time
        was a visible share of a batch's time."""
        key = ("versions", rtype, url)
        try:
            held = self._resolution.get(key)
        except TypeError:  # an unhashable url: answer uncached
            return self._sorted_versions(rtype, url)
        if held is not None:
            return list(cast("tuple[str, ...]", held))  # the memo holds what it was given
        found = tuple(self._sorted_versions(rtype, url))
        if len(url) <= MEMO_KEY_MAX:
            self._resolution.put(key, found, estimate(key) + 8 * len(found))
        return list(found)

    def _sorted_versions(self, rtype: str, url: str) -> list[str]:
        found = {r.get("version") for r in self.candidates(rtype, url.split("|")[0])}
        return sorted((v for v in found if v), key=version_key)

    def by_id(self, rtype: str, id: str) -> Resource | None:
        found = self._by_id.get(rtype, {}).get(id)
        if found is None and self.parent:
            return self.parent.by_id(rtype, id)
        return found

    def all(self, rtype: str) -> list[Resource]:
        own = [r for versions in self._by_url[rtype].values() for r in versions]
        ids = {id(r) for r in own}
        own += [r for r in self._by_id[rtype].values() if id(r) not in ids]
        return own + (self.parent.all(rtype) if self.parent else [])

    # -- code systems -----------------------------------------------------------------
    def index(self, resource: Resource) -> CodeSystemIndex:
        """The index of a CodeSystem resource, built once by the layer that holds it."""
        owner = self
        while owner.parent is not None and id(resource) not in owner._owned:
            owner = owner.parent
        cached = owner._indexes.get(id(resource))
        if cached is None:
            built = CodeSystemIndex(resource, transient=owner.transient)
            cached = owner._indexes[id(resource)] = built
        return cached

    def code_system(self, url: str, version: str | None = None) -> CodeSystemProvider | None:
        """The provider of that code system version (today: the in-memory index of its
        resource; another terminology would be chosen here)."""
        resource = self.resolve("CodeSystem", url, version)
        if resource is None or resource.get("content") == "supplement":
            return None
        return self.index(resource)

    def supplement(self, url: str, version: str | None = None) -> Resource | None:
        resource = self.resolve("CodeSystem", url, version)
        return resource if resource and resource.get("content") == "supplement" else None

    def supplements_for(self, system: str) -> list[Resource]:
        """The supplements of system held (a new list each call). Memoised per system: it
        scans every CodeSystem, and validation asks per coding that has an issue."""
        key = ("supplements", system)
        try:
            held = self._resolution.get(key)
        except TypeError:  # an unhashable system: answer uncached
            return self._scan_supplements(system)
        if held is not None:
            return list(cast("tuple[Resource, ...]", held))  # the memo holds what it was given
        found = tuple(self._scan_supplements(system))
        if len(system) <= MEMO_KEY_MAX:
            self._resolution.put(key, found, estimate(key) + 8 * len(found))
        return list(found)

    def _scan_supplements(self, system: str) -> list[Resource]:
        found = []
        for resource in self.all("CodeSystem"):
            supplements = (resource.get("supplements") or "").split("|")[0]
            if resource.get("content") == "supplement" and supplements == system:
                found.append(resource)
        return found

    # -- value sets -------------------------------------------------------------------
    def value_set(self, url: str, version: str | None = None) -> Resource | None:
        if version is None and "|" in url:
            url, version = url.split("|", 1)
        found = self.resolve("ValueSet", url, version)
        if found is None and url.endswith(IMPLICIT_VS):
            return self._implicit(url[: -len(IMPLICIT_VS)], version)
        return found

    def _implicit(self, system: str, version: str | None) -> Resource | None:
        """`{system}?fhir_vs`: all codes of a code system. The value sets of one code system
        share one compose (whatever version they are asked at), so its evaluation is cached
        once, like a stored value set's (see cacheable)."""
        cs = self.code_system(system)
        if cs is None:
            return None
        key = (system, version)
        found = self._implicit_sets.get(key)
        if found is None:
            compose = self._implicit_composes.get(cs.url)
            if compose is None:  # one per code system held: bounded
                compose = self._implicit_composes[cs.url] = {"include": [{"system": cs.url}]}
            found = {
                "resourceType": "ValueSet",
                "url": system + IMPLICIT_VS,
                **({"version": version} if version else {}),
                "status": "active",
                "compose": compose,
            }
            if len(system) + len(version or "") <= MEMO_KEY_MAX:
                self._implicit_sets.put(key, found, estimate(key) + 700)
        return found  # type: ignore[return-value]  # the memo holds what this method put

    def concept_map(self, url: str, version: str | None = None) -> Resource | None:
        return self.resolve("ConceptMap", url, version)

    def translations(self, system: str, code: str) -> list[tuple[str, JSON]]:
        """(target system, target) for system#code in every ConceptMap held: what a retired
        code is replaced by. Indexed once per layer, since validation asks per coding."""
        if self._translations is None:
            self._translations = _translation_index(self._by_url["ConceptMap"].values())
        found = self._translations.get((self.canonical(system), code), [])
        return found + (self.parent.translations(system, code) if self.parent else [])


def _at(held: list[Resource], date: str) -> Resource:
    """The one in force at date: the latest started on or before it, else the earliest
    (fragments only where nothing complete is held, as for the default version)."""
    complete = [r for r in held if r.get("content") != "fragment"] or held
    started = [r for r in complete if recency_key(r)[0] <= date]
    return max(started, key=recency_key) if started else min(complete, key=recency_key)


def _translation_index(
    maps: Iterable[list[Resource]],
) -> dict[tuple[str, str], list[tuple[str, JSON]]]:
    index: dict[tuple[str, str], list[tuple[str, JSON]]] = defaultdict(list)
    for cm in (cm for versions in maps for cm in versions):
        for group in cm.get("group", []):
            source = (group.get("source") or "").split("|")[0]
            target_system = (group.get("target") or "").split("|")[0]
            for element in group.get("element", []):
                for target in element.get("target", []):
                    if target.get("code") and target.get("relationship") != "not-related-to":
                        index[(source, element.get("code"))].append((target_system, target))
    return dict(index)
