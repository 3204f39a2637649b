"""ValueSet/$batch-validate-code: several $validate-code requests against one value set.

Each `validation` parameter is a Parameters resource; the outer parameters (url, valueSet,
tx-resource, ...) apply to all of them unless a validation repeats them. Each answer (or its
error OperationOutcome) is returned as a `validation` parameter, in order, and is what a
single $validate-code with the validation's parameters over the outer ones answers.

The value set is resolved, its supplements checked and its compose evaluated once per batch
(validate.prepare_value_set), and each validation's codings are checked against that; a
validation that names its own value set is run on its own. On top of that, plain valid
answers are memoised across requests (the memo below).
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

import orjson

from codesystem.fhir_types import JSON, Resource
from terminology.budget import TooCostly
from terminology.caches import Memo
from terminology.operations import Context
from terminology.operations.validate import (
    PreparedValueSet,
    prepare_value_set,
    run_value_set,
    validate_prepared,
)
from terminology.outcome import TerminologyError, invalid
from terminology.params import Params
from terminology.registry import Registry
from terminology.request import SAME_VALUE_SET, Request, RunState

# Answers per stored registry, per batch context (the outer parameters, languages, instance),
# per validation (its parameters as JSON): the engine is a pure function of the stored
# resources and the request, so a server answers each (context, coding) once. Only plain
# valid answers (result true, no issues) are kept, in memos of the kind "batch-answers"
# (terminology/caches.py: bounded by bytes, with every other batch context's), for at most
# MEMO_CONTEXTS contexts per registry, whose parameters are at most CONTEXT_KEY_MAX bytes of
# JSON (a batch sending a whole value set inline is not memoised); requests with
# tx-resources never are (their registry is per request). A realistic working set (one HCPCS
# release's codes in one display variant, about 7,100 answers of 1.5 KB) fits the default
# budget. Benchmarks switch it off (use_memo) to measure the uncached path.
MEMO_CONTEXTS = 4
CONTEXT_KEY_MAX = 64 * 1024
ANSWER_BYTES_PER_JSON_BYTE = 6  # a small answer's dicts and strings, per byte of its JSON
_MEMO: WeakKeyDictionary[Registry, dict[tuple[object, ...], Memo]] = WeakKeyDictionary()
_memo_on = True


def use_memo(on: bool) -> None:
    """Switch the answer memo on or off (off also forgets what it holds): bench.inprocess
    reports batch throughput both ways, the uncached figure first."""
    global _memo_on
    _memo_on = on
    _MEMO.clear()


def _memo(context: Context, shared: list[JSON], instance_id: str | None) -> Memo | None:
    if not _memo_on or not context.stored_only:
        return None
    try:
        limit = getattr(context, "cost_limit", None)
        key = (orjson.dumps(shared), context.languages, instance_id, limit)
    except (TypeError, orjson.JSONEncodeError):
        return None
    if len(key[0]) > CONTEXT_KEY_MAX:
        return None
    per_registry = _MEMO.setdefault(context.registry, {})
    found = per_registry.get(key)
    if found is None:
        if len(per_registry) >= MEMO_CONTEXTS:
            per_registry.clear()
        found = per_registry[key] = Memo("batch-answers")
    return found


def _plain(answer: Resource) -> bool:
    """A valid answer without issues (what most validations of real codes give)."""
    params = answer.get("parameter", [])
    return all(p.get("name") != "issues" for p in params) and any(
        p.get("name") == "result" and p.get("valueBoolean") is True for p in params
    )


VALIDATION_COST = 20  # budget units a validation spends besides its own work


def run(context: Context, instance_id: str | None = None) -> Resource:
    requests = context.params.all("validation")
    budget = context.budget
    if len(requests) > budget.batch:
        raise TerminologyError.of(
            413, "too-costly", None, "BATCH_TOO_LARGE", f"{len(requests):,}", f"{budget.batch:,}"
        )
    shared = [p for p in context.params.items if p["name"] not in ("validation", "tx-resource")]
    memo = _memo(context, shared, instance_id)
    validations = _Validations(
        context, Params({"resourceType": "Parameters", "parameter": shared}), instance_id
    )
    answers = []
    for request in requests:
        budget.spend(VALIDATION_COST)
        inner = _validation_parameters(request)
        key = _memo_key(inner) if memo is not None else None
        answer = memo.get(key) if memo is not None and key is not None else None
        if answer is None:
            answer = validations.answer(inner)
            if key is not None and _plain(answer):
                # shared by later answers: never mutated; the key copied to its own size
                key = bytes(memoryview(key))
                size = len(key) + ANSWER_BYTES_PER_JSON_BYTE * len(orjson.dumps(answer))
                memo.put(key, answer, size)  # type: ignore[union-attr]  # a key only with a memo
        answers.append({"name": "validation", "resource": answer})
    return {"resourceType": "Parameters", "parameter": answers}


def _validation_parameters(request: object) -> list[JSON]:
    """A validation's own parameters; a validation that is not a Parameters resource with a
    list of parameters makes the whole request a bad one."""
    if not isinstance(request, dict) or request.get("resourceType") != "Parameters":
        raise invalid("PARAM_INVALID", "validation", _kind(request))
    inner = request.get("parameter", [])
    if not isinstance(inner, list):
        raise invalid("PARAM_INVALID", "validation.parameter", type(inner).__name__)
    return inner


def _kind(request: object) -> str:
    if isinstance(request, dict):
        return str(request.get("resourceType", "a resource without resourceType"))
    return type(request).__name__


def _memo_key(inner: list[JSON]) -> bytes | None:
    """A validation's parameters as a key; None (not memoised) when it brings resources of
    its own (answered over a registry of its own)."""
    if any(isinstance(p, dict) and p.get("name") == "tx-resource" for p in inner):
        return None
    try:
        return orjson.dumps(inner)
    except (TypeError, orjson.JSONEncodeError):
        return None


class _Validations:
    """Answers one batch's validations: each is the single $validate-code with its own
    parameters before the batch's (Context.for_validation; request.BATCH_ITEM_SCOPE says
    what they change), its registry the batch's with its own tx-resources. The value set
    the batch names is prepared once (on first use) for every validation that changes
    neither the value set nor the versions in play."""

    def __init__(self, context: Context, shared: Params, instance_id: str | None) -> None:
        self.instance_id = instance_id
        registry = context.registry
        edge = context.request.edge
        # the batch's own request: the shared parameters (its Facts shared through run)
        self.context = Context(
            registry, Request.build(registry, shared, edge), RunState(edge, context.budget, {})
        )
        self.prepared: PreparedValueSet | None = None
        self.tried = False

    def answer(self, inner: list[JSON]) -> Resource:
        """The validation's answer, or its error's OperationOutcome."""
        try:
            own = self.context.for_validation(inner, self.context.budget)
            same = own.params.own_names <= SAME_VALUE_SET
            prepared = self._prepared() if same else None
            if prepared is not None:
                return validate_prepared(own, prepared)
            return run_value_set(own, self.instance_id)
        except TooCostly:
            raise  # the whole batch stops
        except TerminologyError as error:
            return error.outcome

    def _prepared(self) -> PreparedValueSet | None:
        """The batch's value set, prepared once. None when preparing fails: each validation
        then runs alone and reports the failure exactly as a single $validate-code does."""
        if not self.tried:
            self.tried = True
            try:
                self.prepared = prepare_value_set(self.context, self.instance_id)
            except TooCostly:
                raise  # the whole batch stops
            except TerminologyError:  # reported per validation by the plain path
                self.prepared = None
        return self.prepared
