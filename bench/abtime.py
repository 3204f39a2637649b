"""Per-request cost of scenarios through the ASGI app in-process, best of several rounds
(robust to a busy machine): ``python -m bench.abtime VC02 LK01 [--layer engine]``.

Complements bench.profile (which profiles one scenario): use it to compare before/after.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.asgi_client import Transport, call_request
from bench.profile import WORK, _engine_calls, _scenario, _store


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("scenarios", nargs="+")
    ap.add_argument("--db", default=str(WORK / "bench.db"))
    ap.add_argument("--base", default="/r4")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=0.3, help="per round")
    ap.add_argument("--layer", choices=("asgi", "engine"), default="asgi")
    args = ap.parse_args(argv)
    from terminology.api import create_app, engine_from_store

    engine = engine_from_store(_store(Path(args.db)))
    app = create_app(engine)
    loop = asyncio.new_event_loop()
    for sid in args.scenarios:
        with httpx.Client(transport=Transport(app), base_url="http://bench") as client:
            scenario = _scenario(client, args.base, sid)
        one = _caller(args.layer, engine, app, loop, scenario.requests)
        for _ in range(200):
            one()
        best = float("inf")
        for _ in range(args.rounds):
            n, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < args.seconds:
                one()
                n += 1
            best = min(best, elapsed / n)
        print(f"{sid} {args.layer}: best {best * 1e6:,.1f} µs per request")


def _caller(layer: str, engine, app, loop, requests: list) -> Callable[[], None]:
    """One random request of the scenario per call, through the engine or the ASGI app."""
    rng = random.Random(6)
    if layer == "engine":
        calls = _engine_calls(engine, requests)

        def one() -> None:
            try:
                engine.run(rng.choice(calls))
            except Exception as error:  # a TerminologyError is LK05's right answer
                if not hasattr(error, "outcome"):
                    raise

        return one
    return lambda: loop.run_until_complete(call_request(app, rng.choice(requests)))


if __name__ == "__main__":
    main()
