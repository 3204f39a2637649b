"""Terminology operations, one module per operation, over a per-request Context: the
registry in scope, the frozen Request (terminology/request.py) and the run's state."""

from __future__ import annotations

from dataclasses import dataclass

from codesystem.fhir_types import JSON, Resource
from terminology.budget import Budget
from terminology.params import Params, value_of
from terminology.registry import Registry
from terminology.request import CODING_ONLY, Request, RunState
from terminology.version_policy import VersionPolicy

__all__ = ["Context", "Facts", "language_tags", "requested_supplements"]
FACTS_KEPT = 8  # Facts a batch remembers (one per value set / language)


@dataclass(slots=True)
class Facts:
    """What a context says that the check of every coding asks: the languages and the
    supplements asked for, and the request's flags. Worked out once per context (see
    Context.facts); a batch's validations whose own parameters are of Scope.CODING share
    their batch's. Read only once made."""

    value_set: Resource | None  # the value set they were worked out with (context.value_set)
    languages: tuple[str, ...]  # language tags asked for, best first (no q-values, no *)
    supplements: tuple[str, ...]  # supplement canonicals asked for, by request or value set
    active_only: bool  # activeOnly
    membership_only: bool  # valueset-membership-only
    infer_system: bool  # inferSystem
    lenient_display: bool  # lenient-display-validation
    abstract_refused: bool  # abstract=false


def language_tags(raw: object) -> tuple[str, ...]:
    """Language tags of a displayLanguage / Accept-Language value, best first, without
    q-values or wildcards."""
    if not raw:
        return ()
    tags = []
    for part in str(raw).split(","):
        tag = part.split(";")[0].strip()
        if tag and tag != "*":
            tags.append(tag)
    return tuple(tags)


SUPPLEMENT_EXT = "http://hl7.org/fhir/StructureDefinition/valueset-supplement"


def requested_supplements(params: Params, vs: Resource | None) -> list[str]:
    """Supplement canonicals asked for by the request or by the value set's extension."""
    if not params.has("useSupplement") and not (vs and vs.get("extension")):
        return []  # the usual request: none
    asked = [str(v) for v in params.all("useSupplement")]
    for ext in (vs or {}).get("extension", []):
        if ext.get("url") == SUPPLEMENT_EXT and ext.get("valueCanonical"):
            asked.append(ext["valueCanonical"])
    return asked


class Context:
    """What one operation works with: the resources in scope (registry), what was asked
    (request: frozen) and what it changes while it runs (run)."""

    __slots__ = ("registry", "request", "run", "params", "versions")

    def __init__(self, registry: Registry, request: Request, run: RunState | None = None) -> None:
        self.registry, self.request = registry, request
        self.run = run if run is not None else RunState(request.edge)
        self.params: Params = request.params  # read by every operation: an attribute
        self.versions: VersionPolicy = request.options.versions

    def for_validation(self, own: list[JSON], budget: Budget) -> Context:
        """The context of a $batch-validate-code validation: its own parameters (checked
        here) before this batch context's, built into a request by the one constructor
        (Request.build); the batch's registry with its own tx-resources; spending budget."""
        params = self.params.preceded_by(own)
        registry, edge = self.registry, self.request.edge
        if "tx-resource" in params.own_names:
            resources = [value_of(p) for p in own if p["name"] == "tx-resource"]
            registry = registry.layer([r for r in resources if isinstance(r, dict)])
            edge = edge._replace(stored_only=False)
        request = Request.build(registry, params, edge, over=self.request)
        shares = params.own_names <= CODING_ONLY  # its Facts are the batch's
        return Context(
            registry, request, RunState(edge, budget, self.run.shared if shares else None)
        )

    @property
    def languages(self) -> str | None:
        return self.request.edge.languages

    @property
    def stored_only(self) -> bool:
        return self.request.edge.stored_only

    @property
    def cost_limit(self) -> int | None:
        return self.request.edge.cost_limit

    @property
    def date(self) -> str | None:
        return self.request.options.date

    @property
    def budget(self) -> Budget:
        return self.run.budget

    @property
    def value_set(self) -> Resource | None:
        return self.run.value_set

    @property
    def value_set_language(self) -> str | None:
        return self.run.value_set_language

    @property
    def display_language(self) -> str | None:
        request = self.request
        return (
            request.options.display_language
            or request.edge.languages
            or self.run.value_set_language
        )

    def facts(self) -> Facts:
        """This context's Facts: a batch's validations share them when their own parameters
        do not change them (and the languages and the value set are the same)."""
        kept: dict[tuple[str, str | None, int], Facts] | None = self.run.shared
        if kept is None:  # a request of its own: worked out once, by its caller
            return self._facts()
        vs = self.run.value_set
        key = ("facts", self.run.value_set_language, id(vs))
        found = kept.get(key)
        if found is None or found.value_set is not vs:  # (an id reused)
            if len(kept) >= FACTS_KEPT:
                kept.clear()
            found = kept[key] = self._facts()
        return found

    def _facts(self) -> Facts:
        options, vs = self.request.options, self.run.value_set
        return Facts(
            value_set=vs,
            languages=language_tags(self.display_language),
            supplements=tuple(requested_supplements(self.params, vs)),
            active_only=options.active_only,
            membership_only=options.membership_only,
            infer_system=options.infer_system,
            lenient_display=options.lenient_display,
            abstract_refused=options.abstract_refused,
        )

    def use_value_set_language(self, vs: Resource) -> None:
        """A value set's own display language (expansion-parameter extension or language)."""
        run = self.run
        for ext in vs.get("compose", {}).get("extension", []):
            if ext.get("url", "").endswith("valueset-expansion-parameter"):
                parts = {e.get("url"): e for e in ext.get("extension", [])}
                if parts.get("name", {}).get("valueCode") == "displayLanguage":
                    run.value_set_language = parts.get("value", {}).get("valueCode")
                    return
        run.value_set_language = vs.get("language")

    def against(self, vs: Resource, language: str | None) -> None:
        """Validate against vs, whose display language is language."""
        self.run.value_set, self.run.value_set_language = vs, language
