"""Run the server's uvicorn workers: `python -m terminology.workers HOST PORT WORKERS LEVEL`.

`hcpcs-tx serve` becomes this process (os.execv) rather than calling uvicorn itself: uvicorn
spawns its workers, and a spawned process first re-imports its parent's main module; from
the CLI that would be every command (about 0.25 s per worker start), from here it is this
small module. The connection settings every worker gets are decided here, in one place.

With several workers, each listens on its own socket bound with SO_REUSEPORT, and the kernel
gives each new connection to one of them by a hash of its addresses: an even spread, not a
race. uvicorn's way, one socket shared by every worker, lets whichever worker wakes first
accept a whole burst of connections: with keep-alive clients one worker sometimes took
every connection (1 burst in 8, worse on a busy machine; half the throughput). With 8
connections at once a hash leaves a worker without any 1 time in 128. A worker's socket is
bound by the supervisor and outlives the worker: connections the kernel queued on it while
the worker died wait for its replacement instead of being reset. HCPCS_TX_REUSE_PORT=0 (or
a system without SO_REUSEPORT) gives uvicorn's shared socket.

The supervisor logs on `hcpcs_tx.workers` each worker it starts, and each one that died or
stopped answering its health check (pid, exit code or signal) before it starts another.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from terminology import logs, settings
from terminology.http_protocol import GuardedHttpToolsProtocol, header_seconds

log = logging.getLogger("hcpcs_tx.workers")

APP = "terminology.api:app_from_store"
MAX_CONNECTIONS_ENV = "HCPCS_TX_MAX_CONNECTIONS"
MAX_CONNECTIONS = 1000
"""Concurrent connections per worker; past it uvicorn answers 503 at once."""
KEEP_ALIVE_SECONDS = 5
REUSE_PORT_ENV = "HCPCS_TX_REUSE_PORT"
"""1 (default): a listening socket per worker (SO_REUSEPORT); 0: one shared socket."""


def _options(host: str, port: int, workers: int, log_level: str) -> dict[str, object]:
    """uvicorn's settings for every worker: uvloop, the guarded protocol, the caps."""
    header_seconds()  # a bad setting fails here, before any worker starts
    return {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "loop": "uvloop",
        "http": GuardedHttpToolsProtocol,
        "access_log": False,  # our own, cheaper, on hcpcs_tx.access (serve --access-log)
        "log_level": log_level,
        "limit_concurrency": settings.number(MAX_CONNECTIONS_ENV, MAX_CONNECTIONS, minimum=1),
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
    }


def reuse_port() -> bool:
    """Whether each worker gets its own socket ($HCPCS_TX_REUSE_PORT, where supported)."""
    wanted = settings.number(REUSE_PORT_ENV, 1, minimum=0) != 0
    return wanted and hasattr(socket, "SO_REUSEPORT")


def run(host: str, port: int, workers: int, log_level: str) -> None:
    options = _options(host, port, workers, log_level)
    if workers <= 1:  # the worker is this process: uvicorn's own way
        uvicorn.run(APP, **options)  # type: ignore[arg-type]
        return
    logs.configure(log_level)
    found = uvicorn.Config(APP, **options)  # type: ignore[arg-type]
    supervisor: Multiprocess
    if reuse_port():
        supervisor = Supervisor(found)
    else:
        supervisor = LoggingMultiprocess(found, sockets=[found.bind_socket()])
    log.info("supervisor started: %d workers on http://%s:%d", workers, host, port)
    supervisor.run()
    log.info("supervisor stopped")


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A socket bound to host:port that other sockets of this user may bind too
    (SO_REUSEPORT): the kernel gives each new connection to one of them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def describe_exit(code: int | None) -> str:
    """An exit code as people read it: `exit code 1`, `killed by SIGKILL`."""
    if code is None:
        return "exit code unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class LoggingMultiprocess(Multiprocess):
    """uvicorn's supervisor, logging the workers it starts and the ones that die; `_new`
    says where a worker listens (here: the shared socket)."""

    def _new(self, slot: int) -> Process:
        return Process(self.config, self.sockets)

    def _start(self, slot: int) -> Process:
        process = self._new(slot)
        process.start()
        log.info("worker %s started", process.pid)
        return process

    def init_processes(self) -> None:
        self.processes = [self._start(slot) for slot in range(self.processes_num)]

    def keep_subprocess_alive(self) -> None:
        """uvicorn's check (a dead or unanswering worker is killed and replaced), logged."""
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            hung = process.process.is_alive()
            process.kill()
            process.join()
            if self.should_exit.is_set():
                return
            if process.exitcode == STARTUP_FAILURE and not hung:
                log.error("worker %s failed to start: stopping the server", process.pid)
                self.should_exit.set()
                return
            how = "did not answer its health check: killed" if hung else "died"
            log.error("worker %s %s (%s)", process.pid, how, describe_exit(process.exitcode))
            self.processes[slot] = self._start(slot)

    def restart_all(self) -> None:
        """SIGHUP: each worker replaced in turn (on the same socket)."""
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._start(slot)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                log.error("worker %s was not ready in time: keeping worker %s", new.pid, old.pid)
                return
            old.terminate()
            old.join()
            log.info("worker %s replaced by worker %s", old.pid, new.pid)
            self.processes[slot] = new

    def handle_ttin(self) -> None:
        log.warning("SIGTTIN ignored: the worker count is fixed (serve --workers)")

    def handle_ttou(self) -> None:
        log.warning("SIGTTOU ignored: the worker count is fixed (serve --workers)")


class Supervisor(LoggingMultiprocess):
    """Workers each on their own SO_REUSEPORT socket; a replacement takes over the socket
    of the worker it replaces."""

    def __init__(self, found: uvicorn.Config) -> None:
        super().__init__(found, sockets=[])
        self.slot_sockets = [
            listening_socket(found.host, found.port, found.backlog)
            for _ in range(self.processes_num)
        ]

    def _new(self, slot: int) -> Process:
        return Process(self.config, [self.slot_sockets[slot]])


def command(host: str, port: int, workers: int, log_level: str) -> list[str]:
    """The argv that runs `run` with these settings in a fresh interpreter."""
    return [sys.executable, "-m", __name__, host, str(port), str(workers), log_level]


if __name__ == "__main__":
    host, port, count, level = sys.argv[1:5]
    os.environ.setdefault(logs.LEVEL_ENV, level)
    run(host, int(port), int(count), level)
