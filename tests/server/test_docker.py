"""The container's entry point, tested without Docker (no engine runs on these machines):
the Dockerfile's own CMD, run with the Dockerfile's own ENV, serves; the image runs as a
non-root user; .dockerignore keeps the build context to what the image copies."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import shared_file

from .test_cli import _free_port, _wait_for

PROJECT = Path(__file__).resolve().parents[2]
ZIP_2019 = "data/hcpcs/cms-2019-annual/2019-Alpha-Numeric-HCPCS-File.zip"


def _dockerfile() -> tuple[dict[str, str], list[str], list[str]]:
    """(ENV, CMD, every instruction line) of the Dockerfile, continuation lines joined."""
    text = (PROJECT / "Dockerfile").read_text()
    lines = [line for line in text.replace("\\\n", " ").splitlines() if not line.startswith("#")]
    env: dict[str, str] = {}
    for line in (line for line in lines if line.startswith("ENV ")):
        for item in shlex.split(line[4:]):
            name, _, value = item.partition("=")
            env[name] = value
    (cmd,) = [json.loads(line[4:]) for line in lines if line.startswith("CMD ")]
    return env, cmd, lines


def test_the_image_runs_as_a_user_and_copies_only_what_it_needs() -> None:
    _, _, lines = _dockerfile()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    ignored = (PROJECT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests", "bench"} <= set(ignored)
    copied = [line.split()[1:-1] for line in lines if line.startswith("COPY ")]
    assert not {c for group in copied for c in group} & set(ignored)


def test_the_entry_point_serves_with_the_dockerfile_environment(tmp_path) -> None:
    env, cmd, _ = _dockerfile()
    assert cmd[:2] == ["hcpcs-tx", "serve"] and "--workers" not in cmd  # workers: from ENV
    releases = tmp_path / "releases"
    releases.mkdir()
    shutil.copy(shared_file(ZIP_2019), releases)
    port = _free_port()
    env |= {  # the paths and address of this machine instead of the container's
        "HCPCS_TX_DB": str(tmp_path / "store.sqlite3"),
        "HCPCS_TX_RELEASES": str(releases),
        "HCPCS_TX_HOST": "127.0.0.1",
        "HCPCS_TX_PORT": str(port),
    }
    program = shutil.which(cmd[0]) or str(Path(sys.executable).with_name(cmd[0]))
    server = subprocess.Popen(
        [program, *cmd[1:]],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/r4/metadata", server, seconds=90)
        answer = httpx.get(
            f"http://127.0.0.1:{port}/r5/CodeSystem/$lookup",
            params={
                "system": "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
                "code": "J0120",
            },
        ).json()
        assert {p["name"]: p for p in answer["parameter"]}["version"]["valueString"] == "2019-01"
        workers = [c for c in _children(server.pid) if b"spawn_main" in _cmdline(c)]
        assert len(workers) == int(env["HCPCS_TX_WORKERS"])
    finally:
        server.terminate()
        server.wait(timeout=10)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = re.sub(r"\(.*\)", "x", stat.read_text()).split()
        except OSError:
            continue
        if int(fields[3]) == pid:  # pid (comm) state ppid ...
            found.append(int(fields[0]))
    return found
