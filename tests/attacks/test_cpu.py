"""Attacks on time: small requests that cost minutes of CPU (issue 12: the full CodeSystem as
XML 50.7 s and 2.25 GB; a 300-byte regex filter hangs the worker forever; value sets that
import the next level twice, 17 s at 10 levels; 200 filtered includes 5.7 s; a 15 MB batch
6.8 s with the event loop blocked). Each must be answered, or refused with `too-costly`,
within its budget, while the worker's other clients are still answered."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from . import payloads
from .harness import SCALE, Answer, Attack, answer_or_refusal

pytestmark = pytest.mark.attack

BUDGET_S = 5.0


def _xml_or_refusal(answer: Answer) -> str | None:
    """XML in time, or a 4xx OperationOutcome (a size cap for rendering on the fly)."""
    if answer.status == 200 and not answer.text.startswith("<"):
        return f"HTTP 200 that is not XML: {answer.text[:100]}"
    return answer_or_refusal(answer)


def test_full_codesystem_as_xml(server) -> None:
    """Rendered once and kept, streamed, or refused past a size cap: any of them, in time."""
    attack = Attack(server, "GET CodeSystem/hcpcs-2020-01?_format=xml", BUDGET_S, _xml_or_refusal)
    with attack.running():
        attack.send("GET", "/r4/CodeSystem/hcpcs-2020-01?_format=xml")
    attack.verdict()


BIG_ANSWERS = {
    # found by `python -m bench.fuzz`: answers of megabytes, asked as XML
    "CodeSystem read with _summary=data": "/r4/CodeSystem/hcpcs-2020-01?_summary=data",
    "every code expanded": f"/r4/ValueSet/$expand?url={quote(payloads.ALL_CODES, safe='')}",
    "$changes 2019-01 to 2020-01": (
        f"/r5/CodeSystem/$changes?system={quote(payloads.HCPCS, safe='')}"
        "&fromVersion=2019-01&toVersion=2020-01"
    ),
}


@pytest.mark.parametrize("what", sorted(BIG_ANSWERS))
def test_big_answer_as_xml(server, what: str) -> None:
    """The same rule for other answers of megabytes: rendered in time (off the event loop or
    streamed), or refused past a size cap."""
    attack = Attack(server, f"{what} as XML", BUDGET_S, _xml_or_refusal)
    with attack.running():
        attack.send("GET", BIG_ANSWERS[what] + "&_format=xml")
    attack.verdict()


@pytest.mark.parametrize("pattern", [r"(\w+\s?)+", "(.*a){25}"])
def test_catastrophic_regex_filter(server, pattern: str) -> None:
    """Matched in linear time, stopped by the budget, or refused with a 400 naming it."""

    def linear_or_named(answer: Answer) -> str | None:
        named = pattern in answer.text or "too-costly" in answer.issue_codes
        if answer.status == 400 and not named:
            return f"a 400 that does not name the pattern {pattern!r}: {answer.text[:200]}"
        return answer_or_refusal(answer)

    attack = Attack(server, f"regex filter {pattern} on display", BUDGET_S, linear_or_named)
    with attack.running():
        attack.send(
            "POST",
            "/r4/ValueSet/$expand",
            content=payloads.body(payloads.regex_expand(pattern)),
            headers=payloads.JSON_TYPE,
        )
    attack.verdict()


@pytest.mark.parametrize("levels", [10, 14])
def test_value_sets_importing_the_next_level_twice(server, levels: int) -> None:
    attack = Attack(server, f"tx-resource imports doubling, {levels} levels", BUDGET_S)
    with attack.running():
        attack.send(
            "POST",
            "/r4/ValueSet/$expand",
            content=payloads.body(payloads.import_levels(levels)),
            headers=payloads.JSON_TYPE,
        )
    attack.verdict()


def test_two_hundred_filtered_includes_inline(server) -> None:
    content = payloads.body(payloads.many_filtered_includes(200))
    attack = Attack(server, f"200 filtered includes inline ({len(content) // 1024} KB)", BUDGET_S)
    with attack.running():
        attack.send("POST", "/r4/ValueSet/$expand", content=content, headers=payloads.JSON_TYPE)
    attack.verdict()


def test_large_batch_validation(server) -> None:
    count = SCALE["batch_validations"]
    codes = _all_codes(server.base)
    content = payloads.big_batch(codes, count)
    name = f"$batch-validate-code {count:,} validations ({len(content) / 1e6:.1f} MB)"
    attack = Attack(server, name, BUDGET_S)
    with attack.running():
        attack.send(
            "POST", "/r4/ValueSet/$batch-validate-code", content=content, headers=payloads.JSON_TYPE
        )
    attack.verdict()


def _all_codes(base: str) -> list[str]:
    """Every HCPCS code the server holds, paged through $expand (before the attack: it also
    warms the worker, so the baseline RSS includes the usual caches)."""
    url, codes = quote(payloads.ALL_CODES, safe=""), []
    with httpx.Client(base_url=base, timeout=60) as client:
        while True:
            page = client.get(f"/r4/ValueSet/$expand?url={url}&count=1000&offset={len(codes)}")
            found = [c["code"] for c in page.json()["expansion"].get("contains", [])]
            codes += found
            if len(found) < 1000:
                return codes
