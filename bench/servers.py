"""Start, wait for, and stop the servers under test (ours and the two ceilings).

Each server runs in its own session so stopping it signals exactly the processes we
started (the uvicorn supervisor and its workers), nothing found by name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench.procfs import Memory, tree_memory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server process tree, its port, and its log file."""

    def __init__(
        self, name: str, cmd: Sequence[str], port: int, log_dir: Path, env: dict | None = None
    ) -> None:
        self.name, self.cmd, self.port = name, list(cmd), port
        self.log_path = log_dir / f"{name}.log"
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        log = self.log_path.open("wb")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            self.cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        return self

    def wait_answer(self, path: str, timeout_s: float = 60.0, ok_only: bool = False) -> float:
        """Poll ``path`` until the server answers (a 2xx if ``ok_only``); seconds since start."""
        deadline = time.perf_counter() + timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.perf_counter() < deadline:
                if self.proc and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
                try:
                    r = client.get(self.base + path, headers={"Accept": "application/fhir+json"})
                    if not ok_only or r.is_success:
                        return time.perf_counter() - self.started_at
                    time.sleep(0.01)
                except httpx.TransportError:
                    time.sleep(0.01)
        raise TimeoutError(f"{self.name} did not answer in {timeout_s}s: {self.log_tail()}")

    def memory(self) -> Memory:
        assert self.proc is not None
        return tree_memory(self.proc.pid)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def uvicorn_cmd(app: str, port: int, workers: int, *, factory: bool = True) -> list[str]:
    """The ceiling's uvicorn command line: same workers, uvloop + httptools, no access log."""
    cmd = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", str(workers), "--loop", "uvloop", "--http", "httptools"]
    cmd += ["--no-access-log", "--log-level", "warning"]
    return cmd + (["--factory"] if factory else [])
