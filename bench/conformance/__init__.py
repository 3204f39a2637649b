"""The HL7 tx-ecosystem conformance runner: a Python port of what the official Java runner
(fhir-core TxTester + CompareUtilities) does, usable against any FHIR terminology server.

manifest (select tests) -> requests (build each) -> runner (send, convert, judge)
-> normalise (scrub + sort) -> compare (placeholders, strict) -> report / passing.

A development tool, not part of the installed server: `python -m bench.conformance`, or
`hcpcs-tx conformance` from an install of the source checkout (terminology/cli.py).
"""

from .cli import conformance
from .compare import Comparer, Difference
from .manifest import DEFAULT_MODES, Manifest, MissingFile, TestCase, version_passes
from .normalise import normalise, normalise_capabilities
from .requests import HttpRequest, build_request

_RUNNER_NAMES = {"Result", "Runner", "RunOptions"}


def __getattr__(name: str) -> object:
    """Runner names load on first use: the runner imports httpx, which `hcpcs-tx serve`
    (whose CLI registers the conformance command) should not pay for at start-up."""
    if name in _RUNNER_NAMES:
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_MODES",
    "Comparer",
    "Difference",
    "HttpRequest",
    "Manifest",
    "MissingFile",
    "Result",
    "RunOptions",
    "Runner",
    "TestCase",
    "build_request",
    "conformance",
    "normalise",
    "normalise_capabilities",
    "version_passes",
]
