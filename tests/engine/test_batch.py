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
