"""What one request may cost: the work and time budget, the batch size limit, value set
imports (cycles, depth, exponential fan-out) and regular expressions that cannot
backtrack. Each costly request stops with a too-costly (or 4xx) answer, quickly."""

from __future__ import annotations

import time

import pytest

from terminology.budget import Limits, TooCostly
from terminology.engine import Engine, OperationRequest
from terminology.outcome import TerminologyError

from .conftest import HCPCS, get


def _all_url(engine: Engine) -> str:
    return next(
        r["url"] for r in engine.resources("ValueSet") if r.get("id", "").startswith("hcpcs-all")
    )


def _run(engine: Engine, operation: str, rtype: str, parameters: list[dict], **kw) -> dict:
    body = {"resourceType": "Parameters", "parameter": parameters}
    return engine.run(OperationRequest(operation, rtype, body, **kw))


def _refused(engine: Engine, operation: str, rtype: str, parameters: list[dict], **kw):
    with pytest.raises(TerminologyError) as caught:
        _run(engine, operation, rtype, parameters, **kw)
    return caught.value


def _vs(url: str, includes: list[dict]) -> dict:
    return {
        "resourceType": "ValueSet",
        "url": url,
        "status": "active",
        "compose": {"include": includes},
    }


def _tx(*resources: dict) -> list[dict]:
    return [{"name": "tx-resource", "resource": r} for r in resources]


@pytest.fixture(scope="module")
def small(hcpcs_resources) -> Engine:
    """The 2020 release with a budget of 5,000 units and batches of at most 5."""
    import codesystem

    return Engine(hcpcs_resources, codesystem.HCPCS_ALIASES, Limits(work=5_000, batch=5))


# -- the budget -----------------------------------------------------------------------------
def test_work_past_the_budget_is_too_costly(small) -> None:
    inline = _vs("http://x.org/all", [{"system": HCPCS}])
    error = _refused(small, "expand", "ValueSet", [{"name": "valueSet", "resource": inline}])
    assert isinstance(error, TooCostly) and error.status == 422
    found = error.outcome["issue"][0]
    assert found["code"] == "too-costly"
    assert found["details"]["coding"][0]["code"] == "too-costly"
    assert "5,000 units of work" in found["details"]["text"]


def test_a_cheap_request_fits_a_small_budget(small) -> None:
    lookup = [{"name": "system", "valueUri": HCPCS}, {"name": "code", "valueCode": "A0021"}]
    assert get(_run(small, "lookup", "CodeSystem", lookup), "code") == "A0021"


def test_the_callers_deadline_stops_the_work(hcpcs) -> None:
    inline = _vs("http://x.org/all", [{"system": HCPCS}])
    asked = [{"name": "valueSet", "resource": inline}]
    error = _refused(hcpcs, "expand", "ValueSet", asked, deadline=time.monotonic() - 1)
    assert error.status == 422 and "took longer than" in error.text


def test_the_limits_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("HCPCS_TX_REQUEST_SECONDS", "2.5")
    monkeypatch.setenv("HCPCS_TX_REQUEST_WORK", "1000")
    monkeypatch.setenv("HCPCS_TX_BATCH_MAX", "7")
    assert Limits.from_environment() == Limits(work=1000, seconds=2.5, batch=7)
    monkeypatch.setenv("HCPCS_TX_REQUEST_WORK", "lots")
    with pytest.raises(ValueError, match="HCPCS_TX_REQUEST_WORK"):
        Limits.from_environment()


# -- batches --------------------------------------------------------------------------------
def _batch(url: str, codes: list[str]) -> list[dict]:
    validations = [
        {
            "name": "validation",
            "resource": {
                "resourceType": "Parameters",
                "parameter": [{"name": "coding", "valueCoding": {"system": HCPCS, "code": c}}],
            },
        }
        for c in codes
    ]
    return [{"name": "url", "valueUri": url}, *validations]


def test_a_batch_over_the_limit_is_refused_naming_it(small) -> None:
    error = _refused(
        small, "batch-validate-code", "ValueSet", _batch(_all_url(small), ["A0021"] * 6)
    )
    assert error.status == 413
    assert error.outcome["issue"][0]["code"] == "too-costly"
    assert "holds 6 validations, more than the 5" in error.text


def test_a_batch_past_its_budget_stops_as_a_whole(hcpcs_resources) -> None:
    import codesystem

    engine = Engine(hcpcs_resources, codesystem.HCPCS_ALIASES, Limits(work=20_000))
    codes = [c["code"] for c in hcpcs_resources[0]["concept"][:2000]]
    error = _refused(engine, "batch-validate-code", "ValueSet", _batch(_all_url(engine), codes))
    assert isinstance(error, TooCostly)  # not an answer per validation


# -- value set imports ------------------------------------------------------------------------
def _fan_out(levels: int) -> list[dict]:
    """vs0 imports vs1 twice, vs1 imports vs2 twice ... the last includes all of HCPCS."""
    found = [_vs(f"http://x.org/vs{levels}", [{"system": HCPCS}])]
    for i in range(levels):
        twice = [{"valueSet": [f"http://x.org/vs{i + 1}"]}] * 2
        found.append(_vs(f"http://x.org/vs{i}", twice))
    return found


def test_imports_of_imports_are_evaluated_once_per_request(hcpcs) -> None:
    asked = [{"name": "url", "valueUri": "http://x.org/vs0"}, {"name": "count", "valueInteger": 3}]
    started = time.perf_counter()
    result = _run(hcpcs, "expand", "ValueSet", asked + _tx(*_fan_out(14)))
    assert time.perf_counter() - started < 5  # 2^14 evaluations of the last level before
    assert result["expansion"]["total"] == len(hcpcs_resources_codes(hcpcs))


def hcpcs_resources_codes(engine: Engine) -> list[str]:
    cs = next(r for r in engine.resources("CodeSystem") if r.get("url") == HCPCS)
    return [c["code"] for c in cs["concept"]]


def test_an_import_chain_too_deep_is_refused(hcpcs) -> None:
    chain = [_vs("http://x.org/c300", [{"system": HCPCS, "concept": [{"code": "A0021"}]}])]
    chain += [
        _vs(f"http://x.org/c{i}", [{"valueSet": [f"http://x.org/c{i + 1}"]}]) for i in range(300)
    ]
    asked = [{"name": "url", "valueUri": "http://x.org/c0"}]
    error = _refused(hcpcs, "expand", "ValueSet", asked + _tx(*chain))
    assert error.status == 422 and "more than 64 levels deep" in error.text
    validate = asked + [{"name": "coding", "valueCoding": {"system": HCPCS, "code": "A0021"}}]
    assert _refused(hcpcs, "validate-code", "ValueSet", validate + _tx(*chain)).status == 422


def test_an_import_chain_within_the_limit_answers(hcpcs) -> None:
    chain = [_vs("http://x.org/c40", [{"system": HCPCS, "concept": [{"code": "A0021"}]}])]
    chain += [
        _vs(f"http://x.org/c{i}", [{"valueSet": [f"http://x.org/c{i + 1}"]}]) for i in range(40)
    ]
    result = _run(
        hcpcs, "expand", "ValueSet", [{"name": "url", "valueUri": "http://x.org/c0"}] + _tx(*chain)
    )
    assert [c["code"] for c in result["expansion"]["contains"]] == ["A0021"]


def test_an_import_cycle_is_refused(hcpcs) -> None:
    a = _vs("http://x.org/a", [{"valueSet": ["http://x.org/b"]}])
    b = _vs("http://x.org/b", [{"valueSet": ["http://x.org/a"]}])
    error = _refused(
        hcpcs, "expand", "ValueSet", [{"name": "url", "valueUri": "http://x.org/a"}] + _tx(a, b)
    )
    assert error.status == 400 and "circularity" in error.text


# -- regular expressions ----------------------------------------------------------------------
@pytest.mark.parametrize("pattern", [r"(\w+\s?)+", r"(.*a){25}", r"((a+)+)+b", r"(.*){12}x"])
def test_catastrophic_patterns_answer_fast(hcpcs, pattern) -> None:
    flt = {"property": "display", "op": "regex", "value": pattern}
    inline = _vs("http://x.org/regex", [{"system": HCPCS, "filter": [flt]}])
    started = time.perf_counter()
    result = _run(
        hcpcs,
        "expand",
        "ValueSet",
        [{"name": "valueSet", "resource": inline}, {"name": "count", "valueInteger": 2}],
    )
    assert time.perf_counter() - started < 3
    assert result["expansion"]["total"] >= 0


def test_the_whole_value_must_match(hcpcs) -> None:
    flt = {"property": "code", "op": "regex", "value": "A002[0-9]"}
    inline = _vs("http://x.org/regex", [{"system": HCPCS, "filter": [flt]}])
    result = _run(hcpcs, "expand", "ValueSet", [{"name": "valueSet", "resource": inline}])
    codes = [c["code"] for c in result["expansion"]["contains"]]
    assert codes and all(len(c) == 5 and c.startswith("A002") for c in codes)


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)b", r"a{2000}", r"[unclosed"])
def test_a_pattern_the_engine_refuses_is_a_400_naming_it(hcpcs, pattern) -> None:
    flt = {"property": "display", "op": "regex", "value": pattern}
    inline = _vs("http://x.org/regex", [{"system": HCPCS, "filter": [flt]}])
    error = _refused(hcpcs, "expand", "ValueSet", [{"name": "valueSet", "resource": inline}])
    assert error.status == 400
    assert f"The regex '{pattern}'" in error.text
    assert error.outcome["issue"][0]["expression"] == ["ValueSet.compose.include[0].filter[0]"]


def test_many_filtered_includes_answer_within_the_budget(hcpcs) -> None:
    includes = [
        {"system": HCPCS, "filter": [{"property": "display", "op": "regex", "value": f".*ab{i}.*"}]}
        for i in range(100)
    ]
    includes += [
        {
            "system": HCPCS,
            "filter": [{"property": "betos", "op": "=", "value": f"D1{chr(65 + i % 26)}"}],
        }
        for i in range(100)
    ]
    inline = _vs("http://x.org/many", includes)
    started = time.perf_counter()
    result = _run(
        hcpcs,
        "expand",
        "ValueSet",
        [{"name": "valueSet", "resource": inline}, {"name": "count", "valueInteger": 1}],
    )
    assert time.perf_counter() - started < 8  # within the 10 s budget (5.7 s before, idle)
    assert result["expansion"]["total"] > 0


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("b.*", ["b1"]),  # `.` does not match a line break (as in Python's re)
        (r"\Ab1\z", ["b1"]),
        ("(?s)b2.*", ["b2\nsecond line"]),
        ("second line", []),
        ("(?i)A1", ["a1"]),
        ("x?", ["empty"]),
    ],
)
def test_regex_matches_each_whole_text(simple_engine, pattern, expected) -> None:
    """Texts are scanned together, a line each: a match never spans two texts, nor part of
    one; a text with a line break of its own is matched alone."""
    displays = ["a1", "b1", "b2\nsecond line", ""]  # "" is shown as "empty" below
    concepts = [{"code": f"c{i}", "display": d} for i, d in enumerate(displays)]
    cs = {
        "resourceType": "CodeSystem",
        "url": "http://x.org/lines",
        "status": "active",
        "content": "complete",
        "concept": concepts,
    }
    flt = {"property": "display", "op": "regex", "value": pattern}
    vs = _vs("http://x.org/lines-vs", [{"system": cs["url"], "filter": [flt]}])
    asked = [{"name": "valueSet", "resource": vs}, {"name": "tx-resource", "resource": cs}]
    result = _run(simple_engine, "expand", "ValueSet", asked)
    shown = {
        c["display"] if c.get("display") else "empty"
        for c in result["expansion"].get("contains", [])
    }
    assert shown == set(expected)
