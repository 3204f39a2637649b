"""The engine facade: Engine(resources, aliases).run(OperationRequest) -> R5 resource dict.

Pure Python, no HTTP: the API, the CLI and the tests all call this.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from time import monotonic as _monotonic

from codesystem.fhir_types import Resource
from terminology.budget import Limits
from terminology.operations import (
    Context,
    batch,
    changes,
    closure,
    expand,
    lookup,
    subsumes,
    translate,
    validate,
)
from terminology.outcome import TerminologyError
from terminology.params import Params
from terminology.registry import TYPES, Registry, version_key
from terminology.request import Edge, Request

Handler = Callable[[Context, "str | None"], Resource]
_HANDLERS: dict[tuple[str, str], Handler] = {
    ("lookup", "CodeSystem"): lookup.run,
    ("validate-code", "CodeSystem"): validate.run_code_system,
    ("validate-code", "ValueSet"): validate.run_value_set,
    ("expand", "ValueSet"): expand.run,
    ("subsumes", "CodeSystem"): subsumes.run,
    ("translate", "ConceptMap"): translate.run,
    ("batch-validate-code", "ValueSet"): batch.run,
    ("changes", "CodeSystem"): changes.run,
    ("closure", "ConceptMap"): closure.run,
}


@dataclass(frozen=True)
class OperationRequest:
    operation: str
    resource_type: str
    parameters: Resource  # an R5 Parameters resource
    instance_id: str | None = None
    languages: str | None = None
    fhir_version: str | None = None  # the endpoint's FHIR release (4.0.1 on /r4); None: R5
    cost_limit: int | None = None  # X-TOO-COSTLY-THRESHOLD: a lower expansion size limit
    deadline: float | None = None  # a time.monotonic() instant the answer is due by (the
    # caller's own timeout): the request stops then if its budget has not stopped it before


# meta.tag of the FHIR core resources shipped per FHIR release (terminology/data/fhir-core).
FHIR_VERSION_TAG = "http://hl7.org/fhir/FHIR-version"


def fhir_release(resource: Resource) -> str | None:
    """The FHIR release a resource belongs to (its FHIR-version tag), None for the others."""
    for tag in (resource.get("meta") or {}).get("tag", []):
        if tag.get("system") == FHIR_VERSION_TAG:
            code = tag.get("code")
            return code if isinstance(code, str) else None
    return None


class _Release(Registry):
    """The FHIR core resources of one FHIR release over the stored ones: where this layer
    holds a url, the other releases' versions of it are hidden (an R4 request sees
    administrative-gender 4.0.1 only). Stored resources count as its own for caching."""

    def candidates(self, rtype: str, url: str) -> list[Resource]:
        own = self._by_url[rtype].get(self.canonical(url), [])
        return list(own) if own else super().candidates(rtype, url)

    def owns(self, resource: Resource) -> bool:
        return super().owns(resource) or (self.parent is not None and self.parent.owns(resource))


def _published_ids(resources: Iterable[Resource]) -> list[Resource]:
    """The resources, each FHIR core copy under the id its release publishes it with.

    The copies of one FHIR core resource (administrative-gender 4.0.1 and 5.0.0) share an
    id; the store, keyed by (type, id), keeps the second as `{id}-{version}`. Each FHIR
    release's endpoint sees only its own copies (_Release), so there the ids cannot clash
    and each copy gets its own id back: /r5/CodeSystem/administrative-gender is 5.0.0 as
    /r4/... is 4.0.1, in read, search and instance operations alike. Done here, once per
    engine, rather than in the store's id rule: the store must keep one row key per
    (type, id) whatever the release, stores already written (holding the suffixed ids) are
    served the same way without a migration, and no request pays for it. An id is restored
    only where the store suffixed it: another release's copy of that url holds the plain
    id and no copy of its own release does.
    """
    resources = list(resources)
    held: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for resource in resources:
        if (release := fhir_release(resource)) and resource.get("url") and resource.get("id"):
            held[resource["resourceType"], resource["url"]][release].add(resource["id"])
    return [_published(resource, held) for resource in resources]


def _published(
    resource: Resource, held: Mapping[tuple[str, str], Mapping[str, set[str]]]
) -> Resource:
    release = fhir_release(resource)
    copies = held.get((resource.get("resourceType", ""), resource.get("url", "")))
    if release is None or copies is None:
        return resource
    stored, suffix = str(resource.get("id", "")), f"-{resource.get('version')}"
    plain = stored.removesuffix(suffix)
    elsewhere = any(plain in ids for other, ids in copies.items() if other != release)
    if plain != stored and elsewhere and plain not in copies[release]:
        return {**resource, "id": plain}
    return resource


class Engine:
    """Stored CodeSystem / ValueSet / ConceptMap resources and the operations over them."""

    def __init__(
        self,
        resources: Iterable[Resource],
        aliases: Mapping[str, str] | None = None,
        limits: Limits | None = None,
    ) -> None:
        """limits: what one request may spend (terminology/budget.py); by default read from
        the environment (HCPCS_TX_REQUEST_SECONDS, HCPCS_TX_REQUEST_WORK, HCPCS_TX_BATCH_MAX)."""
        self.limits = limits or Limits.from_environment()
        resources = _published_ids(resources)
        tagged: dict[str, list[Resource]] = defaultdict(list)
        for resource in resources:
            if release := fhir_release(resource):
                tagged[release].append(resource)
        latest = max(tagged, key=version_key) if tagged else None
        main = [r for r in resources if fhir_release(r) in (None, latest)] if tagged else resources
        self.registry = Registry(main, aliases or {})
        self._releases = {
            release: _Release(held, parent=self.registry)
            for release, held in tagged.items()
            if release != latest
        }

    def _base(self, fhir_version: str | None) -> Registry:
        """The stored resources as seen from an endpoint of that FHIR release."""
        for release, registry in self._releases.items():
            if fhir_version and release.split(".")[:2] == fhir_version.split(".")[:2]:
                return registry
        return self.registry

    def run(self, request: OperationRequest) -> Resource:
        """Run one operation; raises TerminologyError on any failure the request causes: a
        malformed request (4xx, checked before the operation runs: params.check_parameters),
        one that costs more than its budget (422 too-costly). Anything else that escapes is
        a bug in the engine, for the caller to log (the API answers 500)."""
        started = _monotonic()
        handler = _HANDLERS.get((request.operation, request.resource_type))
        if handler is None:
            raise TerminologyError.of(
                400,
                "not-supported",
                None,
                "UNKNOWN_OPERATION",
                request.operation,
                request.resource_type,
            )
        params = Params(request.parameters)
        tx = [r for r in params.all("tx-resource") if isinstance(r, dict)]
        registry = self._base(request.fhir_version).layer(tx)
        edge = Edge(
            request.languages, not tx, self.limits, started, request.deadline, request.cost_limit
        )
        context = Context(registry, Request.build(registry, params, edge))
        return handler(context, request.instance_id)

    def resources(self, resource_type: str, fhir_version: str | None = None) -> list[Resource]:
        """What is stored, as an endpoint of that FHIR release sees it (None: R5): every
        stored resource, and of the FHIR core copies those its operations resolve among
        (on /r4 administrative-gender 4.0.1, not 5.0.0)."""
        if resource_type not in TYPES:
            return []
        registry = self._base(fhir_version)
        held = registry.all(resource_type)
        if registry is self.registry:
            return held
        return [r for r in held if fhir_release(r) is None or _among(r, registry, resource_type)]

    def resource(
        self, resource_type: str, id: str, fhir_version: str | None = None
    ) -> Resource | None:
        """The stored resource with that id, as an endpoint of that FHIR release sees it."""
        if resource_type not in TYPES:
            return None
        return self._base(fhir_version).by_id(resource_type, id)


def _among(resource: Resource, registry: Registry, resource_type: str) -> bool:
    """Whether the registry resolves resource's url among versions that include it."""
    return any(r is resource for r in registry.candidates(resource_type, resource["url"]))
