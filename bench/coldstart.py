"""Cold start alone: start the server as the harness does, time the first $lookup answer.

    python -m bench.coldstart [--db bench/.work/bench.db] [--workers 2] [--runs 3]

A quick check while working on start-up (the full harness measures the same once per run).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from bench.corpus import HCPCS_URL
from bench.servers import Server, free_port


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db", default="bench/.work/bench.db")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    exe = Path(sys.executable).with_name("hcpcs-tx")
    times = []
    with tempfile.TemporaryDirectory() as logs:
        for _ in range(args.runs):
            port = free_port()
            cmd = [str(exe), "--db", args.db, "serve", "--host", "127.0.0.1"]
            cmd += ["--port", str(port), "--workers", str(args.workers)]
            server = Server("coldstart", cmd, port, Path(logs)).start()
            try:
                path = f"/r4/CodeSystem/$lookup?system={HCPCS_URL}&code=A0021"
                times.append(server.wait_answer(path, ok_only=True))
            finally:
                server.stop()
    shown = ", ".join(f"{t:.3f}" for t in times)
    print(f"cold start to first answer: median {statistics.median(times):.3f} s ({shown})")


if __name__ == "__main__":
    main()
