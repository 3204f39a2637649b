"""``python -m bench``: run every scenario of issue 6 and write the results (see runner)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import report
from bench.runner import Settings, command_line, log, run


def parse(argv: list[str]) -> Settings:
    s = Settings()
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--duration", type=float, default=s.duration_s, help="seconds per wrk run")
    ap.add_argument(
        "--warmup", type=float, default=s.warmup_s, help="seconds of warm-up per scenario"
    )
    ap.add_argument("--connections", type=int, default=s.connections)
    ap.add_argument("--threads", type=int, default=s.threads)
    ap.add_argument(
        "--workers", type=int, default=s.workers, help="server workers (default: cores)"
    )
    ap.add_argument("--base", default=s.base, help="FHIR base path: /r4 or /r5")
    ap.add_argument("--releases", nargs="+", default=s.releases, help="release files to load")
    ap.add_argument("--only", default="", help="comma-separated scenario ids, e.g. LK01,VC02")
    ap.add_argument("--out", type=Path, default=s.out, help="results folder")
    ap.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    ap.add_argument("--wait-cli", type=float, default=0.0, help="seconds to poll for hcpcs-tx")
    a = ap.parse_args(argv)
    return Settings(
        duration_s=a.duration,
        warmup_s=a.warmup,
        connections=a.connections,
        threads=a.threads,
        workers=a.workers,
        base=a.base,
        releases=a.releases,
        only=[x for x in a.only.split(",") if x],
        out=a.out,
        readme=None if a.no_readme else s.readme,
        command=command_line(argv),
        wait_cli_s=a.wait_cli,
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    settings = parse(argv)
    results = run(settings)
    md, js = report.write(results, settings.out)
    if settings.readme and not settings.only:
        report.update_readme(settings.readme, results, md.relative_to(settings.readme.parent))
    log(f"wrote {md} and {js}")
    print(report.render(results))


if __name__ == "__main__":
    main()
