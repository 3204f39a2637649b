"""The engine facade: Engine(resources, aliases).run(OperationRequest) -> R5 resource dict.

Pure Python, no HTTP: the API, the CLI and the tests all call this.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from time import monotonic as _monotonic

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

Handler = Callable[[Context, "str | None"], dict]
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
    parameters: dict
    instance_id: str | None = None
    languages: str | None = None
    fhir_version: str | None = None  # the endpoint's FHIR release (4.0.1 on /r4); None: R5
    cost_limit: int | None = None  # X-TOO-COSTLY-THRESHOLD: a lower expansion size limit
    deadline: float | None = None  # a time.monotonic() instant the answer is due by (the
    # caller's own timeout): the request stops then if its budget has not stopped it before


# meta.tag of the FHIR core resources shipped per FHIR release (terminology/data/fhir-core).
FHIR_VERSION_TAG = "http://hl7.org/fhir/FHIR-version"


def fhir_release(resource: dict) -> str | None:
    """The FHIR release a resource belongs to (its FHIR-version tag), None for the others."""
    for tag in (resource.get("meta") or {}).get("tag", []):
        if tag.get("system") == FHIR_VERSION_TAG:
            return tag.get("code")
    return None


class _Release(Registry):
    """The FHIR core resources of one FHIR release over the stored ones: where this layer
    holds a url, the other releases' versions of it are hidden (an R4 request sees
    administrative-gender 4.0.1 only). Stored resources count as its own for caching."""

    def candidates(self, rtype: str, url: str) -> list[dict]:
        own = self._by_url[rtype].get(self.canonical(url), [])
        return list(own) if own else super().candidates(rtype, url)

    def owns(self, resource: dict) -> bool:
        return super().owns(resource) or (self.parent is not None and self.parent.owns(resource))


class Engine:
    """Stored CodeSystem / ValueSet / ConceptMap resources and the operations over them."""

    def __init__(
        self,
        resources: Iterable[dict],
        aliases: Mapping[str, str] | None = None,
        limits: Limits | None = None,
    ) -> None:
        """limits: what one request may spend (terminology/budget.py); by default read from
        the environment (HCPCS_TX_REQUEST_SECONDS, HCPCS_TX_REQUEST_WORK, HCPCS_TX_BATCH_MAX)."""
        self.limits = limits or Limits.from_environment()
        resources = list(resources)
        tagged: dict[str, list[dict]] = defaultdict(list)
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

    def run(self, request: OperationRequest) -> dict:
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
        context = Context.build(
            registry, params, request.languages, not tx, self.limits, started, request.deadline
        )
        context.cost_limit = request.cost_limit
        return handler(context, request.instance_id)

    def resources(self, resource_type: str) -> list[dict]:
        return self.registry.all(resource_type) if resource_type in TYPES else []

    def resource(self, resource_type: str, id: str) -> dict | None:
        return self.registry.by_id(resource_type, id) if resource_type in TYPES else None
