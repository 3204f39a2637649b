"""Check a sample of each scenario's requests against our server and capture its bytes.

Before any load, every scenario's answers are checked: the status (2xx, or a 4xx
OperationOutcome where an error is the right answer) and what the answer says
(``EXPECT``). The median-sized right answer becomes the bytes the ceilings replay. A
scenario whose every sampled answer is wrong is skipped with a reason.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import httpx
import orjson

from bench.ceiling import Capture
from bench.lua import Request
from bench.scenarios import Scenario

SAMPLE = 30
SAMPLE_BUDGET_S = 3.0  # a scenario answering in seconds is checked on fewer requests
MIN_SAMPLE = 3


@dataclass(frozen=True)
class Checked:
    scenario: Scenario
    capture: Capture | None
    sampled: int
    wrong: int
    status: int | None
    mean_bytes: int
    first_problem: str = ""


def _param(resource: dict, name: str) -> object:
    for p in resource.get("parameter", []):
        if p.get("name") == name:
            return next((v for k, v in p.items() if k.startswith("value")), p.get("resource"))
    return None


def _contains(resource: dict) -> int:
    return len(resource.get("expansion", {}).get("contains", []))


# What a right answer holds, beyond its status: a check per scenario id.
EXPECT: dict[str, Callable[[dict], bool]] = {
    "LK01": lambda r: r.get("resourceType") == "Parameters" and bool(_param(r, "display")),
    "LK05": lambda r: r.get("resourceType") == "OperationOutcome",
    "VC01": lambda r: _param(r, "result") is True,
    "VC02": lambda r: _param(r, "result") is True,
    "VC03": lambda r: _param(r, "result") is False,
    "EX03": lambda r: _contains(r) > 0,
    "EX05": lambda r: _contains(r) > 0,
    "EX08": lambda r: _contains(r) > 0,
    "SS01": lambda r: r.get("resourceType") == "Bundle" and r.get("total", 0) > 0,
    "CM01": lambda r: _param(r, "result") is True,
    "BV01": lambda r: sum(p.get("name") == "validation" for p in r.get("parameter", [])) > 0,
}


def is_correct(scenario: Scenario, status: int, body: bytes) -> bool:
    """The right status class (2xx, or 4xx where an error is the answer) and content."""
    wanted = 400 <= status < 500 if scenario.expect_error else 200 <= status < 300
    if not wanted:
        return False
    try:
        resource = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return EXPECT.get(scenario.id, lambda r: True)(resource)


def _send(client: httpx.Client, r: Request) -> httpx.Response:
    headers = {"Accept": "application/fhir+json"}
    if r.content_type:
        headers["Content-Type"] = r.content_type
    return client.request(r.method, r.path, content=r.body, headers=headers)


def check(server: str, scenario: Scenario, seed: int = 6) -> Checked:
    """Send up to ``SAMPLE`` of the scenario's requests; capture the median-sized answer."""
    if scenario.skip:
        return Checked(scenario, None, 0, 0, None, 0)
    rng = random.Random(seed)
    sample = rng.sample(scenario.requests, min(SAMPLE, len(scenario.requests)))
    good: list[tuple[Request, httpx.Response]] = []
    problem = ""
    started = time.perf_counter()
    with httpx.Client(base_url=server, timeout=60.0) as client:
        for i, r in enumerate(sample):
            if i >= MIN_SAMPLE and time.perf_counter() - started > SAMPLE_BUDGET_S:
                sample = sample[:i]
                break
            resp = _send(client, r)
            if is_correct(scenario, resp.status_code, resp.content):
                good.append((r, resp))
            elif not problem:
                problem = f"{r.method} {r.path[:120]} -> {resp.status_code} {resp.text[:300]}"
    wrong = len(sample) - len(good)
    if not good:
        skipped = replace(scenario, skip=f"every sampled answer was wrong: {problem}")
        return Checked(skipped, None, len(sample), wrong, None, 0, problem)
    good.sort(key=lambda rr: len(rr[1].content))
    req, resp = good[len(good) // 2]
    capture = Capture(
        scenario=scenario.id,
        method=req.method,
        path=req.path.split("?", 1)[0],
        status=resp.status_code,
        content_type=resp.headers.get("content-type", "application/fhir+json"),
        body=resp.content,
    )
    mean = sum(len(r.content) for _, r in good) // len(good)
    return Checked(scenario, capture, len(sample), wrong, resp.status_code, mean, problem)
