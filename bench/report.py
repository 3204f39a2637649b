"""Results -> ``bench/results/<date>.md`` + ``.json``, the targets check, and README's section.

The README keeps only the latest run under ``## Performance``; ``bench/results/`` keeps
each day's last run (``.md`` to read, ``.json`` to compare runs).
"""

from __future__ import annotations

import re
from pathlib import Path

import orjson

SECTION = "## Performance"


def _f(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if digits else f"{value:,.0f}"


def targets(results: dict) -> list[dict]:
    """Issue 6's targets, each with its measured figure and whether it was met."""
    rows: list[dict] = []
    cores = results["machine"]["cpus"] or 1
    by_id = {s["id"]: s for s in results["scenarios"]}

    def add(target: str, measured: float | None, ok: bool | None, unit: str) -> None:
        digits = 2 if measured is not None and abs(measured) < 100 else 0
        shown = "not measured" if measured is None else f"{_f(measured, digits)} {unit}".strip()
        met = "–" if ok is None else ("yes" if ok else "**no**")
        rows.append({"target": target, "measured": shown, "met": met, "value": measured})

    def scen(sid: str, key: str, field: str) -> float | None:
        s = by_id.get(sid) or {}
        return (s.get(key) or {}).get(field) if key in s else s.get(field)

    for sid in ("LK01", "VC01", "VC02"):
        p50 = scen(sid, "ours_1", "p50_ms")
        add(f"{sid} p50 ≤ 0.3 ms (1 client)", p50, None if p50 is None else p50 <= 0.3, "ms")
        ratio = (by_id.get(sid) or {}).get("ratio_fastapi")
        add(
            f"{sid} ≥ 0.7 × FastAPI ceiling rps",
            ratio,
            None if ratio is None else ratio >= 0.7,
            "×",
        )
        rps = scen(sid, "ours_50", "rps")
        per_core = None if rps is None else rps / cores
        add(
            f"{sid} ≥ 1,500 rps per core",
            per_core,
            None if rps is None else per_core >= 1500,
            "rps/core",
        )
    for sid, goal in (("EX03", 2.0), ("EX05", 5.0), ("EX08", 5.0)):
        p50 = scen(sid, "ours_1", "p50_ms")
        add(f"{sid} p50 ≤ {goal:g} ms", p50, None if p50 is None else p50 <= goal, "ms")
    for key, label in (("batch", "every code validated"), ("batch_warm", "answer memo on")):
        inproc = ((results.get("inprocess") or {}).get(key) or {}).get("units_per_s")
        add(
            f"BV01 ≥ 100,000 codes/s in-process ({label})",
            inproc,
            None if inproc is None else inproc >= 1e5,
            "codes/s",
        )
    http = (by_id.get("BV01") or {}).get("codes_per_s")
    add("BV01 ≥ 30,000 codes/s over HTTP", http, None if http is None else http >= 3e4, "codes/s")
    srv, store = results.get("server", {}), results.get("store", {})
    cold = srv.get("cold_start_s")
    add("cold start ≤ 1 s", cold, None if cold is None else cold <= 1.0, "s")
    load = store.get("load_one_release_s")
    add("load one full release ≤ 3 s", load, None if load is None else load <= 3.0, "s")
    idle = (srv.get("memory_idle") or {}).get("rss_mb")
    add(
        "RSS ≤ 150 MB (all releases loaded, idle)",
        idle,
        None if idle is None else idle <= 150,
        "MB",
    )
    peak = (srv.get("memory_under_load") or {}).get("rss_mb")
    add(
        "RSS ≤ 150 MB (all releases loaded, under load)",
        peak,
        None if peak is None else peak <= 150,
        "MB",
    )
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def scenario_table(results: dict) -> str:
    cores = results["machine"]["cpus"] or 1
    head = (
        "| id | scenario | p50 ms | p95 ms | p99 ms | rps @50¹ | rps/core | FastAPI rps "
        "| × FastAPI | ASGI rps | × ASGI | errors | body bytes |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for s in results["scenarios"]:
        if s.get("skip"):
            lines.append(
                f"| {s['id']} | {s['title']} | skipped: {_cell(s['skip'][:160])} |" + " |" * 10
            )
            continue
        one, fifty = s["ours_1"], s["ours_50"] or {}
        rps = fifty.get("rps")
        conns = s.get("connections", results["settings"]["connections"])
        at = "" if conns == results["settings"]["connections"] else f" @{conns}"
        lines.append(
            f"| {s['id']} | {s['title']} | {_f(one['p50_ms'])} | {_f(one['p95_ms'])} "
            f"| {_f(one['p99_ms'])} | {_f(rps, 0)}{at} | {_f(rps and rps / cores, 0)} "
            f"| {_f(s['fastapi_50']['rps'], 0)} | {_f(s['ratio_fastapi'])} "
            f"| {_f(s['asgi_50']['rps'], 0)} | {_f(s['ratio_asgi'])} | {s['errors']} "
            f"| {s['verify']['mean_bytes']:,} |"
        )
    return "\n".join(lines)


def scenario_notes(results: dict) -> str:
    """What a row of the table cannot say: slow runs, wrong sampled answers, long drains."""
    out = []
    for s in results["scenarios"]:
        if s.get("skip"):
            continue
        if s.get("note"):
            out.append(f"- {s['id']}: {s['note']}")
        v = s["verify"]
        if v["wrong"]:
            out.append(
                f"- {s['id']}: {v['wrong']} of {v['sampled']} sampled answers were wrong, "
                f"e.g. {v['first_problem'][:200]}"
            )
        slow = {k: t for k, t in s.get("drain_s", {}).items() if t >= 1.0}
        if slow:
            shown = ", ".join(f"{k} {t:g} s" for k, t in slow.items())
            out.append(f"- {s['id']}: after wrk stopped, the server was busy for: {shown}")
        if s.get("ceiling_errors"):
            out.append(f"- {s['id']}: the ceilings had {s['ceiling_errors']} errors")
    return "\n".join(out)


def once_lines(results: dict) -> str:
    srv, store = results.get("server", {}), results.get("store", {})
    ceil = results.get("ceiling_latency", {})
    inproc = results.get("inprocess") or {}
    out = [
        f"- load one full release (`{store.get('release', '?')}`, fresh store, whole "
        f"`hcpcs-tx load` command): **{_f(store.get('load_one_release_s'))} s**; "
        f"the other releases: {_f(store.get('load_rest_s'))} s; store file with all "
        f"{len(store.get('releases', []))} releases: **{_f(store.get('store_mb'), 1)} MB**",
        "- cold start to first answer (`$lookup`, store loaded): "
        f"**{_f(srv.get('cold_start_s'))} s**",
    ]
    for key, label in (
        ("memory_idle", "idle"),
        ("memory_under_load", "peak under load"),
        ("memory_after", "idle after the run"),
    ):
        m = srv.get(key) or {}
        out.append(
            f"- RSS {label}: **{_f(m.get('rss_mb'), 1)} MB** summed over {m.get('processes', '?')} "
            f"processes (PSS {_f(m.get('pss_mb'), 1)} MB; largest process "
            f"{_f(m.get('largest_rss_mb'), 1)} MB)"
        )
    for name in ("fastapi", "asgi"):
        r = ceil.get(name)
        if r:
            out.append(
                f"- {name} ceiling at 1 client (LK01 bytes): p50 {_f(r['p50_ms'])} ms, "
                f"p95 {_f(r['p95_ms'])} ms, p99 {_f(r['p99_ms'])} ms"
            )
    bv = next((s for s in results["scenarios"] if s["id"] == "BV01"), {})
    if bv.get("codes_per_s"):
        out.append(
            f"- BV01 over HTTP at {bv.get('connections')} connections: "
            f"**{_f(bv['codes_per_s'], 0)} codes/s** ({_f(bv.get('codes_per_s_1_client'), 0)} "
            "at 1 connection)"
        )
    for key, label in (
        ("batch", "BV01 in-process, `Engine.run` batch-validate-code"),
        ("validate_one_by_one", "in-process ValueSet/$validate-code, one code per call"),
        ("lookup_one_by_one", "in-process CodeSystem/$lookup, one code per call"),
    ):
        r = inproc.get(key) or {}
        shown = r.get("error") or (
            f"**{_f(r.get('units_per_s'), 0)} codes/s** ({_f(r.get('per_unit_us'), 1)} µs per "
            f"code; first call {_f(r.get('first_call_ms'), 1)} ms)"
        )
        out.append(f"- {label}: {shown}")
    if inproc.get("error"):
        out.append(f"- in-process measurement failed: {inproc['error']}")
    return "\n".join(out)


def render(results: dict) -> str:
    m, st = results["machine"], results["settings"]
    rows = targets(results)
    target_md = "\n".join(
        ["| target | measured | met |", "|---|---:|:-:|"]
        + [f"| {r['target']} | {r['measured']} | {r['met']} |" for r in rows]
    )
    notes = "\n".join(f"- {n}" for n in results.get("notes", []))
    return (
        f"""Run {m["date_utc"]} UTC with `{st["command"]}` on {m["cpus"]} cores \
({m["cpu_model"]}), Linux {m["kernel"]}, Python {m["python"]}, {m["wrk"]}. \
Our server: `{st["server_command"]}` with \
{", ".join(st["releases"])} loaded, FHIR base `{st["base"]}`. Each scenario: wrk \
{st["warmup_s"]:g} s warm-up at {st["workers"]} connections, {st["duration_s"]:g} s at 1 \
connection (latency), then {st["duration_s"]:g} s at {st["connections"]} connections / \
{st["threads"]} threads (throughput) on ours, the minimal-FastAPI ceiling and the bare-ASGI \
ceiling, in 1-second rounds taken in turn (so other load on the machine falls on all three \
alike); each call a random request from a pool of real ones; after every run the harness \
waits until the server is idle. Load average at start {m["loadavg_start"]}, \
at end {results.get("loadavg_end")}; other processes on the machine used \
**{results.get("other_processes_cores", "?")} cores** on average during the measurements \
(machine busy time minus servers, harness and wrk; 0 = a quiet machine).

{scenario_table(results)}

{scenario_notes(results)}

¹ `@N`: a scenario so slow that {st["connections"]} clients would only build a queue is \
driven with N connections (enough to keep every worker busy; see the notes). \
`× FastAPI` / `× ASGI`: our rps over the ceiling's rps for the same bytes and connections. \
`errors`: socket errors + answers of the wrong class (a non-2xx where a 2xx is \
right; for LK05, whose right answer is a 4xx OperationOutcome, a 2xx); wrk cannot read \
bodies cheaply, so under load only the status class is checked. Before the load, up to 30 \
sampled requests per scenario are checked in full (status and content: `display` present, \
`result` true, or false for VC03, a non-empty expansion, ...; `bench/verify.py`), and \
the median-sized right answer is what the ceilings replay.

{once_lines(results)}

{target_md}

{notes}
""".rstrip()
        + "\n"
    )


def write(results: dict, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    day = results["machine"]["date_utc"][:10]
    md, js = out_dir / f"{day}.md", out_dir / f"{day}.json"
    results = {**results, "targets": targets(results)}
    js.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    md.write_text(f"# Benchmark {results['machine']['date_utc']} UTC\n\n{render(results)}")
    return md, js


def update_readme(readme: Path, results: dict, md_path: Path) -> None:
    """Replace (or append) README's ``## Performance`` section; other sections untouched."""
    body = (
        f"{SECTION}\n\nLatest run of `python -m bench` (issue 6), also in "
        f"[`{md_path.as_posix()}`]({md_path.as_posix()}); `bench/results/` keeps one file "
        "per day (its last run). "
        "Reproduce from a fresh clone, after the install line at the top of this README, with "
        "`.venv/bin/python -m bench` (or `bench/run.sh`; `--help` lists the knobs): it installs "
        "wrk from Debian's packages if missing (apt-get, non-interactive, said in the output), "
        "loads every release in `data/releases/` into a fresh store under `bench/.work/`, "
        "starts the server "
        "as in production and the two ceilings, checks then loads every scenario, and takes "
        "about 5 minutes. Profile before optimising (`.venv/bin/pip install -e '.[bench]'` "
        "adds pyinstrument and py-spy): "
        "`python -m bench.profile LK01` (pyinstrument, the ASGI app in-process), "
        "`--layer engine` (Engine.run alone), `--py-spy` (the live workers under wrk load), "
        "or `python -m bench.profile startup` (a worker's way to its first answers).\n\n"
        f"{render(results)}\n"
    )
    text = readme.read_text() if readme.exists() else ""
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: body + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + body
    readme.write_text(text)
