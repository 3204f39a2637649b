"""Memory floods at full size (issue 12): requests whose values all differ, against an engine
over the 2019 and 2020 releases, in-process over HTTP (Starlette's TestClient), one fresh
process per flood. Prints the time taken, the statuses and VmRSS before -> after (and the
peak), then what the engine's memos hold (terminology.caches.report()).

    python -m bench.attacks_memory                 # every flood
    python -m bench.attacks_memory versions 2000   # one flood, with its count

Floods: `versions` (2,000 ValueSet/$validate-code and $expand pairs with distinct
system-version / check-system-version / force-system-version / default-valueset-version
values, in turn), `systems` (4,200 CodeSystem/$lookup with distinct 60 KB `system` values),
`implicit` (2,000 `{system}?fhir_vs` expansions with distinct valueSetVersion values),
`tx` (2,000 validations against distinct tx-resource value sets). The tests' smaller floods
are tests/server/test_robust_memory.py.
"""

from __future__ import annotations

import collections
import gc
import subprocess
import sys
import time
import warnings
from pathlib import Path

FLOODS = {"versions": 2000, "systems": 4200, "implicit": 2000, "tx": 2000}
RELEASES = Path(__file__).resolve().parents[1] / "data" / "releases"
FILES = ("2019-Alpha-Numeric-HCPCS-File.zip", "2020-Alpha-Numeric-HCPCS-File.zip")
VERSION_PARAMETERS = (
    "system-version",
    "check-system-version",
    "force-system-version",
    "default-valueset-version",
)


def _status() -> dict[str, int]:
    found = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                found[line.split(":")[0]] = int(line.split()[1]) // 1024
    return found


def flood(name: str, count: int) -> str:
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

    import codesystem
    from terminology import caches
    from terminology.api import create_app
    from terminology.engine import Engine
    from terminology.loader import load_files

    hcpcs = codesystem.HCPCS_URL
    resources = load_files([RELEASES / f for f in FILES])
    engine = Engine(resources, codesystem.HCPCS_ALIASES)
    client = TestClient(create_app(engine))
    all_codes = next(
        r["url"]
        for r in resources
        if r.get("resourceType") == "ValueSet" and r.get("id", "").startswith("hcpcs-all")
    )
    statuses: collections.Counter = collections.Counter()

    def post(path: str, parameters: list[dict]) -> None:
        body = {"resourceType": "Parameters", "parameter": parameters}
        statuses[client.post(f"/r4/{path}", json=body).status_code] += 1

    coding = {"name": "coding", "valueCoding": {"system": hcpcs, "code": "A0021"}}

    def send(i: int) -> None:
        if name == "versions":
            kind = VERSION_PARAMETERS[i % 4]
            value = {
                "system-version": f"{hcpcs}|2020-01-{i}",
                "check-system-version": f"http://example.org/cs{i}|1",
                "force-system-version": f"{hcpcs}|2020-01-{i}",
                "default-valueset-version": f"{all_codes}|v{i}",
            }[kind]
            given = {"name": kind, "valueCanonical": value}
            post("ValueSet/$validate-code", [{"name": "url", "valueUri": all_codes}, given, coding])
            count = {"name": "count", "valueInteger": 10}
            post("ValueSet/$expand", [{"name": "url", "valueUri": all_codes}, count, given])
        elif name == "systems":
            system = f"http://example.org/{i}/" + "a" * 60_000
            code = {"name": "code", "valueCode": "A0021"}
            post("CodeSystem/$lookup", [{"name": "system", "valueUri": system}, code])
        elif name == "implicit":
            post(
                "ValueSet/$expand",
                [
                    {"name": "url", "valueUri": f"{hcpcs}?fhir_vs"},
                    {"name": "valueSetVersion", "valueString": f"v{i}"},
                    {"name": "count", "valueInteger": 10},
                ],
            )
        else:
            include = {"system": hcpcs, "concept": [{"code": "A0021"}, {"code": f"A{i:04d}"}]}
            vs = {
                "resourceType": "ValueSet",
                "url": f"http://example.org/vs/{i}",
                "status": "active",
                "compose": {"include": [include]},
            }
            parameters = [{"name": "url", "valueUri": vs["url"]}, coding]
            post("ValueSet/$validate-code", [*parameters, {"name": "tx-resource", "resource": vs}])

    for i in range(20):
        send(-1 - i)
    gc.collect()
    before = _status()
    started = time.perf_counter()
    for i in range(count):
        send(i)
    elapsed = time.perf_counter() - started
    gc.collect()
    after = _status()
    held = {
        k: f"{v['bytes'] / 1e6:.1f}/{v['budget_bytes'] / 1e6:.0f} MB"
        for k, v in caches.report().items()
    }
    return (
        f"{name} x{count}: {elapsed:.1f} s, statuses {dict(statuses)}, VmRSS "
        f"{before['VmRSS']} -> {after['VmRSS']} MB (peak {after['VmHWM']} MB); memos {held}"
    )


def main(argv: list[str]) -> None:
    if len(argv) >= 1 and argv[0] == "--one":
        print(flood(argv[1], int(argv[2])), flush=True)
        return
    chosen = {argv[0]: int(argv[1]) if len(argv) > 1 else FLOODS[argv[0]]} if argv else FLOODS
    for name, count in chosen.items():
        command = [sys.executable, "-m", "bench.attacks_memory", "--one", name, str(count)]
        subprocess.run(command, check=False, cwd=Path(__file__).resolve().parents[1])


if __name__ == "__main__":
    main(sys.argv[1:])
