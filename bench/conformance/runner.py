"""Run selected tx-ecosystem tests against a server over HTTP, sequentially.

Each test: build the request, send it, convert an R4 answer to R5 (``--fhir-version r4``,
as the Java runner does through its R4 client), scrub and sort, compare with the expected
file, check the HTTP status class. Nothing a server does stops the run: a refused
connection, a timeout, a non-JSON body or a missing test file is that test's failure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import orjson

from .compare import Comparer, Difference
from .manifest import Manifest, MissingFile, TestCase
from .normalise import MANAGED_EXTENSIONS, extension_urls, normalise, normalise_capabilities
from .requests import HttpRequest, UnsupportedOperation, build_request

Json = dict[str, Any]
FHIR_VERSIONS = {"r4": "4.0.1", "r5": "5.0.0"}


@dataclass
class Result:
    """The outcome of one test: ``passed`` plus, when it failed, why and where."""

    suite: str
    test: str
    operation: str
    passed: bool
    message: str = ""
    difference: Difference | None = None
    http_status: int | None = None
    method: str = ""
    url: str = ""
    seconds: float = 0.0
    actual: Any = None  # the scrubbed, sorted response of a failed test, for diagnosis
    invalid: str | None = None  # what RunOptions.check found wrong with the response

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.test}"

    def as_json(self) -> Json:
        out: Json = {
            "suite": self.suite,
            "test": self.test,
            "operation": self.operation,
            "status": "pass" if self.passed else "fail",
            "http": self.http_status,
            "request": f"{self.method} {self.url}".strip(),
            "seconds": round(self.seconds, 4),
        }
        if not self.passed:
            out["message"] = self.message
            if self.difference:
                diff = self.difference
                out["difference"] = {
                    "path": diff.path,
                    "message": diff.message,
                    "expected": diff.expected,
                    "actual": diff.actual,
                }
            if self.actual is not None:
                out["actual"] = self.actual
        if self.invalid:
            out["invalid"] = self.invalid
        return out


@dataclass
class RunOptions:
    """server: the FHIR base URL (e.g. http://127.0.0.1:8080/r5); fhir_version: r4 | r5,
    what the server speaks; externals: response file -> {N: message} (``-externals``);
    check: a look at each test's response as the server sent it (e.g. that it parses with
    fhir.resources), its finding kept in Result.invalid apart from the comparison."""

    server: str
    fhir_version: str = "r5"
    timeout: float = 60.0
    externals: dict[str, dict[str, str]] = field(default_factory=dict)
    check: Callable[[TestCase, Json], str | None] | None = None


class Runner:
    """One run against one server; reusable across test lists (one HTTP connection pool)."""

    def __init__(
        self, manifest: Manifest, options: RunOptions, client: httpx.Client | None = None
    ) -> None:
        if options.fhir_version not in FHIR_VERSIONS:
            raise ValueError(f"--fhir-version must be r4 or r5, not {options.fhir_version!r}")
        self.manifest = manifest
        self.options = options
        self.base = options.server.rstrip("/")
        self.client = client or httpx.Client(timeout=options.timeout, follow_redirects=True)
        self._to_r4, self._to_r5 = _converters(options.fhir_version)
        self._capabilities: tuple[int, Json] | None = None

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def server_fhir_version(self) -> str:
        """The FHIR version the server states (``$version$``), else the one asked for."""
        _, statement = self.capability_statement()
        stated = statement.get("fhirVersion") if statement else None
        return stated if isinstance(stated, str) else FHIR_VERSIONS[self.options.fhir_version]

    def capability_statement(self) -> tuple[int, Json]:
        """GET /metadata once per run (Java reads it while connecting)."""
        if self._capabilities is None:
            try:
                response = self.client.get(f"{self.base}/metadata", headers=_accept())
                self._capabilities = (response.status_code, self._parse(response))
            except (httpx.HTTPError, ValueError):
                self._capabilities = (0, {})
        return self._capabilities

    def run(
        self, cases: list[TestCase], progress: Callable[[Result], None] | None = None
    ) -> list[Result]:
        results = []
        for case in cases:
            result = self.run_one(case)
            results.append(result)
            if progress:
                progress(result)
        return results

    def run_one(self, case: TestCase) -> Result:
        start = time.perf_counter()
        result = Result(case.suite, case.name, case.operation, passed=False)
        try:
            self._execute(case, result)
        except MissingFile as error:
            result.message = f"test material absent: {error}"
        except UnsupportedOperation as error:
            result.message = str(error)
        except httpx.TimeoutException:
            result.message = f"timed out after {self.options.timeout:g}s"
        except httpx.HTTPError as error:
            result.message = f"HTTP error: {type(error).__name__}: {error}"
        except ValueError as error:
            result.message = f"unreadable response: {error}"
        except Exception as error:  # a response shape nothing expected: this test, not the run
            result.message = f"runner error on this response: {type(error).__name__}: {error}"
        result.seconds = time.perf_counter() - start
        return result

    # -- one test ------------------------------------------------------------------------

    def _execute(self, case: TestCase, result: Result) -> None:
        request = build_request(case, self.manifest, self._to_r4)
        result.method, result.url = request.method, f"{self.base}/{request.path}"
        if case.operation == "metadata":
            status, body = self.capability_statement()
            if not status:
                raise httpx.ConnectError(f"no answer from {self.base}/metadata")
        else:
            status, body = self._send(request)
        result.http_status = status
        if self.options.check is not None and body:
            result.invalid = self.options.check(case, body)
        if not 200 <= status < 300 and body.get("resourceType") != "OperationOutcome":
            result.message = f"HTTP {status} and the body is not an OperationOutcome"
            result.actual = body or None
            return
        if self._to_r5:
            stated = body.get("fhirVersion")
            body = self._to_r5(body)
            if stated:  # the Java converter keeps what the server states (4.0.1)
                body["fhirVersion"] = stated
        difference, actual = self._judge(case, body)
        code_ok = _status_matches(case.http_code, status)
        result.passed = difference is None and code_ok
        if not result.passed:
            result.difference = difference
            result.actual = actual
            result.message = (
                f"HTTP {status}, expected {case.http_code}" if not code_ok else str(difference)
            )
            result.message += _outcome_text(actual)

    def _judge(self, case: TestCase, body: Json) -> tuple[Difference | None, Json]:
        """The first difference from the expected response (None if it or response2 matches),
        with the response as normalised for the comparison."""
        pattern = case.operation in ("metadata", "term-caps")
        first: tuple[Difference | None, Json] | None = None
        for name in (case.response_file, case.alternate_response_file):
            if not name:
                continue
            expected = self.manifest.read(name)
            if pattern:
                actual = normalise_capabilities(body)
            else:
                actual = normalise(body, MANAGED_EXTENSIONS | extension_urls(expected))
            comparer = Comparer(
                modes=case.modes,
                variables={"version": self.server_fhir_version},
                externals=self.options.externals.get(name),
                pattern=pattern,
            )
            difference = comparer.compare(expected, actual)
            if difference is None:
                return None, actual
            first = first or (difference, actual)
        assert first is not None
        return first

    def _send(self, request: HttpRequest) -> tuple[int, Json]:
        url = f"{self.base}/{request.path}"
        content = orjson.dumps(request.body) if request.body is not None else None
        response = self.client.request(
            request.method,
            url,
            params=list(request.query) or None,
            headers=request.headers,
            content=content,
        )
        return response.status_code, self._parse(response)

    @staticmethod
    def _parse(response: httpx.Response) -> Json:
        if not response.content:
            return {}
        try:
            body = json.loads(response.content, parse_float=Decimal)
        except ValueError as error:
            kind = response.headers.get("content-type", "?")
            raise ValueError(f"HTTP {response.status_code}, {kind} body is not JSON") from error
        if not isinstance(body, dict):
            raise ValueError(f"HTTP {response.status_code}, body is not a JSON object")
        return body


def _outcome_text(actual: Json) -> str:
    """When the server answered with an OperationOutcome, what it said (saves a look)."""
    if actual.get("resourceType") != "OperationOutcome":
        return ""
    issues = [i for i in actual.get("issue") or [] if isinstance(i, dict)]
    texts = [(i.get("details") or {}).get("text") or i.get("code", "") for i in issues]
    return f" -- server said: {'; '.join(t for t in texts if t)[:300]}" if texts else ""


def _accept() -> dict[str, str]:
    return {"Accept": "application/fhir+json"}


def _status_matches(expected: str, status: int) -> bool:
    """``2xx`` / ``4xx`` ... against the status code."""
    return str(status)[:1] == expected[:1]


Converter = Callable[[Json], Json]


def _converters(fhir_version: str) -> tuple[Converter | None, Converter | None]:
    """R5 -> R4 for what is sent and R4 -> R5 for what comes back, when testing an R4 server."""
    if fhir_version != "r4":
        return None, None
    try:
        from terminology.versions import to_r4, to_r5
    except ImportError as error:  # the converter is written in parallel
        raise RuntimeError(f"--fhir-version r4 needs terminology.versions: {error}") from error
    return to_r4, to_r5
