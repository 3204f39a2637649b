"""``python -m bench.fuzz``: the long fuzzing run of issue 12 (25,000 distinct cases or more).

The same generators as the CI run (tests/fuzz: schemathesis over /openapi.json, hypothesis
over the FHIR operation parameter tables), in chunks of fresh seeds until the asked number
of distinct cases has been sent, against `hcpcs-tx serve` over a fresh store holding the
2019 and 2020 releases of data/releases. Judged as in CI: 0 answers of 5xx, 0 answers
slower than 2 s, 0 requests left unanswered. Every failing case is printed as its request
and a curl line; figures and failures go to bench/results/fuzz-YYYY-MM-DD.{json,md}.
Exit code 1 when any case failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.attacks.harness import TxServer, load_store, rss_mb
from tests.fuzz.cases import fhir_cases, schema_cases
from tests.fuzz.runner import SLOW_S, FuzzReport, run_cases

ROOT = Path(__file__).resolve().parents[1]
RELEASES = ROOT / "data" / "releases"
FILES = (
    RELEASES / "2019-Alpha-Numeric-HCPCS-File.zip",
    RELEASES / "2020-Alpha-Numeric-HCPCS-File.zip",
)
CHUNK = 1000


def log(message: str) -> None:
    print(f"[fuzz {time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=25_000, help="distinct cases to send (25,000)")
    ap.add_argument("--schema-share", type=float, default=0.5, help="share from schemathesis (0.5)")
    ap.add_argument("--seed", type=int, default=1, help="first seed; chunk k uses seed + k")
    ap.add_argument("--workers", type=int, default=1, help="server workers (1)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / ".work" / "fuzz")
    return ap.parse_args(argv)


def run(settings: argparse.Namespace) -> tuple[FuzzReport, FuzzReport, dict]:
    settings.work.mkdir(parents=True, exist_ok=True)
    store = settings.work / "store.sqlite3"
    for stale in settings.work.glob("store.sqlite3*"):
        stale.unlink()
    load_store(store, list(FILES))
    log_path = settings.work / "server.log"
    log_path.write_text("")
    with TxServer(store, log_path, workers=settings.workers) as server:
        openapi = httpx.get(server.base + "/openapi.json", timeout=30)
        openapi.raise_for_status()
        document = openapi.json()
        reports = {"schema": FuzzReport(server.base), "fhir": FuzzReport(server.base)}
        targets = {
            "schema": round(settings.cases * settings.schema_share),
            "fhir": settings.cases - round(settings.cases * settings.schema_share),
        }
        seen: dict[str, set] = {"schema": set(), "fhir": set()}
        rss_start = rss_mb(server.worker())
        chunk, most = 0, 5 * (settings.cases // CHUNK + 1)  # fresh seeds give fresh cases
        while any(reports[k].cases < targets[k] for k in reports) and chunk < most:
            for kind, report in reports.items():
                left = targets[kind] - report.cases
                if left <= 0 or report.stopped:
                    continue
                at_seed = settings.seed + chunk
                size = min(CHUNK, max(2 * left, 200))  # the first examples repeat: ask more
                made = (
                    schema_cases(document, size, at_seed)
                    if kind == "schema"
                    else fhir_cases(size, at_seed)
                )
                fresh = [c for c in dict.fromkeys(made) if c not in seen[kind]][:left]
                seen[kind].update(fresh)
                run_cases(server.base, fresh, report)
                failed = len(report.failures)
                log(f"{kind}: {report.cases:,} / {targets[kind]:,} cases, {failed} failure(s)")
            if all(r.stopped for r in reports.values()):
                break
            chunk += 1
        memory = {"worker_rss_start_mb": rss_start, "worker_rss_end_mb": rss_mb(server.worker())}
    return reports["schema"], reports["fhir"], memory


def _failures(report: FuzzReport) -> list[dict]:
    return [
        {
            "what": f.what,
            "seconds": round(f.seconds, 3),
            "source": f.case.source,
            "method": f.case.method,
            "path": f.case.path,
            "headers": list(f.case.headers),
            "body": None
            if f.case.body is None
            else f.case.body.decode("utf-8", "backslashreplace"),
            "answer": f.answer,
            "curl": f.case.curl("http://127.0.0.1:8080"),
        }
        for f in report.failures
    ]


def _figures(report: FuzzReport) -> dict:
    classes: Counter = Counter()
    for status, count in report.statuses.items():
        classes[f"{status // 100}xx" if isinstance(status, int) else str(status)] += count
    return {
        "cases": report.cases,
        "seconds": round(report.seconds, 1),
        "status_classes": dict(classes),
        "p50_ms": round(report.percentile(50) * 1000, 2),
        "p99_ms": round(report.percentile(99) * 1000, 2),
        "max_ms": round(max(report.latencies, default=0) * 1000, 1),
        "server_errors": sum(1 for f in report.failures if f.what.startswith("HTTP 5")),
        "slow": sum(1 for f in report.failures if f.what.startswith("slow")),
        "unanswered": sum(1 for f in report.failures if f.what.startswith("no answer")),
        "stopped": report.stopped,
        "failures": _failures(report),
    }


def markdown(result: dict) -> str:
    lines = [
        f"# Fuzz {result['date_utc'][:10]}",
        "",
        f"`{result['command']}`: {result['cases']:,} distinct cases against `hcpcs-tx serve"
        f" --workers {result['workers']}` (2019 + 2020 releases); a failure is a 5xx, an answer"
        f" slower than {SLOW_S:g} s, or none.",
        "",
        "| generator | cases | seconds | status classes | p50 ms | p99 ms | max ms | 5xx | slow |"
        " unanswered |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("schema", "fhir"):
        r = result[name]
        classes = ", ".join(f"{k} {v:,}" for k, v in sorted(r["status_classes"].items()))
        lines.append(
            f"| {name} | {r['cases']:,} | {r['seconds']} | {classes} | {r['p50_ms']} | "
            f"{r['p99_ms']} | {r['max_ms']} | {r['server_errors']} | {r['slow']} | "
            f"{r['unanswered']} |"
        )
    lines += [
        "",
        f"Worker RSS {result['memory']['worker_rss_start_mb']} → "
        f"{result['memory']['worker_rss_end_mb']} MB.",
        "",
        "Verdict: " + ("pass" if result["pass"] else "FAIL"),
    ]
    for name in ("schema", "fhir"):
        failures = result[name]["failures"]
        if result[name]["stopped"]:
            lines.append(f"\n{name}: {result[name]['stopped']}")
        if failures:
            lines += ["", f"## {name}: {len(failures)} failing case(s)", ""]
            for f in failures[:100]:
                lines += [f"- {f['what']} ({f['seconds']} s), {f['source']}:", f"  `{f['curl']}`"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    settings = parse(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    schema, fhir, memory = run(settings)
    result = {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join(["python -m bench.fuzz", *(sys.argv[1:] if argv is None else argv)]),
        "workers": settings.workers,
        "cases": schema.cases + fhir.cases,
        "seconds": round(time.monotonic() - started, 1),
        "schema": _figures(schema),
        "fhir": _figures(fhir),
        "memory": memory,
    }
    result["pass"] = not schema.failures and not fhir.failures and result["cases"] >= settings.cases
    for name, report in (("schema", schema), ("fhir", fhir)):
        print(f"{name}: {report.summary()}")
        if report.failures:
            print(report.failure_report(limit=100))
    settings.out.mkdir(parents=True, exist_ok=True)
    stem = settings.out / f"fuzz-{result['date_utc'][:10]}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    log(f"{result['cases']:,} cases in {result['seconds']} s; wrote {stem}.md and {stem}.json")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
