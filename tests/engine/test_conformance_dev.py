"""Dev tool: run the Engine directly over the tx-ecosystem general suites and report pass
counts per suite (TX_SUITES=a,b limits the run, TX_VERBOSE=1 prints every first difference).
Each suite must keep at least its REQUIRED pass count."""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest

from tests.conftest import shared_file
from tests.engine import txsuite

# Pass counts reached so far, per suite: a ratchet (raise them, never lower them).
REQUIRED: dict[str, int] = {
    "simple-cases": 15,
    "parameters": 35,
    "language": 26,
    "language2": 25,
    "extensions": 11,
    "validation": 53,
    "version": 203,
    "overload": 25,
    "fragment": 7,
    "big": 4,
    "other": 3,
    "errors": 7,
    "deprecated": 11,
    "notSelectable": 50,
    "inactive": 12,
    "case": 6,
    "translate": 2,
    "tho": 3,
    "exclude": 8,
    "search": 6,
    "default-valueset-version": 12,
    "batch": 2,
    "permutations": 56,
    "regex-bad": 2,
}


def _results(only: set[str] | None = None) -> tuple[Counter, Counter, list[str]]:
    root = shared_file("tx-ecosystem/test-cases.json").parent
    externals = txsuite.load(root / "messages-tx.fhir.org.json")
    passed, total, failures = Counter(), Counter(), []
    for case in txsuite.cases(root, only):
        try:
            diff = txsuite.run_case(root, case, externals)
        except Exception as error:  # noqa: BLE001 - a dev report, not a product path
            diff = f"exception {type(error).__name__}: {error}"
        total[case.suite] += 1
        if diff is None:
            passed[case.suite] += 1
        else:
            failures.append(f"{case.suite}/{case.name}: {diff}")
    return passed, total, failures


def test_suites_pass_counts() -> None:
    only = set(os.environ["TX_SUITES"].split(",")) if os.environ.get("TX_SUITES") else None
    passed, total, failures = _results(only)
    report = {s: f"{passed[s]}/{total[s]}" for s in total}
    print(json.dumps(report, indent=1))
    print(
        f"tx-ecosystem (engine, direct): {sum(passed.values())} passed, "
        f"{sum(total.values()) - sum(passed.values())} failed"
    )
    if os.environ.get("TX_VERBOSE"):
        print("\n".join(failures))
    broken = {s: report[s] for s in REQUIRED if s in total and passed[s] < REQUIRED[s]}
    assert not broken, (broken, [f for f in failures if f.split("/")[0] in broken])


if __name__ == "__main__":
    pytest.main([__file__, "-s"])
