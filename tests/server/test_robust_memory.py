"""Memory stays flat whatever values requests send: every memo keyed by request values is
bounded by bytes (terminology/caches.py), or keyed so that requests cannot vary it freely.

Each test sends a flood of requests whose values all differ and reads the process's
resident memory (VmRSS) before and after: growth stays under GROWTH_MB. Counts are kept
modest so the file runs in well under a minute; bench/attacks_memory.py runs the full-size
floods (2,000 and 4,200 requests) against a fresh process."""

from __future__ import annotations

import gc
from collections.abc import Callable

import pytest

from terminology import caches
from terminology.engine import OperationRequest
from terminology.outcome import TerminologyError

from .conftest import HCPCS

GROWTH_MB = 20


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def growth(send: Callable[[int], int], count: int) -> float:
    """MB of resident memory `count` calls of send(i) leave behind (after a warm-up, so
    that what any first request builds is not counted)."""
    for i in range(50):
        send(-1 - i)
    gc.collect()
    before = rss_mb()
    statuses = {send(i) for i in range(count)}
    gc.collect()
    assert all(status < 500 for status in statuses), statuses
    return rss_mb() - before


def _post(client, path: str, parameters: list[dict]) -> int:
    body = {"resourceType": "Parameters", "parameter": parameters}
    return client.post(f"/r4/{path}", json=body).status_code


@pytest.fixture(scope="module")
def all_codes(engine) -> str:
    return next(
        r["url"] for r in engine.resources("ValueSet") if r.get("id", "").startswith("hcpcs-all")
    )


VERSION_PARAMETERS = (
    "system-version",
    "check-system-version",
    "force-system-version",
    "default-valueset-version",
)


@pytest.mark.parametrize("name", VERSION_PARAMETERS)
def test_distinct_version_parameters_do_not_grow_memory(client, all_codes, name) -> None:
    """One worker went 160 MB -> 3.1 GB with 2,000 of these: each value cached the whole
    expansion again."""

    def send(i: int) -> int:
        value = f"{HCPCS}|2020-{i}" if name != "default-valueset-version" else f"{all_codes}|{i}"
        if name == "check-system-version":
            value = f"http://example.org/cs{i}|1"
        given = {"name": name, "valueCanonical": value}
        validate = [{"name": "url", "valueUri": all_codes}, given]
        validate.append({"name": "coding", "valueCoding": {"system": HCPCS, "code": "A0021"}})
        expand = [
            {"name": "url", "valueUri": all_codes},
            {"name": "count", "valueInteger": 3},
            given,
        ]
        return max(
            _post(client, "ValueSet/$validate-code", validate),
            _post(client, "ValueSet/$expand", expand),
        )

    assert growth(send, 300) < GROWTH_MB


def test_distinct_60kb_systems_do_not_grow_memory(client) -> None:
    """4,200 of these took a worker 94 -> 561 MB: each url kept in three resolution memos."""

    def send(i: int) -> int:
        system = f"http://example.org/{i}/" + "a" * 60_000
        parameters = [
            {"name": "system", "valueUri": system},
            {"name": "code", "valueCode": "A0021"},
        ]
        return _post(client, "CodeSystem/$lookup", parameters)

    assert growth(send, 600) < GROWTH_MB


def test_distinct_implicit_value_set_versions_do_not_grow_memory(client) -> None:
    def send(i: int) -> int:
        parameters = [
            {"name": "url", "valueUri": f"{HCPCS}?fhir_vs"},
            {"name": "valueSetVersion", "valueString": f"v{i}"},
            {"name": "count", "valueInteger": 3},
        ]
        return _post(client, "ValueSet/$expand", parameters)

    assert growth(send, 600) < GROWTH_MB


def test_distinct_tx_resources_do_not_grow_memory(client) -> None:
    """A request's own resources never reach a memo shared across requests."""

    def send(i: int) -> int:
        vs = {
            "resourceType": "ValueSet",
            "url": f"http://example.org/vs/{i}",
            "status": "active",
            "compose": {"include": [{"system": HCPCS, "filter": [
                {"property": "code", "op": "regex", "value": f"A00{i % 100:02d}"}
            ]}]},
        }  # fmt: skip
        parameters = [
            {"name": "url", "valueUri": vs["url"]},
            {"name": "tx-resource", "resource": vs},
            {"name": "coding", "valueCoding": {"system": HCPCS, "code": "A0021"}},
        ]
        return _post(client, "ValueSet/$validate-code", parameters)

    assert growth(send, 600) < GROWTH_MB


def test_every_memo_is_within_its_budget() -> None:
    found = caches.report()
    assert set(found) == set(caches.KINDS)
    for kind, figures in found.items():
        assert figures["bytes"] <= figures["budget_bytes"], kind
        assert figures["entries"] >= 0 and figures["holds"]


def test_ten_thousand_distinct_request_values_leave_memory_flat(engine, all_codes) -> None:
    """Issue 11's measure: 10,000 requests through the engine, each with a value no other
    request sends (a system-version, a valueSetVersion, or a whole tx-resource ValueSet),
    leave resident memory within GROWTH_MB."""

    def request(parameters: list[dict], operation: str = "validate-code") -> OperationRequest:
        body = {"resourceType": "Parameters", "parameter": parameters}
        return OperationRequest(operation, "ValueSet", body)

    coding = {"name": "coding", "valueCoding": {"system": HCPCS, "code": "A0021"}}

    def system_version(i: int) -> OperationRequest:
        # a version for a system the value set does not use: the answer is the same, and
        # a memo keyed by the request's versions would keep one expansion per value
        given = {"name": "system-version", "valueCanonical": f"http://example.org/cs{i}|1"}
        return request([{"name": "url", "valueUri": all_codes}, given, coding])

    def value_set_version(i: int) -> OperationRequest:
        url = {"name": "url", "valueUri": f"{HCPCS}?fhir_vs"}
        count = {"name": "count", "valueInteger": 3}
        return request([url, {"name": "valueSetVersion", "valueString": f"v{i}"}, count], "expand")

    def tx_resource(i: int) -> OperationRequest:
        vs = {
            "resourceType": "ValueSet",
            "url": f"http://example.org/vs/{i}",
            "status": "active",
            "compose": {"include": [{"system": HCPCS, "concept": [{"code": f"A{i % 10000:04d}"}]}]},
        }
        url = {"name": "url", "valueUri": vs["url"]}
        return request([url, {"name": "tx-resource", "resource": vs}, coding])

    kinds = (system_version, value_set_version, tx_resource)

    def send(i: int) -> int:
        try:
            engine.run(kinds[i % 3](i))
        except TerminologyError as error:
            return error.status
        return 200

    assert growth(send, 10_000) < GROWTH_MB
