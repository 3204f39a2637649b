"""Terminology operations, one module per operation, over a per-request Context."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from terminology.index import day
from terminology.outcome import TerminologyError, finding, operation_outcome
from terminology.params import Params
from terminology.registry import Registry


def canonical_parts(value: str) -> tuple[str, str | None]:
    """'url|version' -> (url, version)."""
    url, _, version = value.partition("|")
    return url, version or None


_LANGUAGE_TAG = re.compile(r"\*|[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")


def _language_list(value: str) -> bool:
    """Whether value is a language tag, or a list of them with weights (as Accept-Language)."""
    tags = [part.split(";")[0].strip() for part in value.split(",")]
    return all(_LANGUAGE_TAG.fullmatch(tag) for tag in tags)


@dataclass
class Context:
    """What one request knows: resources in scope, its parameters, its languages."""

    registry: Registry
    params: Params
    languages: str | None = None
    stored_only: bool = True
    force_versions: dict[str, str] = field(default_factory=dict)
    default_versions: dict[str, str] = field(default_factory=dict)
    check_versions: dict[str, str] = field(default_factory=dict)
    value_set_language: str | None = None
    value_set: dict | None = None
    valueset_versions: dict[str, str] = field(default_factory=dict)
    date: str | None = None  # the `date` parameter (YYYY-MM-DD): answer as of that day
    cost_limit: int | None = None  # a client's lower limit on an expansion's size

    @classmethod
    def build(
        cls, registry: Registry, params: Params, languages: str | None, stored_only: bool
    ) -> Context:
        context = cls(registry, params, languages, stored_only)
        for name, target in (
            ("force-system-version", context.force_versions),
            ("system-version", context.default_versions),
            ("check-system-version", context.check_versions),
            ("default-valueset-version", context.valueset_versions),
        ):
            for value in params.all(name):
                url, version = canonical_parts(str(value))
                if version:
                    target[registry.canonical(url)] = version
        shown = params.get("displayLanguage")
        if shown is not None and not _language_list(str(shown)):
            found = finding("INVALID_DISPLAY_NAME", shown)
            raise TerminologyError(400, operation_outcome([found]))
        if params.get("date"):
            context.date = day(str(params.get("date")))
            # the release in force at that date, unless a version is asked for
            for url, version in registry.in_force(context.date).items():
                context.default_versions.setdefault(url, version)
        return context

    @property
    def display_language(self) -> str | None:
        return self.params.get("displayLanguage") or self.languages or self.value_set_language

    def use_value_set_language(self, vs: dict) -> None:
        """A value set's own display language (expansion-parameter extension or language)."""
        for ext in vs.get("compose", {}).get("extension", []):
            if ext.get("url", "").endswith("valueset-expansion-parameter"):
                parts = {e.get("url"): e for e in ext.get("extension", [])}
                if parts.get("name", {}).get("valueCode") == "displayLanguage":
                    self.value_set_language = parts.get("value", {}).get("valueCode")
                    return
        self.value_set_language = vs.get("language")
