"""A bounded fuzzing run for CI (issue 12): a few thousand generated requests against a real
server, none answered with a 5xx, none slower than 2 s, none left unanswered.

Two generators (tests/fuzz/cases.py): schemathesis over the server's /openapi.json, and
hypothesis strategies over the FHIR operation parameter tables. Sizes and seed:
HCPCS_TX_FUZZ_SCHEMA_CASES (default 1,500), HCPCS_TX_FUZZ_FHIR_CASES (2,000),
HCPCS_TX_FUZZ_SEED (a fixed default: the same cases every run; set it to explore). Every
failing case is printed as its request and a curl line. The long run (25,000+ cases) is
`python -m bench.fuzz`.
"""

from __future__ import annotations

import os

import httpx
import pytest

from tests.attacks.harness import TxServer, rss_mb

from .cases import fhir_cases, schema_cases
from .runner import SLOW_S, run_cases

SEED = int(os.environ.get("HCPCS_TX_FUZZ_SEED", "20261203"))
SCHEMA_CASES = int(os.environ.get("HCPCS_TX_FUZZ_SCHEMA_CASES", "1500"))
FHIR_CASES = int(os.environ.get("HCPCS_TX_FUZZ_FHIR_CASES", "2000"))
RSS_AFTER_MB = 600  # a worker past this after a fuzz run is leaking


def _judge(server: TxServer, report, what: str) -> None:
    print(f"\n{what} (seed {SEED}): {report.summary()}")
    worker_rss = rss_mb(server.worker())
    problems = []
    if report.failures:
        problems.append(
            f"{len(report.failures)} failing case(s) (5xx, slower than {SLOW_S:g} s, or no "
            f"answer):\n{report.failure_report()}"
        )
    if worker_rss is None:
        problems.append("the worker is gone")
    elif worker_rss > RSS_AFTER_MB:
        problems.append(f"the worker's RSS is {worker_rss:.0f} MB after the run")
    assert not problems, f"{what} (seed {SEED}): {report.summary()}\n" + "\n".join(problems)


def test_schema_fuzz(fuzz_server: TxServer) -> None:
    """schemathesis over every route and method /openapi.json declares."""
    openapi = httpx.get(fuzz_server.base + "/openapi.json", timeout=30)
    if openapi.status_code != 200:
        pytest.fail(f"/openapi.json answered {openapi.status_code}: the schema fuzz needs it")
    cases = schema_cases(openapi.json(), SCHEMA_CASES, SEED)
    _judge(fuzz_server, run_cases(fuzz_server.base, cases), "schema fuzz")


def test_fhir_parameter_fuzz(fuzz_server: TxServer) -> None:
    """Odd values, shapes and bodies over the FHIR operation parameter tables."""
    cases = fhir_cases(FHIR_CASES, SEED)
    _judge(fuzz_server, run_cases(fuzz_server.base, cases), "FHIR parameter fuzz")
