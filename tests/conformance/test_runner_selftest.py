"""Self-tests of the tx-ecosystem runner, without a server.

The runner is only worth its report if it accepts every response a conforming server could
send and rejects the ones it must not. So: every expected file referenced by the manifest
matches itself after sorting and matches concrete instances synthesised from it (minimal,
maximal, with a server's own messages); mutated instances (changed value, extra property,
missing required property, a value of the wrong placeholder type) fail; the placeholders,
optional markers, scrubbing and sorting behave as the Java runner's; and a fake server
answering every default test correctly over HTTP passes all 597, in R5 and in R4.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import typer
from typer.testing import CliRunner

from bench.conformance import (
    Comparer,
    HttpRequest,
    Manifest,
    Result,
    Runner,
    RunOptions,
    TestCase,
    build_request,
    conformance,
    normalise,
    normalise_capabilities,
    version_passes,
)
from bench.conformance import passing as passlist
from bench.conformance.normalise import MANAGED_EXTENSIONS, extension_urls, sort_resource
from bench.conformance.report import render, suite_table
from tests.conformance import synth
from tests.conftest import SHARED, shared_file

ROOT = SHARED / "tx-ecosystem"
PRESENT = (ROOT / "test-cases.json").is_file()
EXTERNALS_FILE = "messages-tx.fhir.org.json"
R5 = {"version": "5.0.0"}
CAPABILITY_OPERATIONS = ("metadata", "term-caps")

# Optional items placed out of sort order: a server that sends them fails in the Java runner
# too (the sorted response puts them first), so conforming servers leave them out.
OPTIONAL_OUT_OF_ORDER = {
    "simple/simple-expand-all-response-valueSet.json",
    *(
        f"version/vs-expand-{v}-response-valueSet.json"
        for v in (
            "v-n",
            "v-n-default",
            "v-n-force",
            "v-w",
            "v-w-default",
            "v-w-force",
            "v1",
            "v1-check",
            "v1-default",
            "v1-force",
            "v2",
            "v2-default",
            "v2-force",
        )
    ),
}


@cache
def manifest() -> Manifest:
    return Manifest.load(ROOT)


@cache
def externals() -> dict[str, dict[str, str]]:
    return manifest().read(EXTERNALS_FILE, exact=False)


def _responses() -> list[tuple[str, str]]:
    """(response file, operation) for every response the manifest names and that exists."""
    if not PRESENT:
        return []
    found: dict[str, str] = {}
    for suite in manifest().suites:
        for test in suite["tests"]:
            for key, value in test.items():
                if key.startswith("response") and (ROOT / value).is_file():
                    found.setdefault(value, test["operation"])
    return sorted(found.items())


RESPONSES = _responses()
needs_suite = pytest.mark.skipif(not PRESENT, reason="../shared/tx-ecosystem absent")
IDS = [name for name, _ in RESPONSES]


@cache
def expected_file(name: str) -> Any:
    return manifest().read(name)


def comparer(operation: str, name: str | None = None, **kwargs: Any) -> Comparer:
    return Comparer(
        modes=frozenset({"general"}),
        variables=R5,
        pattern=operation in CAPABILITY_OPERATIONS,
        externals=externals().get(name) if name else None,
        **kwargs,
    )


def prepare(operation: str, expected: Any, response: Any) -> Any:
    """What the runner does to a response before comparing it with expected (in place: every
    response here is a fresh object)."""
    if operation in CAPABILITY_OPERATIONS:
        return normalise_capabilities(response)
    return normalise(response, MANAGED_EXTENSIONS | extension_urls(expected), in_place=True)


def minimal(name: str, operation: str, with_externals: bool = False) -> Any:
    filler = synth.Filler(
        minimal=comparer(operation).is_optional,
        externals=externals().get(name) if with_externals else None,
    )
    return synth.concrete(expected_file(name), filler)


def test_tx_ecosystem_suite_is_present() -> None:
    shared_file("tx-ecosystem/test-cases.json")
    assert len(RESPONSES) > 500


# ---- every expected file --------------------------------------------------------------


@pytest.mark.parametrize(("name", "operation"), RESPONSES, ids=IDS)
def test_expected_file(name: str, operation: str) -> None:
    """One expected file: it matches itself after sorting, concrete instances of it match,
    and mutated instances do not."""
    expected = expected_file(name)
    check = comparer(operation)

    # itself: run-optional items left out, sorted as a response would be, placeholders taken
    # literally -- expected files are in canonical order, so a sorted answer can match them
    itself = synth.drop_items(expected, check.is_optional)
    sort_resource(itself)
    assert check.compare(expected, itself) is None, "does not match itself after sorting"

    # placeholders filled with valid values ($external$ from its fragments), scrubbed, sorted
    sites: list[synth.Site] = []
    instance = synth.concrete(expected, synth.Filler(minimal=check.is_optional, sites=sites))
    actual = prepare(operation, expected, copy.deepcopy(instance))
    difference = comparer(operation).compare(expected, actual)
    assert difference is None, f"concrete instance: {difference}"

    # $external:N$ filled with tx.fhir.org's own wording, compared with --externals
    if name in externals():
        own = prepare(operation, expected, minimal(name, operation, with_externals=True))
        difference = comparer(operation, name).compare(expected, own)
        assert difference is None, f"with the reference server's messages: {difference}"

    # mutants: changed value, wrong placeholder type (one per kind), extra, missing property
    mutants = _mutants(expected, operation, instance, sites)
    assert len(mutants) >= 2
    survivors = [
        label
        for label, mutant in mutants.items()
        if comparer(operation).compare(expected, prepare(operation, expected, mutant)) is None
    ]
    assert survivors == [], "mutants that still match"


def _mutants(
    expected: Any, operation: str, instance: Any, sites: list[synth.Site]
) -> dict[str, Any]:
    mutants: dict[str, Any] = {}
    literals = [
        s
        for s in sites
        if s.strict and synth.placeholder_kind(s.template) is None and s.path[-1] != "resourceType"
    ]
    middle = len(literals) // 2
    for site in dict.fromkeys(literals[:1] + literals[middle : middle + 1] + literals[-1:]):
        bad = synth.break_value(site.template)
        mutants[f"changed {site.path}"] = synth.with_value(instance, site.path, bad)
    kinds: set[str] = set()
    for site in sites:
        kind = synth.placeholder_kind(site.template)
        bad = synth.break_value(site.template)
        if site.strict and kind and kind not in kinds and bad is not None:
            kinds.add(kind)
            mutants[f"wrong {kind} at {site.path}"] = synth.with_value(instance, site.path, bad)
    if operation not in CAPABILITY_OPERATIONS:
        mutants["extra property"] = synth.with_value(instance, ("zzExtra",), "x")
    required = synth.required_property(expected)
    if required:
        mutants[f"missing {required}"] = synth.without(instance, (required,))
    return mutants


@needs_suite
def test_maximal_instances_match_except_optional_items_out_of_order() -> None:
    """Every optional item present: passes, except where the file lists an optional item
    after items it sorts before (the list above, kept exact)."""
    failing = set()
    for name, operation in RESPONSES:
        expected = expected_file(name)
        actual = prepare(operation, expected, synth.concrete(expected))
        if comparer(operation).compare(expected, actual) is not None:
            failing.add(name)
    assert failing == OPTIONAL_OUT_OF_ORDER


@needs_suite
def test_missing_upstream_files_are_known() -> None:
    missing = [n for n in manifest().referenced_files() if not (ROOT / n).is_file()]
    assert sorted(missing) == ["icd-11/vs1.json", "search/search-expand-all-yes-flat-response.json"]


# ---- placeholders and markers (hand-made) ---------------------------------------------

GOOD_AND_BAD = [
    ("$$", ["", "anything"], []),
    ("$string$", ["a b"], [" a", "b "]),
    ("$id$", ["abc-1.2", "A" * 64], ["a b", "A" * 65, "a_b"]),
    ("$token$", ["active", "a_b.c-d"], ["-x", "a b", ""]),
    ("$url$", ["http://x.org/a", "https://x.org/a?b=c", "www.x.org"], ["ftp://x", "urn:x"]),
    ("$uuid$", ["urn:uuid:0a1b2c3d-0a1b-4c2d-8e9f-0a1b2c3d4e5f"], ["0a1b2c3d-0a1b-4c2d-8e9f"]),
    ("$instant$", ["2024-01-31T10:00:00Z", "2024-01-31T10:00:00.123+10:00"], ["2024-01-31"]),
    ("$date$", ["2024-01-31", "2024-01-31T10:00:00Z"], ["2024-13-01", "31/01/2024"]),
    ("$semver$", ["1.0.0", "1.2.3-beta.1+b5"], ["1.0", "01.0.0"]),
    ("$version$", ["5.0.0"], ["4.0.1"]),
    ("$choice:a|b$", ["a", "b"], ["c", "a|b"]),
    ("$fragments:Foo|bar$", ["the foo and BAR"], ["foo only"]),
    ("$external:1$", ["any text"], []),
    ("$external:1:http://x.org/vs|5.0.0$", ["bad in http://x.org/vs|5.0.0"], ["http only"]),
    ("http://x.org/cs|$version$", ["http://x.org/cs|5.0.0"], ["http://x.org/cs|4.0.1"]),
    ("plain", ["plain"], ["Plain", "plain "]),
]


@pytest.mark.parametrize(
    ("template", "good", "bad"), GOOD_AND_BAD, ids=[g[0] for g in GOOD_AND_BAD]
)
def test_placeholders(template: str, good: list[str], bad: list[str]) -> None:
    check = Comparer(variables=R5)
    assert all(check.matches(value, template) for value in good)
    assert not any(check.matches(value, template) for value in bad)


def test_externals_replace_fragments_when_given() -> None:
    check = Comparer(externals={"1": "Exact text"})
    assert check.matches("Exact text", "$external:1:other$")
    assert not check.matches("other", "$external:1:other$")


def test_version_placeholder_without_a_known_version_accepts_any() -> None:
    assert Comparer().matches("4.0.1", "$version$")
    assert Comparer().matches("http://x|4.0.1", "http://x|$version$")


def _items(*flags: Any) -> dict:
    return {
        "a": [
            {"$optional$": flag, "v": i} if flag is not None else {"v": i}
            for i, flag in enumerate(flags)
        ]
    }


@pytest.mark.parametrize(
    ("flag", "modes", "version", "optional"),
    [
        (True, set(), "5.0.0", True),
        ("!tx.fhir.org", set(), "5.0.0", True),
        ("!tx.fhir.org", {"tx.fhir.org"}, "5.0.0", False),
        ("flat", set(), "5.0.0", False),
        ("flat", {"flat"}, "5.0.0", True),
        ("warning:version", set(), "5.0.0", True),
        ("version:4", set(), "5.0.0", False),
        ("version:4", set(), "4.0.1", True),
    ],
)
def test_optional_markers(flag: Any, modes: set[str], version: str, optional: bool) -> None:
    expected = _items(None, flag)
    check = Comparer(modes=frozenset(modes), variables={"version": version})
    assert (check.compare(expected, {"a": [{"v": 0}]}) is None) is optional
    assert check.compare(expected, {"a": [{"v": 0}, {"v": 1}]}) is None


def test_warning_optional_is_recorded() -> None:
    check = Comparer()
    check.compare(_items(None, "warning:old servers"), {"a": [{"v": 0}]})
    assert check.warnings == ["old servers"]


def test_arrays_match_in_order() -> None:
    check = Comparer()
    assert check.compare({"a": [1, 2]}, {"a": [2, 1]}) is not None
    difference = check.compare({"a": [1, 2]}, {"a": [1, 2, 3]})
    assert (difference.path, difference.actual) == ("a[2]", "3")
    assert difference.message == (
        "unexpected array item; array item count differs at a: 2 expected (2 required), 3 found"
    )


def test_optional_properties_count_arrays_and_typo_key() -> None:
    check = Comparer()
    expected = {"$optional-properties$": ["b"], "a": 1, "b": 2}
    assert check.compare(expected, {"a": 1}) is None
    assert check.compare(expected, {"a": 1, "b": 3}) is not None
    assert check.compare({"$optional-properties$": ["*"], "a": 1}, {}) is None
    assert check.compare({"$optional": ["b"], "a": 1, "b": 2}, {"a": 1}) is None
    counted = {"$count-arrays$": ["c"], "c": [1, 2]}
    assert check.compare(counted, {"c": [7, 8]}) is None
    assert check.compare(counted, {"c": [7]}) is not None


def test_all_optional_array_may_be_absent() -> None:
    assert Comparer().compare({"a": [{"$optional$": True, "v": 1}], "b": 1}, {"b": 1}) is None


def test_values_compare_by_type_and_text() -> None:
    check = Comparer()
    assert check.compare({"a": Decimal("1.0")}, {"a": Decimal("1.0")}) is None
    assert check.compare({"a": Decimal("1.0")}, {"a": Decimal("1.00")}) is not None
    assert check.compare({"a": True}, {"a": "true"}).message == "property types differ"
    assert check.compare({"a": 1}, {"a": True}) is not None
    assert check.compare({"a": {"b": 1}}, {"a": [{"b": 1}]}).message == "properties differ"


def test_first_difference_names_path_expected_and_actual() -> None:
    expected = {
        "resourceType": "Parameters",
        "parameter": [{"name": "result", "valueBoolean": True}],
    }
    actual = {
        "resourceType": "Parameters",
        "parameter": [{"name": "result", "valueBoolean": False}],
    }
    difference = Comparer().compare(expected, actual)
    assert difference.path == "Parameters.parameter[0].valueBoolean"
    assert (difference.expected, difference.actual) == ("true", "false")


def test_pattern_mode_allows_extra_content_but_not_missing() -> None:
    check = Comparer(pattern=True)
    expected = {"rest": [{"mode": "server", "operation": [{"name": "b"}]}]}
    actual = {"x": 1, "rest": [{"mode": "server", "operation": [{"name": "a"}, {"name": "b"}]}]}
    assert check.compare(expected, actual) is None
    assert check.compare(expected, {"rest": [{"mode": "server", "operation": [{"name": "a"}]}]})


# ---- scrub and sort -------------------------------------------------------------------

UNKNOWN = "http://example.org/StructureDefinition/unknown"
MANAGED = "http://hl7.org/fhir/StructureDefinition/valueset-label"


def test_scrub_drops_meta_text_diagnostics_and_unmanaged_extensions() -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "meta": {"lastUpdated": "x"},
        "text": {"status": "generated", "div": "<div/>"},
        "extension": [{"url": UNKNOWN}, {"url": MANAGED, "valueString": "x"}],
        "issue": [
            {"severity": "error", "code": "x", "details": {"text": "t"}, "diagnostics": "d"},
            {"severity": "information", "code": "informational", "diagnostics": "debug"},
        ],
    }
    result = normalise(outcome)
    assert result == {
        "resourceType": "OperationOutcome",
        "extension": [{"url": MANAGED, "valueString": "x"}],
        "issue": [{"severity": "error", "code": "x", "details": {"text": "t"}}],
    }
    assert "meta" in outcome  # the input is left alone


def test_scrub_keeps_compose_and_extensions_the_expected_file_mentions() -> None:
    valueset = {
        "resourceType": "ValueSet",
        "compose": {"include": [{"extension": [{"url": UNKNOWN}], "system": "s"}]},
        "expansion": {"extension": [{"url": UNKNOWN, "valueBoolean": True}]},
    }
    assert normalise(valueset)["compose"] == valueset["compose"]
    assert "extension" not in normalise(valueset)["expansion"]
    kept = normalise(valueset, MANAGED_EXTENSIONS | extension_urls(valueset))
    assert kept["expansion"]["extension"] == [{"url": UNKNOWN, "valueBoolean": True}]


def test_sort_parameters_properties_designations_and_message() -> None:
    def prop(code: str, value: str) -> dict:
        return {
            "name": "property",
            "part": [{"name": "value", "valueCode": value}, {"name": "code", "valueCode": code}],
        }

    def desig(lang: str, value: str) -> dict:
        parts = [{"name": "value", "valueString": value}, {"name": "language", "valueCode": lang}]
        return {"name": "designation", "part": parts}

    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "message", "valueString": "b thing; a thing"},
            prop("status", "b"),
            desig("en", "z"),
            prop("Inactive", "x"),
            desig("de", "y"),
            desig("en", "a"),
            prop("status", "A"),
            {"name": "code", "valueCode": "c"},
        ],
    }
    result = normalise(parameters)["parameter"]
    names = [p["name"] for p in result]
    assert names == [
        "code",
        "designation",
        "designation",
        "designation",
        "message",
        *["property"] * 3,
    ]
    assert [p["part"][0]["name"] for p in result if "part" in p] == ["language"] * 3 + ["code"] * 3
    assert [p["part"][1]["valueString"] for p in result[1:4]] == ["y", "z", "a"]  # language only
    assert [(p["part"][0]["valueCode"], p["part"][1]["valueCode"]) for p in result[5:]] == [
        ("Inactive", "x"),
        ("status", "A"),
        ("status", "b"),
    ]
    assert result[4]["valueString"] == "a thing; b thing"


def test_sort_issues_and_expansion_contains() -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "warning", "code": "x"},
            {"severity": "error", "code": "y", "details": {"text": "b"}},
            {"severity": "error", "code": "y", "details": {"text": "a"}},
        ],
    }
    issues = normalise(outcome)["issue"]
    assert [(i["severity"], i.get("details", {}).get("text")) for i in issues] == [
        ("error", "a"),
        ("error", "b"),
        ("warning", None),
    ]
    valueset = {
        "resourceType": "ValueSet",
        "expansion": {
            "parameter": [{"name": "b", "valueString": "1"}, {"name": "a", "valueString": "2"}],
            "contains": [{"code": "b", "contains": [{"code": "z"}, {"code": "y"}]}, {"code": "a"}],
        },
    }
    expansion = normalise(valueset)["expansion"]
    assert [p["name"] for p in expansion["parameter"]] == ["a", "b"]
    assert [c["code"] for c in expansion["contains"]] == ["a", "b"]
    assert [c["code"] for c in expansion["contains"][1]["contains"]] == ["y", "z"]


# ---- requests -------------------------------------------------------------------------


def _case(suite: str, name: str) -> TestCase:
    return next(c for c in manifest().select(suites=[suite]) if c.name == name)


@needs_suite
def test_request_carries_setup_profile_and_headers() -> None:
    case = _case("language", "language-echo-de-de-header")
    request = build_request(case, manifest())
    assert (request.method, request.path) == ("POST", "ValueSet/$expand")
    assert request.headers["X-Request-Id"] == "txTests:language/language-echo-de-de-header"
    assert request.headers["Accept-Language"] == "de"
    parameters = request.body["parameter"]
    resources = [p["resource"]["url"] for p in parameters if p["name"] == "tx-resource"]
    assert len(resources) == len(case.setup)
    assert parameters[-1]["name"] == "uuid"  # parameters-default.json, last


@needs_suite
def test_request_methods_and_paths() -> None:
    paths = {}
    for case in manifest().select():
        if case.operation in ("compare",):
            continue
        request = build_request(case, manifest())
        paths[case.operation] = (request.method, request.path)
    assert paths == {
        "metadata": ("GET", "metadata"),
        "term-caps": ("GET", "metadata?mode=terminology"),
        "expand": ("POST", "ValueSet/$expand"),
        "lookup": ("POST", "CodeSystem/$lookup"),
        "validate-code": ("POST", "ValueSet/$validate-code"),
        "cs-validate-code": ("POST", "CodeSystem/$validate-code"),
        "translate": ("POST", "ConceptMap/$translate"),
        "batch-validate": ("POST", "ValueSet/$batch-validate-code"),
    }


@needs_suite
def test_r4_conversion_applies_to_the_whole_body_with_its_tx_resources() -> None:
    case = _case("simple-cases", "simple-expand-all")
    seen: list[dict] = []
    request = build_request(case, manifest(), lambda body: seen.append(body) or {"r4": True})
    assert request.body == {"r4": True}
    assert sum(p["name"] == "tx-resource" for p in seen[0]["parameter"]) == len(case.setup)


def test_validate_code_goes_by_get_when_every_parameter_is_primitive(tmp_path: Path) -> None:
    (tmp_path / "req.json").write_text(
        '{"resourceType":"Parameters","parameter":[{"name":"url","valueUri":"http://x"},'
        '{"name":"code","valueCode":"a"},{"name":"abstract","valueBoolean":false}]}'
    )
    (tmp_path / "parameters-default.json").write_text('{"resourceType":"Parameters"}')
    test = {"name": "t", "operation": "validate-code", "request": "req.json", "response": "r"}
    case = TestCase("s", "t", "validate-code", test, ())
    request = build_request(case, Manifest(tmp_path, {}))
    assert (request.method, request.body) == ("GET", None)
    assert request.query == [("url", "http://x"), ("code", "a"), ("abstract", "false")]
    with_setup = TestCase("s", "t", "validate-code", test, ("req.json",))
    assert build_request(with_setup, Manifest(tmp_path, {})).method == "POST"


@needs_suite
def test_default_selection_is_597_tests() -> None:
    cases = manifest().select()
    assert len(cases) == 597
    assert {c.suite for c in cases} >= {"metadata", "simple-cases", "version", "permutations"}
    assert not any(c.test.get("mode") for c in cases)
    assert len(manifest().select(suites=["snomed"])) == 23  # naming a suite turns its mode on


# ---- the runner over HTTP, against a fake server that answers correctly ---------------


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=lambda o: float(o) if isinstance(o, Decimal) else str(o))


def fake_server(fhir_version: str = "r5", break_key: str | None = None) -> httpx.MockTransport:
    """Answers each test (found by X-Request-Id) with a correct response built from its
    expected file; R4 when asked (through terminology.versions). break_key gets a wrong one."""
    cases = {c.key: c for c in manifest().select()}

    def answer(request: httpx.Request) -> httpx.Response:
        key = request.headers.get("X-Request-Id", ":").split(":", 1)[1]
        if request.url.path.endswith("/metadata") and not request.url.query:
            body, status = synth.concrete(manifest().read("capstmt.json")), 200
            body["fhirVersion"] = "5.0.0"
        else:
            case = cases[key]
            body = minimal(case.response_file, case.operation, with_externals=True)
            status = 200 if case.http_code == "2xx" else 400
            if key == break_key:
                body["zzExtra"] = True
        if fhir_version == "r4":
            from terminology.versions import to_r4

            body = to_r4(body)
        return httpx.Response(
            status, content=_dumps(body), headers={"Content-Type": "application/fhir+json"}
        )

    return httpx.MockTransport(answer)


def run_fake(fhir_version: str, **kwargs: Any) -> list[Result]:
    options = RunOptions(f"http://fake/{fhir_version}", fhir_version, externals=externals())
    client = httpx.Client(transport=fake_server(fhir_version, **kwargs))
    with Runner(manifest(), options, client) as runner:
        return runner.run(manifest().select(fhir_version=fhir_version))


@needs_suite
def test_a_correct_server_passes_the_default_run_r5() -> None:
    results = run_fake("r5", break_key="simple-cases/simple-expand-all")
    failed = [r.key for r in results if not r.passed]
    assert failed == ["simple-cases/simple-expand-all"]
    assert len(results) == 597
    assert render(results).splitlines()[-1] == "tx-ecosystem: 596 passed, 1 failed"
    assert (
        render(results)
        .splitlines()[0]
        .startswith("FAIL simple-cases/simple-expand-all: ValueSet: unexpected property zzExtra")
    )


@needs_suite
def test_the_check_hook_sees_each_answer_as_sent_and_judges_apart() -> None:
    """RunOptions.check looks at every answer (the CI test parses them with fhir.resources):
    what it finds is kept in Result.invalid, and whether the test passed is unchanged."""
    seen: list[str] = []

    def check(case: TestCase, body: dict[str, Any]) -> str | None:
        seen.append(case.key)
        return "a ValueSet" if body.get("resourceType") == "ValueSet" else None

    options = RunOptions("http://fake/r5", "r5", externals=externals(), check=check)
    cases = manifest().select(suites=["simple-cases"])
    client = httpx.Client(transport=fake_server("r5"))
    with Runner(manifest(), options, client) as runner:
        results = runner.run(cases)
    assert seen == [c.key for c in cases] and all(r.passed for r in results)
    flagged = [r for r in results if r.invalid]
    assert flagged and all(r.operation == "expand" for r in flagged)
    assert {r.as_json()["invalid"] for r in flagged} == {"a ValueSet"}


# R4 round trip: terminology.versions renames $translate match parts (equivalence <->
# relationship) where the Java converter keeps the R4 names the expected files allow for, and
# the fake server's R5 answers name administrative-gender|5.0.0 where an R4 server says 4.0.1.
R4_KNOWN = {
    "translate/translate-1",
    "translate/translate-reverse",
    "exclude/exclude-combo",
    "exclude/include-combo",
    "exclude/exclude-gender",
    "exclude/exclude-gender2",
}


@needs_suite
def test_a_correct_server_passes_the_default_run_r4() -> None:
    pytest.importorskip("terminology.versions")
    results = run_fake("r4")
    failed = {r.key for r in results if not r.passed}
    assert failed <= R4_KNOWN, failed - R4_KNOWN


@needs_suite
def test_missing_material_and_dead_servers_fail_tests_not_the_run() -> None:
    refused = httpx.MockTransport(lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused")))
    options = RunOptions("http://dead/r5", externals=externals())
    with Runner(manifest(), options, httpx.Client(transport=refused)) as runner:
        icd = runner.run(manifest().select(suites=["icd-11"]))
        simple = runner.run(manifest().select(suites=["simple-cases"])[:2])
    assert [r.passed for r in icd] == [False]
    assert "icd-11/vs1.json" in icd[0].message and "absent" in icd[0].message
    assert all("ConnectError" in r.message for r in simple)
    assert "simple-cases" in suite_table(simple)


@needs_suite
def test_error_status_and_non_outcome_bodies_fail() -> None:
    case = _case("simple-cases", "simple-expand-all")

    def run_with(status: int, body: dict) -> Result:
        transport = httpx.MockTransport(lambda r: httpx.Response(status, content=_dumps(body)))
        with Runner(
            manifest(), RunOptions("http://x/r5"), httpx.Client(transport=transport)
        ) as runner:
            return runner.run_one(case)

    good = minimal(case.response_file, case.operation)
    assert run_with(200, good).passed
    assert run_with(500, good).message == "HTTP 500 and the body is not an OperationOutcome"
    odd = run_with(200, {"resourceType": "Parameters", "parameter": [1, 2]})
    assert not odd.passed and odd.message.startswith("runner error on this response")
    wrong = run_with(404, {"resourceType": "OperationOutcome", "issue": []})
    assert wrong.message == "HTTP 404, expected 2xx" and wrong.difference is not None


# ---- pass list and CLI ----------------------------------------------------------------


def _result(key: str, passed: bool) -> Result:
    suite, test = key.split("/")
    return Result(suite, test, "expand", passed, "" if passed else "boom")


def test_pass_list_only_grows_and_flags_regressions(tmp_path: Path) -> None:
    path = tmp_path / "passing.txt"
    path.write_text("# header\nr4 s/old\ns/both\n")
    results = [_result("s/both", False), _result("s/new", True), _result("s/new", True)]
    assert passlist.read_passing(path, "r5") == {"s/both"}
    assert [r.key for r in passlist.regressions(results, passlist.read_passing(path, "r5"))] == [
        "s/both"
    ]
    assert passlist.add_passing(path, results, "r5") == ["r5 s/new"]
    assert path.read_text() == "# header\nr4 s/old\nr5 s/new\ns/both\n"
    assert passlist.add_passing(path, results, "r5") == []
    duplicated = [_result("s/dup", True), _result("s/dup", False)]
    assert passlist.passing_keys(duplicated) == set()


@needs_suite
def test_cli_reports_per_test_table_and_summary(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(conformance)
    out = tmp_path / "r.json"
    args = ["--server", "http://127.0.0.1:9/r5", "--suite", "metadata", "--json", str(out)]
    result = CliRunner().invoke(app, [*args, "--tests", str(ROOT), "--timeout", "2"])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("FAIL metadata/metadata: ")
    assert lines[-1] == "tx-ecosystem: 0 passed, 2 failed"
    assert any(line.startswith("metadata ") for line in lines)
    document = orjson.loads(out.read_bytes())
    assert [r["status"] for r in document["results"]] == ["fail", "fail"]


def test_http_request_is_plain_data() -> None:
    request = HttpRequest("GET", "metadata", {"Accept": "application/fhir+json"})
    assert copy.deepcopy(request) == request


# ---- what later versions of the official runner run (tx-ecosystem readme, "Test Cases") --


def _manifest_with(tmp_path: Path, suites: list[dict]) -> Manifest:
    (tmp_path / "req.json").write_text('{"resourceType":"Parameters","parameter":[]}')
    (tmp_path / "parameters-default.json").write_text('{"resourceType":"Parameters"}')
    return Manifest(tmp_path, {"suites": suites})


@pytest.mark.parametrize(
    ("declared", "server", "runs"),
    [
        (None, "4.0.1", True),
        ("4.0", "4.0.1", True),
        ("4.0", "r4", True),
        ("4.0", "5.0.0", False),
        ("5.0", "r5", True),
        ("!4.0", "4.0.1", False),
        ("!4.0", "5.0.0", True),
        ("!4.0", "r5", True),
        ("4.0", None, True),  # an unknown server runs everything
        ("4.0", "4.3.0", False),  # R4B is not R4: "4.0" or "4.0.", not any 4
    ],
)
def test_version_filter(declared: str | None, server: str | None, runs: bool) -> None:
    """Readme "Versions": "4.0" matches 4.0 and any version starting "4.0."; "!4.0" runs
    against anything except an R4 server."""
    assert version_passes(declared, server) is runs


def test_version_filters_select_suites_and_tests(tmp_path: Path) -> None:
    """A suite and a test may both declare `version` (readme: "as for suites")."""
    test = {"operation": "expand", "request": "req.json", "response": "r.json"}
    suites = [
        {"name": "r4-only", "version": "4.0", "tests": [{"name": "a", **test}]},
        {
            "name": "mixed",
            "tests": [
                {"name": "not-r4", "version": "!4.0", **test},
                {"name": "r4", "version": "4.0", **test},
                {"name": "any", **test},
            ],
        },
    ]
    listed = _manifest_with(tmp_path, suites)
    assert [c.key for c in listed.select(fhir_version="r4")] == [
        "r4-only/a",
        "mixed/r4",
        "mixed/any",
    ]
    assert [c.key for c in listed.select(fhir_version="r5")] == ["mixed/not-r4", "mixed/any"]


@pytest.mark.parametrize(
    ("marker", "modes", "version", "present"),
    [
        ("version:4", set(), "4.0.1", True),
        ("version:4", set(), "5.0.0", False),
        ("version:5", set(), "5.0.0", True),
        ("tx.fhir.org", {"tx.fhir.org"}, "5.0.0", True),
        ("tx.fhir.org", set(), "5.0.0", False),
        ("!tx.fhir.org", set(), "5.0.0", True),
    ],
)
def test_only_marker(marker: str, modes: set[str], version: str, present: bool) -> None:
    """Readme "$optional$ and $only$": where the filter passes the entry is required, where
    it does not the entry must not be present at all."""
    expected = {"a": [{"v": 0}, {"$only$": marker, "v": 1}]}
    check = Comparer(modes=frozenset(modes), variables={"version": version})
    with_item = check.compare(expected, {"a": [{"v": 0}, {"v": 1}]})
    without_item = check.compare(expected, {"a": [{"v": 0}]})
    assert (with_item is None, without_item is None) == (present, not present)


def test_only_marker_on_every_item_of_an_array_removes_the_property() -> None:
    expected = {"b": 1, "a": [{"$only$": "version:4", "v": 1}]}
    r5 = Comparer(variables={"version": "5.0.0"})
    assert r5.compare(expected, {"b": 1}) is None
    assert r5.compare(expected, {"b": 1, "a": [{"v": 1}]}) is not None
    assert Comparer(variables={"version": "4.0.1"}).compare(expected, {"b": 1}) is not None


def test_subsumes_is_sent_as_codesystem_subsumes(tmp_path: Path) -> None:
    """The `subsumes` operation (fhir-core TerminologyServiceTests): CodeSystem/$subsumes with
    the request, the suite's setup resources and the profile parameters."""
    (tmp_path / "cs.json").write_text('{"resourceType":"CodeSystem","url":"http://cs"}')
    test = {"name": "t", "operation": "subsumes", "request": "req.json", "response": "r.json"}
    case = TestCase("s", "t", "subsumes", test, ("cs.json",))
    request = build_request(case, _manifest_with(tmp_path, []))
    assert (request.method, request.path) == ("POST", "CodeSystem/$subsumes")
    assert [p["name"] for p in request.body["parameter"]] == ["tx-resource"]


@pytest.mark.parametrize(
    ("operation", "value", "sent"),
    [
        ("validate-code", False, False),
        ("cs-validate-code", True, True),
        ("validate-code", None, None),
        ("expand", False, None),  # only the two $validate-code operations
    ],
)
def test_lenient_display_is_sent_as_a_parameter(
    tmp_path: Path, operation: str, value: bool | None, sent: bool | None
) -> None:
    """Readme: `lenient-display` "sets the lenient-display-validation parameter on a
    validate-code or cs-validate-code request"."""
    test = {"name": "t", "operation": operation, "request": "req.json", "response": "r.json"}
    if value is not None:
        test["lenient-display"] = value
    case = TestCase("s", "t", operation, test, ())
    request = build_request(case, _manifest_with(tmp_path, []))
    parameters = request.body["parameter"] if request.body else []
    query = dict(request.query)
    found = [p["valueBoolean"] for p in parameters if p["name"] == "lenient-display-validation"]
    if "lenient-display-validation" in query:
        found.append(query["lenient-display-validation"] == "true")
    assert found == ([] if sent is None else [sent])
