"""Per-request cost of scenarios through the ASGI app in-process, best of several rounds
(robust to a busy machine): ``python -m bench.abtime VC02 LK01 [--layer engine]``.

Complements bench.profile (which profiles one scenario): use it to compare before/after.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import httpx

from bench.asgi_client import Transport
from bench.profile import WORK, _scenario, _store, caller


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
        one = caller(args.layer, engine, app, loop, scenario.requests)
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


if __name__ == "__main__":
    main()
