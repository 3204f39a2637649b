"""Send fuzzed cases to a server one at a time and judge every answer: a 5xx, an answer
slower than SLOW_S, or no answer at all (a dropped connection, a timeout) is a failure, and
each failure prints as a reproducible request."""

from __future__ import annotations

import http.client
import time
from collections import Counter
from dataclasses import dataclass, field

from .cases import Case

SLOW_S = 2.0  # issue 12: no answer slower than this
TIMEOUT_S = 5.0  # past this a request counts as unanswered
MAX_UNANSWERED = 5  # operations unanswered: past this the run stops (the server is stuck)
RECOVERY_S = 60.0  # after an unanswered case, wait this long at most for the server
PROBE = "/r4/CodeSystem/$lookup?system=http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets&code=J0120"


@dataclass
class Failure:
    case: Case
    what: str  # "HTTP 500", "slow: 3.2 s", "no answer: ..."
    seconds: float
    answer: str = ""  # the beginning of the answer's body

    def report(self, base: str) -> str:
        head = f"{self.what} ({self.seconds:.2f} s) from {self.case.source}"
        shown = f"\n    answer: {self.answer}" if self.answer else ""
        return f"{head}\n    {self.case.reproduce(base)}{shown}"


@dataclass
class FuzzReport:
    base: str
    cases: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    by_source: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    stopped: str = ""  # why the run stopped before its last case
    skipped: int = 0  # cases of an operation that had already gone unanswered
    unsendable: int = 0  # cases http.client would not send (not the server's doing)

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self) -> str:
        classes: Counter = Counter()
        for status, count in self.statuses.items():
            classes[f"{status // 100}xx" if isinstance(status, int) else status] += count
        kinds = Counter(f.what.split(":")[0] for f in self.failures)
        return (
            f"{self.cases:,} cases in {self.seconds:.0f} s: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(classes.items()))
            + f"; p50 {self.percentile(50) * 1000:.1f} ms, p99 {self.percentile(99) * 1000:.1f}"
            f" ms, max {max(self.latencies, default=0) * 1000:.0f} ms; {len(self.failures)}"
            " failure(s)"
            + (f" ({dict(kinds)})" if kinds else "")
            + (f"; {self.skipped} case(s) of unanswered operations skipped" if self.skipped else "")
            + (f"; {self.stopped}" if self.stopped else "")
        )

    def failure_report(self, limit: int = 40) -> str:
        """Every failure (the first `limit` in full), one reproducible request each."""
        shown = [f.report(self.base) for f in self.failures[:limit]]
        more = len(self.failures) - limit
        tail = [f"... and {more} more failure(s)"] if more > 0 else []
        return "\n".join(shown + tail)


class Sender:
    """One keep-alive connection to the server, reopened after a failure."""

    def __init__(self, host: str, port: int, timeout_s: float = TIMEOUT_S) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.connection = http.client.HTTPConnection(host, port, timeout=timeout_s)

    def send(self, case: Case) -> tuple[int | str, float, bytes]:
        """(status or an error name, seconds, body) of one case; ("unsendable", 0, b"") for
        a case http.client refuses to put on the wire (a header value with a line break)."""
        try:
            self.connection.putrequest(case.method, case.path, skip_accept_encoding=True)
            for name, value in case.headers:
                self.connection.putheader(name, value.encode("utf-8"))
            if case.body is not None:
                self.connection.putheader("Content-Length", str(len(case.body)))
        except (ValueError, UnicodeError, http.client.HTTPException):
            self.connection.close()
            return "unsendable", 0.0, b""
        start = time.perf_counter()
        try:
            self.connection.endheaders(case.body)
            response = self.connection.getresponse()
            body = response.read()
            if response.will_close:
                self.connection.close()
            return response.status, time.perf_counter() - start, body
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            return type(error).__name__, time.perf_counter() - start, str(error).encode()

    def close(self) -> None:
        self.connection.close()


def wait_responsive(host: str, port: int, limit_s: float = RECOVERY_S) -> float | None:
    """Seconds until the server answers a $lookup again (None: not within limit_s)."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        connection = http.client.HTTPConnection(host, port, timeout=2)
        try:
            connection.request("GET", PROBE)
            if connection.getresponse().status == 200:
                return round(time.perf_counter() - start, 2)
        except (OSError, http.client.HTTPException):
            time.sleep(0.5)
        finally:
            connection.close()
    return None


def run_cases(base: str, cases: list[Case], report: FuzzReport | None = None) -> FuzzReport:
    """Send every distinct case in turn; a failure is a 5xx, a slow answer, or none.

    After a case without an answer the run waits for the server to answer again (so the
    next failure is the next case's own), skips the later cases of the same operation (one
    that hangs would hang again: the report counts them), and stops after MAX_UNANSWERED
    operations went unanswered or the server stays silent."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    report = report or FuzzReport(base)
    sender = Sender(host, int(port))
    hanging: set[str] = set()
    start = time.perf_counter()
    try:
        for case in dict.fromkeys(cases):  # each distinct case once, in order
            if case.source in hanging:
                report.skipped += 1
                continue
            status, seconds, body = sender.send(case)
            if status == "unsendable":
                report.unsendable += 1
                continue
            report.cases += 1
            report.statuses[status] += 1
            report.by_source[case.source.split(" ")[0]] += 1
            report.latencies.append(seconds)
            answer = body[:300].decode("utf-8", "replace")
            if isinstance(status, int):
                if status >= 500:
                    report.failures.append(Failure(case, f"HTTP {status}", seconds, answer))
                elif seconds > SLOW_S:
                    report.failures.append(Failure(case, f"slow: HTTP {status}", seconds, answer))
                continue
            hanging.add(case.source)
            waited = wait_responsive(host, int(port))
            again = "never answered again" if waited is None else f"answered again {waited} s later"
            report.failures.append(
                Failure(case, f"no answer: {status}", seconds, f"{answer} (server {again})")
            )
            if waited is None or len(hanging) >= MAX_UNANSWERED:
                report.stopped = f"stopped after {report.cases} cases: {len(hanging)} unanswered"
                break
    finally:
        sender.close()
        report.seconds += time.perf_counter() - start
    return report
