"""$batch-validate-code answers each validation exactly as a single $validate-code with the
validation's parameters over the batch's does, byte for byte, now that the value set is
prepared once per batch: on the real HCPCS 2020 release and on the tx-ecosystem cases.

The answer memo is off here, so that every answer comes from the per-batch path."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator

import orjson
import pytest

from terminology.engine import Engine, OperationRequest
from terminology.loader import load_files, shipped_fhir_core
from terminology.operations import batch
from terminology.outcome import TerminologyError
from terminology.request import BATCH_ITEM_SCOPE, Scope
from tests.conftest import shared_file

from .conftest import HCPCS

ALL = "https://hcpcs-tx.org/fhir/ValueSet/hcpcs-all"
MODIFIERS = "https://hcpcs-tx.org/fhir/ValueSet/hcpcs-modifiers"
ALIAS = "urn:oid:2.16.840.1.113883.6.285"
# what identifies a coding in a request: a validation's own parameters in the suite's batches
CODING = {"code", "system", "systemVersion", "version", "display", "coding", "codeableConcept"}


@pytest.fixture(autouse=True)
def no_memo() -> Iterator[None]:
    batch.use_memo(False)
    yield
    batch.use_memo(True)


def _answer(engine: Engine, operation: str, parameters: list[dict], **request) -> dict:
    """The answer, or the error's OperationOutcome (a batch answers a failed validation
    with its OperationOutcome)."""
    body = {"resourceType": "Parameters", "parameter": parameters}
    try:
        return engine.run(OperationRequest(operation, "ValueSet", body, **request))
    except TerminologyError as error:
        return error.outcome


def _batch_and_single(
    engine: Engine, shared: list[dict], validations: list[list[dict]], **request
) -> tuple[list[bytes], list[bytes]]:
    """Each validation's batch answer, and its single $validate-code answer."""
    wrapped = [
        {"name": "validation", "resource": {"resourceType": "Parameters", "parameter": inner}}
        for inner in validations
    ]
    result = _answer(engine, "batch-validate-code", shared + wrapped, **request)
    if result["resourceType"] == "OperationOutcome":  # the batch itself failed
        answers = [orjson.dumps(result)] * len(validations)
    else:
        answers = [orjson.dumps(p["resource"]) for p in result["parameter"]]
    singles = [
        orjson.dumps(_answer(engine, "validate-code", inner + shared, **request))
        for inner in validations
    ]
    return answers, singles


def _coding(code: str, display: str | None = None, system: str | None = HCPCS, **more) -> list:
    coding = {"system": system, "code": code, "display": display, **more}
    value = {k: v for k, v in coding.items() if v is not None}
    return [{"name": "coding", "valueCoding": value}]


def _concepts(resources: list[dict]) -> list[dict]:
    found, stack = [], list(next(r for r in resources if r.get("url") == HCPCS)["concept"])
    while stack:
        concept = stack.pop()
        found.append(concept)
        stack.extend(concept.get("concept", []))
    return found


def _inactive(concept: dict) -> bool:
    return any(p.get("code") == "inactive" and p.get("valueBoolean") for p in concept["property"])


def _hcpcs_validations(resources: list[dict]) -> list[list[dict]]:
    """Valid codes (with and without their display), inactive ones, wrong displays, unknown
    codes and systems, aliases, versions, code+system and codeableConcept forms, per-validation
    options, and validations that name their own value set."""
    concepts = _concepts(resources)
    active = [c for c in concepts if not _inactive(c)][:40]
    retired = [c for c in concepts if _inactive(c)][:10]
    modifier = next(c for c in concepts if len(c["code"]) == 2 and not _inactive(c))
    first = active[0]
    out = [_coding(c["code"], c["display"]) for c in active + retired]
    out += [_coding(c["code"]) for c in active[:10]]
    out += [_coding(c["code"], c["display"] + " (wrong)") for c in active[:5]]
    out += [_coding(c["code"], c["display"].upper()) for c in active[5:8]]
    out += [
        _coding("NOPE1"),
        _coding("NOPE1", "Nothing"),
        _coding(first["code"].lower(), first["display"]),
        _coding(first["code"], system="urn:example:unknown"),
        _coding(first["code"], system="relative"),
        _coding(first["code"], system=None),
        _coding(first["code"], first["display"], system=ALIAS),
        _coding(first["code"], first["display"], version="2020-01"),
        _coding(first["code"], first["display"], version="1999-01"),
        [
            {"name": "code", "valueCode": first["code"]},
            {"name": "system", "valueUri": HCPCS},
            {"name": "display", "valueString": first["display"]},
        ],
        [{"name": "code", "valueCode": first["code"]}],  # no system
        [{"name": "system", "valueUri": HCPCS}],  # no code
        [
            {
                "name": "codeableConcept",
                "valueCodeableConcept": {
                    "coding": [
                        {"system": HCPCS, "code": "NOPE2"},
                        {"system": HCPCS, "code": first["code"], "display": first["display"]},
                    ]
                },
            }
        ],
        _coding(first["code"], first["display"]) + [{"name": "activeOnly", "valueBoolean": True}],
        _coding(retired[0]["code"]) + [{"name": "activeOnly", "valueBoolean": True}],
        _coding(first["code"], "wrong")
        + [{"name": "lenient-display-validation", "valueBoolean": True}],
        _coding(first["code"], first["display"]) + [{"name": "displayLanguage", "valueCode": "de"}],
        [
            {"name": "code", "valueCode": first["code"]},
            {"name": "inferSystem", "valueBoolean": True},
        ],
        # validations that name their own value set
        [{"name": "url", "valueUri": MODIFIERS}, *_coding(first["code"], first["display"])],
        [{"name": "url", "valueUri": MODIFIERS}, *_coding(modifier["code"], modifier["display"])],
        [{"name": "url", "valueUri": "http://example.org/none"}, *_coding(first["code"])],
        [{"name": "valueSetVersion", "valueString": "1999"}, *_coding(first["code"])],
        [
            {"name": "valueSet", "resource": _inline(modifier["code"])},
            *_coding(modifier["code"], modifier["display"]),
        ],
    ]
    return out


def _inline(code: str) -> dict:
    include = {"system": HCPCS, "concept": [{"code": code}]}
    return {"resourceType": "ValueSet", "status": "active", "compose": {"include": [include]}}


@pytest.mark.parametrize(
    "shared",
    [
        [{"name": "url", "valueUri": ALL}],
        [{"name": "url", "valueUri": MODIFIERS}],
        [{"name": "url", "valueUri": f"{HCPCS}?fhir_vs"}],
        [{"name": "url", "valueUri": ALL}, {"name": "activeOnly", "valueBoolean": True}],
        [{"name": "url", "valueUri": ALL}, {"name": "system-version", "valueUri": HCPCS + "|x"}],
        [{"name": "url", "valueUri": ALL}, {"name": "date", "valueDateTime": "2019-06-01"}],
        [{"name": "url", "valueUri": "http://example.org/none"}],
    ],
    ids=["all", "modifiers", "implicit", "activeOnly", "system-version", "date", "unknown"],
)
def test_hcpcs_batch_answers_as_single_validations(hcpcs, hcpcs_resources, shared) -> None:
    validations = _hcpcs_validations(hcpcs_resources)
    answers, singles = _batch_and_single(hcpcs, shared, validations)
    assert len(answers) == len(validations)
    for inner, answer, single in zip(validations, answers, singles, strict=True):
        assert answer == single, json.dumps(inner)


def test_hcpcs_batch_field_by_field(hcpcs, hcpcs_resources) -> None:
    """Valid, invalid, wrong display and an own value set: the parameters, issues, message
    and result of each answer are the single validation's, in the same order."""
    concepts = [c for c in _concepts(hcpcs_resources) if not _inactive(c)]
    code, display = concepts[0]["code"], concepts[0]["display"]
    validations = [
        _coding(code, display),
        _coding("NOPE1"),
        _coding(code, "Not its display"),
        [{"name": "url", "valueUri": MODIFIERS}, *_coding(code, display)],
    ]
    answers, singles = _batch_and_single(hcpcs, [{"name": "url", "valueUri": ALL}], validations)
    results = []
    for answer, single in zip(answers, singles, strict=True):
        got, want = orjson.loads(answer), orjson.loads(single)
        assert [p["name"] for p in got["parameter"]] == [p["name"] for p in want["parameter"]]
        for mine, theirs in zip(got["parameter"], want["parameter"], strict=True):
            assert mine == theirs
        results.append(next(p["valueBoolean"] for p in got["parameter"] if p["name"] == "result"))
    assert results == [True, False, False, False]


def test_hcpcs_batch_repeats_answers(hcpcs, hcpcs_resources) -> None:
    """A batch that repeats codings answers each repeat alike (what is prepared per batch
    is shared, never changed by a validation)."""
    validations = _hcpcs_validations(hcpcs_resources)
    answers, _ = _batch_and_single(hcpcs, [{"name": "url", "valueUri": ALL}], validations * 2)
    assert answers[: len(validations)] == answers[len(validations) :]


# -- the tx-ecosystem cases -------------------------------------------------------------------
def _suite_requests() -> dict[tuple, list[tuple[str, list[dict], list[dict], str | None]]]:
    """The suite's ValueSet $validate-code requests, split into the batch's shared parameters
    and the validation's own (its coding), grouped by what they share."""
    root = shared_file("tx-ecosystem/test-cases.json").parent
    manifest = _load(root / "test-cases.json")
    groups: dict[tuple, list] = defaultdict(list)
    for suite in manifest["suites"]:
        if suite.get("mode") != "general":
            continue
        setup = [{"name": "tx-resource", "resource": _load(root / s)} for s in suite["setup"]]
        for test in suite["tests"]:
            if test.get("mode") or test["operation"] != "validate-code":
                continue
            parameters = _load(root / test["request"]).get("parameter", [])
            profile = _load(root / test.get("profile", "parameters-default.json"))
            parameters = parameters + profile.get("parameter", []) + setup
            inner = [p for p in parameters if p["name"] in CODING]
            shared = [p for p in parameters if p["name"] not in CODING]
            language = test.get("Accept-Language")
            key = (suite["name"], orjson.dumps(shared), language)
            groups[key].append((test["name"], shared, inner, language))
    return groups


def _load(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8-sig"))


def test_tx_ecosystem_batches_answer_as_single_validations() -> None:
    """Every ValueSet $validate-code case of the suite, batched with the cases that share its
    parameters (and again, repeated), answers as the case run alone."""
    engine = Engine(load_files(shipped_fhir_core()))
    compared = 0
    for group in _suite_requests().values():
        _, shared, _, language = group[0]
        validations = [inner for _, _, inner, _ in group]
        validations += validations[:1]
        answers, singles = _batch_and_single(engine, shared, validations, languages=language)
        names = [name for name, *_ in group] + [group[0][0]]
        for name, answer, single in zip(names, answers, singles, strict=True):
            assert answer == single, name
            compared += 1
    assert compared > 300


# -- every parameter a validation may carry: the batch item is the single call --------------
RELEASES = [
    "data/releases/2019-Alpha-Numeric-HCPCS-File.zip",
    "data/releases/2020-Alpha-Numeric-HCPCS-File.zip",
]
NEW_IN_2020 = "A9590"  # in the 2020-01 release, not in 2019-01
OWN_VS = "http://example.org/fhir/ValueSet/own"
SUPPLEMENT = "http://example.org/fhir/CodeSystem/hcpcs-de"


@pytest.fixture(scope="module")
def two_releases() -> tuple[Engine, list[dict]]:
    """The real 2019-01 and 2020-01 HCPCS releases side by side (2020-01 the latest)."""
    from pathlib import Path

    import codesystem

    root = Path(__file__).resolve().parents[2]
    resources = load_files([root / name for name in RELEASES])
    return Engine(resources, codesystem.HCPCS_ALIASES), resources


def _importing(url: str) -> dict:
    include = {"valueSet": [url]}
    return {"resourceType": "ValueSet", "status": "active", "compose": {"include": [include]}}


def _parity_cases(resources: list[dict]) -> dict[str, tuple[list[dict], list[dict], bool]]:
    """Per parameter: (the batch's shared parameters, a validation's own parameters with it,
    whether the parameter changes this validation's answer)."""
    latest = [r for r in resources if r.get("url") == HCPCS and r["version"] == "2020-01"]
    concepts = _concepts(latest)
    active = next(c for c in concepts if not _inactive(c) and len(c["code"]) == 5)
    retired = next(c for c in concepts if _inactive(c))
    modifier = next(c for c in concepts if len(c["code"]) == 2 and not _inactive(c))
    new = _coding(NEW_IN_2020)
    url = [{"name": "url", "valueUri": ALL}]
    own_vs = {**_inline(active["code"]), "url": OWN_VS}

    def p(name: str, kind: str, value: object) -> dict:
        return {"name": name, f"value{kind}": value}

    return {
        "date": (url, [*new, p("date", "DateTime", "2019-06-01")], True),
        "date over the batch's": (
            [*url, p("date", "DateTime", "2019-06-01")],
            [*new, p("date", "DateTime", "2020-06-01")],
            True,
        ),
        "system-version": (  # in a value set that includes HCPCS without a version
            [p("url", "Uri", f"{HCPCS}?fhir_vs")],
            [*new, p("system-version", "Canonical", f"{HCPCS}|2019-01")],
            True,
        ),
        "force-system-version": (
            url,
            [
                *_coding(NEW_IN_2020, version="2020-01"),
                p("force-system-version", "Canonical", f"{HCPCS}|2019-01"),
            ],
            True,
        ),
        "check-system-version": (
            url,
            [*new, p("check-system-version", "Canonical", f"{HCPCS}|2019-01")],
            True,
        ),
        "default-valueset-version": (
            [{"name": "valueSet", "resource": _importing(ALL)}],
            [*new, p("default-valueset-version", "Canonical", f"{ALL}|2019-01")],
            True,
        ),
        "default-to-latest-version": (
            url,
            [*new, p("default-to-latest-version", "Boolean", True)],
            False,
        ),
        "displayLanguage": (
            url,
            [
                *_coding(active["code"], active["display"]),
                p("displayLanguage", "Code", "no language!"),
            ],
            True,
        ),
        "activeOnly": (url, [*_coding(retired["code"]), p("activeOnly", "Boolean", True)], True),
        "inferSystem": (
            url,
            [p("code", "Code", active["code"]), p("inferSystem", "Boolean", True)],
            True,
        ),
        "lenient-display-validation": (
            url,
            [*_coding(active["code"], "wrong"), p("lenient-display-validation", "Boolean", True)],
            True,
        ),
        "valueset-membership-only": (
            url,
            [*_coding(active["code"], "wrong"), p("valueset-membership-only", "Boolean", True)],
            True,
        ),
        "abstract": (url, [*_coding(active["code"]), p("abstract", "Boolean", False)], False),
        "diagnostics": (url, [*_coding(active["code"]), p("diagnostics", "Boolean", True)], False),
        "url": (url, [p("url", "Uri", MODIFIERS), *_coding(active["code"])], True),
        "context": (url, [p("context", "Uri", MODIFIERS), *_coding(active["code"])], False),
        "valueSet": (
            url,
            [{"name": "valueSet", "resource": _inline(modifier["code"])}, *_coding(active["code"])],
            True,
        ),
        "valueSetVersion": (url, [*new, p("valueSetVersion", "String", "2019-01")], True),
        "useSupplement": (
            [*url, {"name": "tx-resource", "resource": _supplement(active["code"])}],
            [*_coding(active["code"], "Deutsch"), p("useSupplement", "Canonical", SUPPLEMENT)],
            True,
        ),
        "useSupplement unknown": (
            url,
            [*_coding(active["code"]), p("useSupplement", "Canonical", "http://example.org/none")],
            True,
        ),
        "tx-resource": (
            [p("url", "Uri", OWN_VS)],
            [{"name": "tx-resource", "resource": own_vs}, *_coding(active["code"])],
            True,
        ),
    }


def _supplement(code: str) -> dict:
    """A supplement to HCPCS giving code a German display."""
    designation = {"language": "de", "value": "Deutsch"}
    return {
        "resourceType": "CodeSystem",
        "url": SUPPLEMENT,
        "version": "1",
        "status": "active",
        "content": "supplement",
        "supplements": HCPCS,
        "concept": [{"code": code, "designation": [designation]}],
    }


def _parameter_of(case: str) -> str:
    return case.removesuffix(" over the batch's").removesuffix(" unknown")


PARITY_CASES = [
    "date",
    "date over the batch's",
    "system-version",
    "force-system-version",
    "check-system-version",
    "default-valueset-version",
    "default-to-latest-version",
    "displayLanguage",
    "activeOnly",
    "inferSystem",
    "lenient-display-validation",
    "valueset-membership-only",
    "abstract",
    "diagnostics",
    "url",
    "context",
    "valueSet",
    "valueSetVersion",
    "useSupplement",
    "useSupplement unknown",
    "tx-resource",
]


def test_parity_cases_cover_every_validation_parameter() -> None:
    """Every parameter a validation may carry beyond what identifies its coding has a case
    below (and every case is such a parameter)."""
    coding = {name for name, scope in BATCH_ITEM_SCOPE.items() if scope is Scope.CODING}
    cases = {_parameter_of(c) for c in PARITY_CASES}
    assert set(BATCH_ITEM_SCOPE) - coding <= cases <= set(BATCH_ITEM_SCOPE)


@pytest.mark.parametrize("case", PARITY_CASES)
def test_batch_validation_answers_as_the_single_call_with_its_parameters(two_releases, case):
    """A validation carrying its own parameter, batched with one that does not (before and
    after it), answers field by field as the single ValueSet/$validate-code with its
    parameters over the batch's; and the parameter does change the answer where it should."""
    engine, resources = two_releases
    shared, own, matters = _parity_cases(resources)[case]
    name = _parameter_of(case)
    plain = [p for p in own if p["name"] != name]
    validations = [plain, own, plain]
    answers, singles = _batch_and_single(engine, shared, validations)
    for answer, single in zip(answers, singles, strict=True):
        got, want = orjson.loads(answer), orjson.loads(single)
        assert got["resourceType"] == want["resourceType"]
        got_fields = got.get("parameter", got.get("issue"))
        want_fields = want.get("parameter", want.get("issue"))
        assert len(got_fields) == len(want_fields)
        for mine, theirs in zip(got_fields, want_fields, strict=True):
            assert mine == theirs
        assert answer == single
    if matters:
        assert singles[1] != singles[0]


def test_a_code_new_in_2020_is_invalid_at_a_2019_date_in_a_batch_too(two_releases) -> None:
    engine, _ = two_releases
    own = [*_coding(NEW_IN_2020), {"name": "date", "valueDateTime": "2019-06-01"}]
    answers, singles = _batch_and_single(engine, [{"name": "url", "valueUri": ALL}], [own])
    for answer in (answers[0], singles[0]):
        result = orjson.loads(answer)["parameter"]
        assert next(p["valueBoolean"] for p in result if p["name"] == "result") is False
