"""What a run prints and writes: a line per failing test, a per-suite table, a last line
``tx-ecosystem: P passed, F failed``, and (``--json``) every result."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:  # annotations only: keeps httpx out of `hcpcs-tx serve` start-up
    from .runner import Result


def failure_line(result: Result) -> str:
    """``FAIL suite/test: path: what (expected X, actual Y)`` on one line."""
    message = " ".join(result.message.split())
    return f"FAIL {result.key}: {message}"


def suite_table(results: Iterable[Result]) -> str:
    """Suites in run order with passed / failed counts and a total row."""
    counts: dict[str, list[int]] = {}
    for result in results:
        counts.setdefault(result.suite, [0, 0])[0 if result.passed else 1] += 1
    width = max([len("suite"), *(len(s) for s in counts)])
    lines = [f"{'suite':<{width}}  passed  failed", f"{'-' * width}  ------  ------"]
    for suite, (passed, failed) in counts.items():
        lines.append(f"{suite:<{width}}  {passed:>6}  {failed:>6}")
    total_passed = sum(c[0] for c in counts.values())
    total_failed = sum(c[1] for c in counts.values())
    lines.append(f"{'total':<{width}}  {total_passed:>6}  {total_failed:>6}")
    return "\n".join(lines)


def summary_line(results: list[Result]) -> str:
    passed = sum(r.passed for r in results)
    return f"tx-ecosystem: {passed} passed, {len(results) - passed} failed"


def render(results: list[Result]) -> str:
    """The whole text report."""
    lines = [failure_line(r) for r in results if not r.passed]
    if lines:
        lines.append("")
    return "\n".join([*lines, suite_table(results), summary_line(results)])


def write_json(path: Path, results: list[Result], meta: Mapping[str, object]) -> None:
    """Every result (failed ones with the scrubbed, sorted response) plus run metadata."""
    document = {**meta, "results": [r.as_json() for r in results]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str))
