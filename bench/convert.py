"""Time converting each full CMS release (zip -> FHIR JSON bytes), median of a few runs.

    .venv/bin/python bench/convert.py [RELEASE ...] [--runs 5]

Defaults to the releases shipped in data/releases/. Not a test: a figure to report.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import orjson

from codesystem import read_release, to_fhir
from terminology.loader import shipped_releases

PROJECT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 2.0


def convert_once(path: Path) -> tuple[float, float, float, float, int]:
    """Seconds to read, build the CodeSystem, serialise; CPU seconds; the concept count.

    CPU time is reported too: wall time on a shared machine includes other people's work.
    """
    cpu = time.process_time()
    start = time.perf_counter()
    release = read_release(path)
    read = time.perf_counter()
    codesystem = to_fhir(release)
    built = time.perf_counter()
    orjson.dumps(codesystem, option=orjson.OPT_INDENT_2)
    done = time.perf_counter()
    return (
        read - start,
        built - read,
        done - built,
        time.process_time() - cpu,
        len(release.concepts),
    )


def bench(path: Path, runs: int) -> str:
    results = [convert_once(path) for _ in range(runs)]
    read, build, dump = (statistics.median(r[i] for r in results) for i in range(3))
    total = statistics.median(sum(r[:3]) for r in results)
    cpu = statistics.median(r[3] for r in results)
    verdict = "ok" if total <= TARGET_SECONDS else f"OVER {TARGET_SECONDS:.0f} s"
    return (
        f"{path.name}: {results[0][4]} concepts, median of {runs}: {total:.3f} s wall, "
        f"{cpu:.3f} s CPU (read {read:.3f}, CodeSystem {build:.3f}, JSON {dump:.3f}) {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("releases", nargs="*", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    releases = args.releases or shipped_releases()
    for path in releases:
        print(bench(path, args.runs), flush=True)


if __name__ == "__main__":
    main()
