"""Turn an expected tx-ecosystem response (with placeholders) into a concrete response a
conforming server could send, and break such responses in known ways: the runner's
self-tests check that the first always passes and the broken ones never do."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bench.conformance.compare import CONTROL_KEYS

FHIR_VERSION = "5.0.0"

GOOD: dict[str, str] = {
    "$$": "anything at all",
    "$string$": "some text",
    "$id$": "id-1.2",
    "$token$": "token_1.2-a",
    "$url$": "http://example.org/fhir/x",
    "$uuid$": "urn:uuid:12345678-1234-4234-8234-123456789abc",
    "$instant$": "2026-01-01T10:20:30.123Z",
    "$date$": "2026-01-01",
    "$semver$": "1.2.3-beta.1",
    "$version$": FHIR_VERSION,
}
BAD: dict[str, Any] = {
    "$$": 12,  # any string, but a number is another type
    "$string$": " padded ",
    "$id$": "not an id",
    "$token$": "-starts badly",
    "$url$": "not a url",
    "$uuid$": "12345678-1234-4234-8234-123456789abc",
    "$instant$": "2026-01-01",
    "$date$": "01/01/2026",
    "$semver$": "1.0",
    "$version$": "4.0.1",
}


@dataclass(frozen=True)
class Site:
    """Where in the concrete instance a value came from, and whether changing it must fail
    (not inside an optional item, a count-only array, or what the scrubber removes)."""

    path: tuple[str | int, ...]
    template: Any
    strict: bool


@dataclass
class Filler:
    """How to fill. minimal (a Comparer's is_optional) drops the array items that are optional
    in the run, else all are kept without the marker; externals (N -> text, from a server's
    messages file) fill ``$external:N$`` with that server's wording; sites collects where
    every primitive came from."""

    minimal: Callable[[Any], bool] | None = None
    externals: dict[str, str] | None = None
    sites: list[Site] | None = None


def concrete(expected: Any, filler: Filler | None = None) -> Any:
    """A concrete instance of expected: placeholders filled with valid values, control keys
    dropped."""
    filler = filler or Filler()
    if filler.sites is None:
        filler.sites = []
    return _fill(expected, (), True, filler)


def _fill(node: Any, path: tuple, strict: bool, filler: Filler) -> Any:
    if isinstance(node, dict):
        count_only = set(node.get("$count-arrays$", []))
        item_strict = strict and "$optional$" not in node
        out = {}
        for key, value in node.items():
            if key in CONTROL_KEYS:
                continue
            scrubbed = key in SCRUBBED or (key in ("text", "meta") and "resourceType" in node)
            keep = item_strict and key not in count_only and not scrubbed
            out[key] = _fill(value, (*path, key), keep, filler)
        return out
    if isinstance(node, list):
        items = [i for i in node if not (filler.minimal and filler.minimal(i))]
        return [_fill(item, (*path, i), strict, filler) for i, item in enumerate(items)]
    assert filler.sites is not None
    filler.sites.append(Site(path, node, strict))
    return fill_value(node, filler.externals) if isinstance(node, str) else node


# what the scrubber may remove anywhere, and what the comparison ignores
SCRUBBED = frozenset({"extension", "diagnostics", "fhir_comments"})


def fill_value(template: str, externals: dict[str, str] | None = None) -> str:
    """A value that satisfies template (a server's own message for ``$external:N$``)."""
    if template in GOOD:
        return GOOD[template]
    if template.startswith("$") and template.endswith("$") and len(template) > 1:
        body = template[1:-1]
        if body.startswith("choice:"):
            return body[len("choice:") :].split("|")[0]
        if body.startswith("fragments:"):
            return "Message: " + " / ".join(body[len("fragments:") :].split("|"))
        if body.startswith("external:"):
            parts = body.split(":", 2)
            if externals and parts[1] in externals:
                return externals[parts[1]]
            # numbered, so issues that differ only by message sort as the real ones do
            text = f"Message {parts[1]}"
            return text + ": " + " / ".join(parts[2].split("|")) if len(parts) > 2 else text
    return template.replace("$version$", FHIR_VERSION)


def break_value(template: Any) -> Any | None:
    """A value that must not satisfy template (None when every value would)."""
    if isinstance(template, bool):
        return not template
    if isinstance(template, int | float | Decimal):
        return template + 1
    if not isinstance(template, str):
        return None
    if template in BAD:
        return BAD[template]
    body = template[1:-1] if template.startswith("$") and template.endswith("$") else None
    if body is not None and body.startswith(("choice:", "fragments:")):
        return "zzz-unrelated"
    if body is not None and body.startswith("external:"):
        return "zzz-unrelated" if body.count(":") >= 2 else None
    return template.replace("$version$", FHIR_VERSION) + "-changed"


def placeholder_kind(template: Any) -> str | None:
    """$id$, $choice$, ... for a placeholder template; None for a literal."""
    if not isinstance(template, str) or not (template.startswith("$") and template.endswith("$")):
        return None
    if template in GOOD:
        return template
    return "$" + template[1:-1].split(":")[0] + "$" if ":" in template else None


def get(node: Any, path: tuple) -> Any:
    for step in path:
        node = node[step]
    return node


def with_value(instance: Any, path: tuple, value: Any) -> Any:
    """A copy of instance with the value at path replaced."""
    out = copy.deepcopy(instance)
    get(out, path[:-1])[path[-1]] = value
    return out


def without(instance: Any, path: tuple) -> Any:
    """A copy of instance with the property at path removed."""
    out = copy.deepcopy(instance)
    del get(out, path[:-1])[path[-1]]
    return out


def drop_items(expected: Any, is_optional: Callable[[Any], bool]) -> Any:
    """A copy of expected without the array items is_optional accepts (control keys kept)."""
    if isinstance(expected, dict):
        return {k: drop_items(v, is_optional) for k, v in expected.items()}
    if isinstance(expected, list):
        return [drop_items(i, is_optional) for i in expected if not is_optional(i)]
    return expected


def required_property(expected: dict) -> str | None:
    """A top-level property a response must have (not resourceType when another will do)."""
    optional = set(expected.get("$optional-properties$", []))
    candidates = [
        key
        for key, value in expected.items()
        if key not in CONTROL_KEYS
        and key not in optional
        and not (
            isinstance(value, list) and all("$optional$" in i for i in value if isinstance(i, dict))
        )
    ]
    others = [key for key in candidates if key != "resourceType"]
    return (others or candidates or [None])[0]
