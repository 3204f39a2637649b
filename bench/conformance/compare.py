"""Compare a (scrubbed, sorted) response with an expected file, strictly, as the official
runner's CompareUtilities does.

Every property of the response must appear in the expected file (pattern mode, used for
metadata, allows extra content) unless the object lists it in ``$optional-properties$``;
every expected property must be present unless listed there too (Java's CompareUtilities
reads the list only as "may be absent"; issue 5 and the files themselves, which list
properties such as ``compose`` they never contain, read it both ways); arrays are matched
in order with ``$optional$`` items allowed to be absent; expected strings may be
placeholders. The first difference is returned with its path, so a report
line says where.

Deliberate differences from the Java runner, each towards the intent of the test files:
``$external:N:frags$`` fragments may contain ':' (Java splits them off and checks only
the first part), a literal ``$version$`` inside a longer string ("...|$version$") is
substituted, ``"$optional$": "version:N"`` means "optional when the server is FHIR N",
the typo key ``$optional`` (3 files) is read as ``$optional-properties$``, and unrelated
strings are never taken as equal base64. ``$only$`` (later versions of the suite) marks an
array item required where its filter holds and forbidden where it does not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from .manifest import major

CONTROL_KEYS = frozenset(
    {"$optional$", "$only$", "$optional-properties$", "$count-arrays$", "$optional"}
)

_DATE = (
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])"
)
_TIME = (
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?"
    r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
)
PATTERNS: dict[str, re.Pattern[str]] = {
    "$instant$": re.compile(_DATE + _TIME),
    "$date$": re.compile(_DATE + f"({_TIME})?"),
    "$uuid$": re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    "$id$": re.compile(r"[A-Za-z0-9\-.]{1,64}"),
    "$url$": re.compile(r"(https?://|www\.)[-a-zA-Z0-9+&@#/%?=~_|!:.;]*[-a-zA-Z0-9+&@#/%=~_|]"),
    "$token$": re.compile(r"[0-9a-zA-Z_][0-9a-zA-Z_.\-]*"),
    "$semver$": re.compile(
        r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
        r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
        r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
    ),
}
SIMPLE_PLACEHOLDERS = frozenset({"$$", "$string$", "$version$", *PATTERNS})


@dataclass(frozen=True)
class Difference:
    """The first place where a response departs from the expected file."""

    path: str
    message: str
    expected: str | None = None
    actual: str | None = None

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}"
        if self.expected is not None or self.actual is not None:
            text += f" (expected {self.expected}, actual {self.actual})"
        return text


@dataclass
class Comparer:
    """One comparison's settings.

    modes: the run's modes (``$optional$: "!tx.fhir.org"`` reads them); variables: "version"
    is the server's FHIR version for ``$version$``; externals: message N -> text for this
    response file (else ``$external$`` checks its fragments only); pattern: extra content
    allowed (metadata)."""

    modes: frozenset[str] = frozenset()
    variables: Mapping[str, str] = field(default_factory=dict)
    externals: Mapping[str, str] | None = None
    pattern: bool = False
    warnings: list[str] = field(default_factory=list)

    def compare(self, expected: Any, actual: Any) -> Difference | None:
        """None when actual matches expected, else the first difference."""
        root = expected.get("resourceType", "") if isinstance(expected, dict) else ""
        return self._node(root, self.resolve_only(expected), actual, count_only=False)

    def resolve_only(self, expected: Any) -> Any:
        """The expected file with its ``$only$`` items settled for this run: an array item
        whose filter passes is required (the marker goes), one whose filter fails must not be
        present (the item goes, and a property left with an empty array with it). The filter
        grammar is ``$optional$``'s: ``version:N`` (the server's FHIR version), a mode ``m``
        (on), ``!m`` (off)."""
        if isinstance(expected, list):
            kept = []
            for item in expected:
                if isinstance(item, dict) and "$only$" in item:
                    if not self.passes_only(str(item["$only$"])):
                        continue
                    item = {k: v for k, v in item.items() if k != "$only$"}
                kept.append(self.resolve_only(item))
            return kept
        if isinstance(expected, dict):
            out = {}
            for name, value in expected.items():
                resolved = self.resolve_only(value)
                if isinstance(value, list) and value and resolved == []:
                    continue  # every item belongs to another version or mode
                out[name] = resolved
            return out
        return expected

    def passes_only(self, token: str) -> bool:
        """Does a ``$only$`` filter hold for this run?"""
        if token.startswith("!"):
            return not self.passes_only(token[1:])
        if token.startswith("version:"):
            version = self.variables.get("version")
            return version is None or major(version) == major(token[len("version:") :])
        return token in self.modes

    # -- structure -------------------------------------------------------------------

    def _node(self, path: str, expected: Any, actual: Any, count_only: bool) -> Difference | None:
        if _kind(expected) != _kind(actual):  # object vs array vs primitive
            return Difference(path, "properties differ", _kind(expected), _kind(actual))
        if isinstance(actual, dict):
            return self._object(path, expected, actual)
        if isinstance(actual, list):
            return self._array(path, expected, actual, count_only)
        return self._primitive(path, expected, actual)

    def _object(
        self, path: str, expected: dict[str, Any], actual: dict[str, Any]
    ) -> Difference | None:
        optional = set(_strings(expected.get("$optional-properties$")))
        optional |= set(_strings(expected.get("$optional")))
        count_only = set(_strings(expected.get("$count-arrays$")))
        for name, value in actual.items():
            if name == "fhir_comments":
                continue
            if name in expected:
                diff = self._node(_join(path, name), expected[name], value, name in count_only)
                if diff:
                    return diff
            elif not self.pattern and name not in optional:
                return Difference(path, f"unexpected property {name}", None, _show(value))
        for name, value in expected.items():
            if name in CONTROL_KEYS or name == "fhir_comments" or name in optional:
                continue
            if "*" not in optional and name not in actual and not _all_optional(value):
                return Difference(path, f"missing property {name}", _show(value), None)
        return None

    def _array(
        self, path: str, expected: list[Any], actual: list[Any], count_only: bool
    ) -> Difference | None:
        if count_only:
            if len(actual) != len(expected):
                return Difference(
                    path, "array item count differs", str(len(expected)), str(len(actual))
                )
            return None
        if self.pattern:
            return self._array_pattern(path, expected, actual)
        optional = [self.is_optional(item) for item in expected]
        difference = self._items(path, expected, actual, optional)
        if len(actual) > len(expected) or len(actual) < optional.count(False):
            # the count decides, as in Java; the first item that differs says why
            count = f"array item count differs at {path}: {len(expected)} expected"
            count += f" ({optional.count(False)} required), {len(actual)} found"
            if difference is None:
                return Difference(path, count, str(len(expected)), str(len(actual)))
            return replace(difference, message=f"{difference.message}; {count}")
        return difference

    def _items(
        self, path: str, expected: list[Any], actual: list[Any], optional: list[bool]
    ) -> Difference | None:
        """Expected items in order against actual ones; optional ones may be skipped."""
        cursor = 0
        near: dict[int, Difference] = {}  # why an optional item did not take actual[cursor]
        for index, item in enumerate(expected):
            if cursor >= len(actual):
                if index >= len(expected) - optional.count(True) and optional[index]:
                    return None
                return Difference(f"{path}[{index}]", "array item missing", _show(item), None)
            diff = self._node(f"{path}[{index}]", item, actual[cursor], count_only=False)
            if diff and not optional[index]:
                return diff
            if diff:
                near.setdefault(cursor, diff)
            else:
                cursor += 1
        if cursor < len(actual):
            if cursor in near:  # more useful than "unexpected": the optional item it missed
                diff = near[cursor]
                return replace(diff, message=f"{diff.message} (unmatched optional item)")
            return Difference(
                f"{path}[{cursor}]", "unexpected array item", None, _show(actual[cursor])
            )
        return None

    def _array_pattern(
        self, path: str, expected: list[Any], actual: list[Any]
    ) -> Difference | None:
        """Pattern mode: each expected item must be found, in order, among the actual ones."""
        cursor = 0
        for index, item in enumerate(expected):
            found = False
            while not found and cursor < len(actual):
                found = self._node(f"{path}[{index}]", item, actual[cursor], False) is None
                cursor += 1
            if not found:
                return Difference(f"{path}[{index}]", "expected item not found", _show(item), None)
        return None

    def is_optional(self, item: Any) -> bool:
        """Is this expected array item ``$optional$`` under this run's modes and version?"""
        if not isinstance(item, dict) or "$optional$" not in item:
            return False
        flag = item["$optional$"]
        if isinstance(flag, bool):
            return flag
        return isinstance(flag, str) and self._passes_optional_filter(flag)

    def _passes_optional_filter(self, token: str) -> bool:
        if token.startswith("!"):
            return token[1:] not in self.modes
        if token.startswith("warning:"):
            self.warnings.append(token[len("warning:") :])
            return True
        if token.startswith("version:"):
            version = self.variables.get("version")
            return version is None or major(version) == major(token[len("version:") :])
        return token in self.modes

    # -- values ----------------------------------------------------------------------

    def _primitive(self, path: str, expected: Any, actual: Any) -> Difference | None:
        if isinstance(expected, str) and isinstance(actual, str):
            if ("<div" in expected and "<div" in actual) or self.matches(actual, expected):
                return None
            return Difference(path, "string values differ", self.describe(expected), repr(actual))
        if isinstance(expected, bool) and isinstance(actual, bool):
            same = expected == actual
        elif _is_number(expected) and _is_number(actual):
            same = str(expected) == str(actual)
        elif expected is None or actual is None:
            same = expected is actual
        else:
            return Difference(path, "property types differ", _show(expected), _show(actual))
        return None if same else Difference(path, "values differ", _show(expected), _show(actual))

    def matches(self, actual: str, expected: str) -> bool:
        """Does the actual string satisfy the expected one (literal or placeholder)? A string
        equal to the expected text always does, so an expected file matches itself."""
        if actual == expected:
            return True
        if len(expected) < 2 or not (expected.startswith("$") and expected.endswith("$")):
            if "$version$" in expected and "version" in self.variables:
                return actual == expected.replace("$version$", self.variables["version"])
            if "$version$" in expected:
                pattern = ".*".join(re.escape(p) for p in expected.split("$version$"))
                return re.fullmatch(pattern, actual) is not None
            return actual == expected
        body = expected[1:-1]
        if body.startswith("choice:"):
            return actual in body[len("choice:") :].split("|")
        if body.startswith("fragments:"):
            return _contains_all(actual, body[len("fragments:") :])
        if body.startswith("external:"):
            parts = body.split(":", 2)
            if self.externals is not None and parts[1] in self.externals:
                return actual == self.externals[parts[1]]
            return len(parts) < 3 or _contains_all(actual, parts[2])
        if expected == "$$":
            return True
        if expected == "$string$":
            return actual == actual.strip()
        if expected == "$version$":
            return self.variables.get("version", actual) == actual
        if expected in PATTERNS:
            return PATTERNS[expected].fullmatch(actual) is not None
        return actual == expected  # an unknown template: only itself matches

    def describe(self, expected: str) -> str:
        """How a report shows what was expected (placeholders in words)."""
        if expected.startswith("$choice:") and expected.endswith("$"):
            return "one of " + repr(expected[8:-1].split("|"))
        if expected.startswith("$fragments:") and expected.endswith("$"):
            return "text containing " + repr(expected[11:-1].split("|"))
        if expected.startswith("$external:") and expected.endswith("$"):
            parts = expected[1:-1].split(":", 2)
            if self.externals is not None and parts[1] in self.externals:
                return repr(self.externals[parts[1]]) + " (external)"
            return "text containing " + repr(parts[2].split("|")) if len(parts) > 2 else "any text"
        if expected == "$version$" and "version" in self.variables:
            return repr(self.variables["version"])
        if expected in SIMPLE_PLACEHOLDERS:
            return "a " + expected.strip("$") if expected != "$$" else "anything"
        return repr(expected)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _contains_all(actual: str, fragments: str) -> bool:
    text = actual.lower()
    return all(fragment.lower() in text for fragment in fragments.split("|"))


def _all_optional(value: Any) -> bool:
    """An expected array whose object items are all ``$optional$`` may be absent entirely."""
    return isinstance(value, list) and all(
        "$optional$" in item for item in value if isinstance(item, dict)
    )


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "primitive"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _show(value: Any, limit: int = 160) -> str:
    """A short rendering of a JSON value for a report line."""
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, dict | list):
        text = json.dumps(value, default=str, ensure_ascii=False)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
