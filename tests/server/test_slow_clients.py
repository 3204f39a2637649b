"""Slow and greedy clients cannot hold a worker: a connection that does not finish its
request headers in time is closed (HCPCS_TX_HEADER_SECONDS), a body that stops coming is
answered 408, and connections past the per-worker cap get a 503 at once."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from terminology.cli import app
from tests.conftest import shared_file

from .test_cli import _free_port, _wait_for

ZIP_2019 = "data/hcpcs/cms-2019-annual/2019-Alpha-Numeric-HCPCS-File.zip"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("slow") / "store.sqlite3"
    result = CliRunner().invoke(app, ["--db", str(db), "load", str(shared_file(ZIP_2019))])
    assert result.exit_code == 0, result.output
    port = _free_port()
    command = shutil.which("hcpcs-tx") or str(Path(sys.executable).with_name("hcpcs-tx"))
    env = {
        **os.environ,
        "HCPCS_TX_DB": str(db),
        "HCPCS_TX_HEADER_SECONDS": "1",
        "HCPCS_TX_BODY_SECONDS": "1",
        "HCPCS_TX_MAX_CONNECTIONS": "20",
        "HCPCS_TX_RELOAD_SECONDS": "0",
    }
    process = subprocess.Popen(
        [command, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/r4/metadata", process, seconds=60)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed the connection (None if it did not)."""
    sock.settimeout(seconds)
    started = time.monotonic()
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def _whole_answer(sock: socket.socket, seconds: float) -> bytes:
    """Everything the server sends until it closes (an answer may arrive in several reads)."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return received


def test_headers_that_never_finish_are_cut_off(server) -> None:
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(b"GET /r4/metadata HTTP/1.1\r\nHost: x\r\n")  # no blank line: unfinished
        closed = _closed_within(sock, 5)
    assert closed is not None and closed < 3
    with socket.create_connection(("127.0.0.1", server)) as sock:  # nothing sent at all
        assert _closed_within(sock, 5) is not None
    # a normal client on its kept-alive connection is not affected
    with httpx.Client(base_url=f"http://127.0.0.1:{server}") as client:
        for _ in range(3):
            assert client.get("/r4/metadata").status_code == 200
            time.sleep(0.5)


def test_a_body_that_stops_coming_is_a_408(server) -> None:
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(
            b"POST /r4/CodeSystem/$lookup HTTP/1.1\r\nHost: x\r\n"
            b'Content-Type: application/fhir+json\r\nContent-Length: 1000\r\n\r\n{"resourceType"'
        )
        answer = _whole_answer(sock, 5)
    assert answer.startswith(b"HTTP/1.1 408")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/fhir+json" in head.lower()
    assert json.loads(body)["resourceType"] == "OperationOutcome"


def test_connections_past_the_cap_get_503(server) -> None:
    url = f"http://127.0.0.1:{server}/r4/metadata"
    held = [socket.create_connection(("127.0.0.1", server)) for _ in range(25)]
    try:
        time.sleep(0.2)
        assert httpx.get(url).status_code == 503  # 26 connections, the cap is 20
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert httpx.get(url).status_code == 200  # the held ones gone: served again
