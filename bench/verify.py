"""Check a sample of each scenario's requests against our server and capture its bytes.

Before any load, every scenario's answers are checked (2xx, or a 4xx OperationOutcome
where that is the correct answer), and the median-sized answer becomes the bytes the
ceilings replay. A scenario whose every sampled answer is wrong is skipped with a reason.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace

import httpx
import orjson

from bench.ceiling import Capture
from bench.lua import Request
from bench.scenarios import Scenario

SAMPLE = 30
SAMPLE_BUDGET_S = 5.0  # a scenario answering in seconds is checked on fewer requests
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


def is_correct(scenario: Scenario, status: int, body: bytes) -> bool:
    """2xx for ordinary scenarios; a 4xx OperationOutcome where an error is the answer."""
    if not scenario.expect_error:
        return 200 <= status < 300
    if not 400 <= status < 500:
        return False
    try:
        return orjson.loads(body).get("resourceType") == "OperationOutcome"
    except orjson.JSONDecodeError:
        return False


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
