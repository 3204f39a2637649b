"""Issue 6's scenarios as lists of real requests drawn at random from the served release.

Each scenario is a pool of distinct requests (codes, prefixes, pages drawn from the
corpus with a fixed seed, so runs are comparable); wrk picks one at random per call.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from urllib.parse import quote

import orjson

from bench.corpus import BETOS_O1E_VS, HCPCS_URL, Corpus
from bench.lua import Request

POOL = 1000  # distinct requests per GET scenario
BATCH_SIZE = 1000  # codes per BV01 request
BATCH_BODIES = 8
FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    requests: list[Request] = field(default_factory=list)
    expect_error: bool = False  # the correct answer is a 4xx OperationOutcome
    codes_per_request: int = 1
    skip: str | None = None


def _q(**params: str | int) -> str:
    return "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())


def _get(path: str, **params: str | int) -> Request:
    return Request("GET", f"{path}?{_q(**params)}")


def _unknown_codes(rng: random.Random, known: set[str], n: int) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        code = rng.choice("ABCEGHJKLMQRSTUV") + f"{rng.randrange(10000):04d}"
        if code not in known:
            out.add(code)
    return sorted(out)


def _prefixes(rng: random.Random, displays: list[str], n: int) -> list[str]:
    """2-3 word prefixes of real descriptions, as a user types them into a search box."""
    out: set[str] = set()
    for display in rng.sample(displays, len(displays)):
        words = display.split()
        k = rng.choice((2, 3))
        if len(words) >= k:
            out.add(" ".join(words[:k]))
        if len(out) >= n:
            break
    return sorted(out)


def _words(displays: list[str]) -> list[str]:
    return sorted({w for d in displays for w in re.findall(r"[A-Za-z]{4,}", d)})


def build(corpus: Corpus, seed: int = 6) -> list[Scenario]:
    """All scenarios for ``corpus`` (those the server cannot serve carry a skip reason)."""
    rng = random.Random(seed)
    b, cs, vs = corpus.base, HCPCS_URL, corpus.all_vs
    picks = [rng.choice(corpus.codes) for _ in range(POOL)]
    known = {c for c, _ in corpus.codes}
    displays = [d for _, d in corpus.codes if d]
    scenarios = [
        Scenario(
            "LK01",
            "$lookup, known code (GET)",
            [_get(f"{b}/CodeSystem/$lookup", system=cs, code=c) for c, _ in picks],
        ),
        Scenario(
            "LK05",
            "$lookup, unknown code (GET)",
            [
                _get(f"{b}/CodeSystem/$lookup", system=cs, code=c)
                for c in _unknown_codes(rng, known, POOL)
            ],
            expect_error=True,
        ),
        Scenario(
            "VC01",
            "CodeSystem/$validate-code, code + display (GET)",
            [_get(f"{b}/CodeSystem/$validate-code", url=cs, code=c, display=d) for c, d in picks],
        ),
        Scenario(
            "VC02",
            "ValueSet/$validate-code, all-codes value set (GET)",
            [
                _get(f"{b}/ValueSet/$validate-code", url=vs, system=cs, code=c, display=d)
                for c, d in picks
            ],
        ),
        Scenario(
            "VC03",
            "ValueSet/$validate-code, wrong display (GET)",
            [
                _get(
                    f"{b}/ValueSet/$validate-code",
                    url=vs,
                    system=cs,
                    code=c,
                    display=f"Not the display of {c}",
                )
                for c, _ in picks
            ],
        ),
        Scenario(
            "EX03",
            "typeahead $expand, filter = 2-3 word prefix, count=10",
            [
                _get(f"{b}/ValueSet/$expand", url=vs, filter=p, count=10)
                for p in _prefixes(rng, displays, POOL)
            ],
        ),
        Scenario(
            "EX05",
            "$expand BETOS=O1E value set, count=50, random page",
            [
                _get(f"{b}/ValueSet/$expand", url=BETOS_O1E_VS, count=50, offset=o)
                for o in range(0, max(corpus.betos_total, 1), 50)
            ],
        ),
        Scenario(
            "EX08",
            "$expand BETOS=O1E value set + text filter, count=10",
            [
                _get(f"{b}/ValueSet/$expand", url=BETOS_O1E_VS, filter=w, count=10)
                for w in _words(corpus.betos_displays)
            ],
        ),
        Scenario(
            "SS01",
            "CodeSystem search by url",
            [_get(f"{b}/CodeSystem", url=cs)]
            + [_get(f"{b}/CodeSystem", url=cs, version=v) for v in corpus.cs_versions],
        ),
        _translate(corpus, rng),
        _batch(corpus, rng),
    ]
    return scenarios


def _translate(corpus: Corpus, rng: random.Random) -> Scenario:
    title = "$translate (GET)"
    pairs = [
        (cm.get("url", ""), g.get("source", ""), el["code"])
        for cm in corpus.conceptmaps
        for g in cm.get("group", [])
        for el in g.get("element", [])
        if "code" in el and cm.get("url") and any("code" in t for t in el.get("target", []))
    ]  # mapped codes only: for an unmatched one, result=false is the (cheaper) answer
    if not pairs:
        return Scenario("CM01", title, skip="the server has no ConceptMap to translate with")
    code_param = "sourceCode" if corpus.base.rstrip("/").endswith("r5") else "code"
    reqs = [
        _get(f"{corpus.base}/ConceptMap/$translate", url=u, system=s, **{code_param: c})
        for u, s, c in (rng.choice(pairs) for _ in range(POOL))
    ]
    return Scenario("CM01", title, reqs)


def batch_body(vs_url: str, codes: list[tuple[str, str]]) -> bytes:
    """A $batch-validate-code Parameters (tx-ecosystem shape): url + one validation per code."""
    params = [{"name": "url", "valueUri": vs_url}]
    for code, display in codes:
        coding = {"system": HCPCS_URL, "code": code}
        if display:
            coding["display"] = display
        inner = {
            "resourceType": "Parameters",
            "parameter": [{"name": "coding", "valueCoding": coding}],
        }
        params.append({"name": "validation", "resource": inner})
    return orjson.dumps({"resourceType": "Parameters", "parameter": params})


def batch_codes(corpus: Corpus, rng: random.Random) -> list[tuple[str, str]]:
    return [rng.choice(corpus.codes) for _ in range(BATCH_SIZE)]


def _batch(corpus: Corpus, rng: random.Random) -> Scenario:
    reqs = [
        Request(
            "POST",
            f"{corpus.base}/ValueSet/$batch-validate-code",
            batch_body(corpus.all_vs, batch_codes(corpus, rng)),
            FHIR_JSON,
        )
        for _ in range(BATCH_BODIES)
    ]
    return Scenario(
        "BV01", f"batch validation, {BATCH_SIZE} codes per POST", reqs, codes_per_request=BATCH_SIZE
    )
