"""BV01 in-process: codes/s through ``Engine.run`` with no HTTP, plus per-code operations.

Run as a subprocess by the harness (``python -m bench.inprocess --db X``) so a failure in
the engine cannot take the harness down; prints one JSON object. The per-code figures
(one $validate-code / $lookup per call) show how much of an HTTP request is engine time.

The batch is measured twice: ``batch`` (cold, the headline) with the batch answer memo off,
so every code is validated; ``batch_warm`` with it on, as a server that has seen the same
codings before answers (the first call fills the memo, the timed calls read it).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence

import orjson

from bench.corpus import ALL_CODES_VS, HCPCS_URL


def _timed(calls: Sequence[Callable[[], object]], units_per_call: int, seconds: float) -> dict:
    """Run ``calls`` round-robin for ``seconds`` (after one warm call); units per second.

    Bounded by time, not by count, so a slow engine costs seconds, not minutes.
    """
    t0 = time.perf_counter()
    calls[0]()
    first = time.perf_counter() - t0
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or n == 0:
        calls[n % len(calls)]()
        n += 1
    return {
        "first_call_ms": round(first * 1000, 2),
        "calls": n,
        "per_unit_us": round(elapsed / (n * units_per_call) * 1e6, 2),
        "units_per_s": round(units_per_call * n / elapsed),
    }


def _guard(fn: Callable[[], dict]) -> dict:
    try:
        return fn()
    except Exception as error:  # report, don't crash: the engine may be mid-build
        return {"error": f"{type(error).__name__}: {str(error)[:300]}"}


def measure(db: str, batch_size: int = 1000, seconds: float = 2.0, seed: int = 6) -> dict:
    import codesystem
    from terminology.engine import Engine, OperationRequest
    from terminology.store import Store

    t0 = time.perf_counter()
    with Store(db) as store:
        resources = store.resources()
    engine = Engine(resources, codesystem.HCPCS_ALIASES)
    build_s = time.perf_counter() - t0
    hcpcs = max(
        (
            r
            for r in resources
            if r.get("resourceType") == "CodeSystem" and r.get("url") == HCPCS_URL
        ),
        key=lambda r: r.get("version", ""),
    )
    vs_urls = {r.get("url") for r in resources if r.get("resourceType") == "ValueSet"}
    vs = next(u for u in ALL_CODES_VS if u in vs_urls)
    rng = random.Random(seed)
    concepts = [(c["code"], c.get("display", "")) for c in hcpcs.get("concept", [])]
    codes = [rng.choice(concepts) for _ in range(batch_size)]

    def coding(code: str, display: str) -> dict:
        return {"system": HCPCS_URL, "code": code, "display": display}

    batch = {
        "resourceType": "Parameters",
        "parameter": [{"name": "url", "valueUri": vs}]
        + [
            {
                "name": "validation",
                "resource": {
                    "resourceType": "Parameters",
                    "parameter": [{"name": "coding", "valueCoding": coding(c, d)}],
                },
            }
            for c, d in codes
        ],
    }

    def run_batch() -> dict:
        out = engine.run(OperationRequest("batch-validate-code", "ValueSet", batch))
        return out

    def one_by_one(operation: str, resource_type: str, params: Callable[[str, str], list]):
        requests = [
            OperationRequest(
                operation, resource_type, {"resourceType": "Parameters", "parameter": params(c, d)}
            )
            for c, d in codes
        ]
        return [lambda r=r: engine.run(r) for r in requests]

    def p(name: str, kind: str, value: str) -> dict:
        return {"name": name, kind: value}

    def validate_params(c: str, d: str) -> list:
        return [
            p("url", "valueUri", vs),
            p("system", "valueUri", HCPCS_URL),
            p("code", "valueCode", c),
            p("display", "valueString", d),
        ]

    def lookup_params(c: str, d: str) -> list:
        return [p("system", "valueUri", HCPCS_URL), p("code", "valueCode", c)]

    def batch_run(memo: bool) -> dict:
        """Validation counts and throughput, the answer memo on or off (off: uncached)."""
        from terminology.operations import batch as batch_operation

        batch_operation.use_memo(memo)
        try:
            return {**batch_check(), **_timed([run_batch], batch_size, seconds)}
        finally:
            batch_operation.use_memo(True)

    def batch_check() -> dict:
        out = run_batch()
        results = [
            q.get("valueBoolean")
            for v in out.get("parameter", [])
            if v.get("name") == "validation"
            for q in v.get("resource", {}).get("parameter", [])
            if q.get("name") == "result"
        ]
        return {"validations": len(results), "true": sum(1 for r in results if r)}

    return {
        "resources": len(resources),
        "engine_build_s": round(build_s, 3),
        "codes": batch_size,
        "value_set": vs,
        "batch": _guard(lambda: {"memo": False, **batch_run(memo=False)}),
        "batch_warm": _guard(lambda: {"memo": True, **batch_run(memo=True)}),
        "validate_one_by_one": _guard(
            lambda: _timed(one_by_one("validate-code", "ValueSet", validate_params), 1, seconds)
        ),
        "lookup_one_by_one": _guard(
            lambda: _timed(one_by_one("lookup", "CodeSystem", lookup_params), 1, seconds)
        ),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db", required=True)
    ap.add_argument("--codes", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args(argv)
    sys.stdout.buffer.write(orjson.dumps(measure(args.db, args.codes, args.seconds)) + b"\n")


if __name__ == "__main__":
    main()
