"""Read, search and metadata are served per FHIR version, and keep working whatever came
before (issue 11): a real server (`hcpcs-tx serve`, its workers, the stored JSON spliced into
search Bundles, gzip) over a store holding the 2019 and 2020 releases and the FHIR core code
systems of R4 (4.0.1) and R5 (5.0.0)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from terminology.cli import app

from .conftest import HCPCS, PROJECT, parse
from .test_cli import _free_port, _wait_for

RELEASES = PROJECT / "data" / "releases"
FILES = ("2019-Alpha-Numeric-HCPCS-File.zip", "2020-Alpha-Numeric-HCPCS-File.zip")
GENDER = "http://hl7.org/fhir/administrative-gender"
GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"
LAB = "https://hcpcs-tx.org/fhir/CodeSystem/lab-certification"
RELEASE_OF = {"r4": "4.0.1", "fhir": "4.0.1", "r5": "5.0.0"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    db = tmp_path_factory.mktemp("rest") / "store.sqlite3"
    loaded = CliRunner().invoke(app, ["--db", str(db), "load", *(str(RELEASES / f) for f in FILES)])
    assert loaded.exit_code == 0, loaded.output
    port = _free_port()
    command = shutil.which("hcpcs-tx") or str(Path(sys.executable).with_name("hcpcs-tx"))
    process = subprocess.Popen(
        [command, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "HCPCS_TX_DB": str(db)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/r4/metadata", process, seconds=120)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client
    finally:
        process.terminate()
        process.wait(timeout=20)


def _get(client: httpx.Client, url: str, **kwargs: object) -> dict:
    """A 200 answer, parsed with fhir.resources for its base (R4B models on /r4, /fhir)."""
    response = client.get(url, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, f"{url}: {response.status_code} {response.text[:500]}"
    found = response.json()
    parse(found, url.split("/")[1])
    return found


@pytest.mark.parametrize("base", ["r4", "r5", "fhir"])
def test_each_base_reads_and_searches_its_own_release_of_the_fhir_core(server, base) -> None:
    release = RELEASE_OF[base]
    for kind, url in (("CodeSystem", GENDER), ("ValueSet", GENDER_VS)):
        found = _get(server, f"/{base}/{kind}", params={"url": url})
        assert [e["resource"]["version"] for e in found["entry"]] == [release]
        # each release's copy keeps its own id (the store holds one of them suffixed)
        ((id, full_url),) = [(e["resource"]["id"], e["fullUrl"]) for e in found["entry"]]
        assert id == "administrative-gender"
        assert full_url.endswith(f"/{base}/{kind}/{id}")
        assert _get(server, f"/{base}/{kind}/{id}")["version"] == release
        every = _get(server, f"/{base}/{kind}", params={"_count": "1000", "_elements": "url"})
        assert [e["resource"]["id"] for e in every["entry"] if e["resource"]["url"] == url] == [id]
    # what read and search show is what the operations on that base use
    lookup = _get(server, f"/{base}/CodeSystem/$lookup", params={"system": GENDER, "code": "male"})
    (version,) = [p["valueString"] for p in lookup["parameter"] if p["name"] == "version"]
    assert version == release
    on_instance = _get(server, f"/{base}/CodeSystem/administrative-gender/$lookup?code=male")
    assert [p["valueString"] for p in on_instance["parameter"] if p["name"] == "version"] == [
        release
    ]
    terminology = _get(server, f"/{base}/metadata", params={"mode": "terminology"})
    (gender,) = [cs for cs in terminology["codeSystem"] if cs["uri"] == GENDER]
    assert [v["code"] for v in gender["version"]] == [release]


@pytest.mark.parametrize("base", ["r4", "r5"])
def test_terminology_capabilities_say_hierarchical_and_lab_certification_nests(
    server, base
) -> None:
    terminology = _get(server, f"/{base}/metadata", params={"mode": "terminology"})
    assert terminology["expansion"]["hierarchical"] is True
    expanded = _get(server, f"/{base}/ValueSet/$expand", params={"url": f"{LAB}?fhir_vs"})
    groups = [c for c in expanded["expansion"]["contains"] if c.get("contains")]
    assert groups, "lab-certification's subgroups nest under their group"
    assert all(child["system"] == LAB for group in groups for child in group["contains"])


# Reads, searches (with the result parameters clients send), operations and metadata: each
# is asked on /r4 and on /r5.
REQUESTS = [
    "ValueSet/hcpcs-all-2019-01",
    "ValueSet?_count=3",
    "ValueSet?_count=3&_offset=3",
    "ValueSet?_count=3&_summary=true",
    "ValueSet?name=hcpcs&_total=accurate&_count=5",
    "ValueSet?_sort=-version,url&_count=4",
    f"ValueSet?url={GENDER_VS}",
    f"CodeSystem?url={GENDER}",
    "CodeSystem?_count=3&_summary=true",
    "CodeSystem?_elements=url,version&_count=40",
    f"CodeSystem?url={LAB}",
    f"CodeSystem?url={HCPCS}&_summary=true&_sort=-version",
    "CodeSystem/hcpcs-2020-01?_summary=true",
    "CodeSystem?_summary=count",
    "ConceptMap?_count=2&_summary=true",
    "OperationDefinition?_count=5",
    "OperationDefinition/batch-validate-code",
    f"CodeSystem/$lookup?system={HCPCS}&code=A0021",
    f"CodeSystem/$lookup?system={GENDER}&code=female",
    f"CodeSystem/$validate-code?url={HCPCS}&code=J0120",
    "ValueSet/$expand?url=https://hcpcs-tx.org/fhir/ValueSet/hcpcs-all&count=3",
    f"ValueSet/$expand?url={LAB}?fhir_vs",
    f"ValueSet/$validate-code?url={GENDER_VS}&system={GENDER}&code=male",
    "metadata",
    "metadata?mode=terminology",
    "$versions",
]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_any_sequence_of_reads_searches_and_operations_answers(server, seed) -> None:
    """The order of issue 11 (a read, then a search over what it read) first, then every
    request on both bases in a shuffled order, twice: each answer is a 200 that parses."""
    order = [("r4", "ValueSet/hcpcs-all-2019-01"), ("r4", "ValueSet?_count=3")]
    mixed = [(base, path) for base in ("r4", "r5") for path in REQUESTS] * 2
    random.Random(seed).shuffle(mixed)
    for base, path in order + mixed:
        gzip = {"Accept-Encoding": "gzip"} if len(path) % 2 else {}
        _get(server, f"/{base}/{path}", headers={"Accept": "application/fhir+json", **gzip})
    search = server.post(  # POST _search with a form body, after all that
        "/r4/ValueSet/_search",
        content=b"_count=3",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert search.status_code == 200
    parse(search.json(), "r4")
