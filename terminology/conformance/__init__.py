"""The HL7 tx-ecosystem conformance runner: a Python port of what the official Java runner
(fhir-core TxTester + CompareUtilities) does, usable against any FHIR terminology server.

manifest (select tests) -> requests (build each) -> runner (send, convert, judge)
-> normalise (scrub + sort) -> compare (placeholders, strict) -> report / passing.
"""

from .cli import conformance
from .compare import Comparer, Difference
from .manifest import DEFAULT_MODES, Manifest, MissingFile, TestCase
from .normalise import normalise, normalise_capabilities
from .requests import HttpRequest, build_request
from .runner import Result, Runner, RunOptions

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
]
