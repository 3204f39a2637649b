"""ValueSet/$batch-validate-code: several $validate-code requests against one value set.

Each `validation` parameter is a Parameters resource; the outer parameters (url, valueSet,
tx-resource, ...) apply to all of them unless a validation repeats them. Each answer (or its
error OperationOutcome) is returned as a `validation` parameter, in order.
"""

from __future__ import annotations

import copy
from weakref import WeakKeyDictionary

import orjson

from terminology.operations import Context
from terminology.operations.validate import run_value_set
from terminology.outcome import TerminologyError
from terminology.params import Params

# Answers per stored registry, per batch context (the outer parameters, languages, instance),
# per validation (its parameters as JSON): the engine is a pure function of the stored
# resources and the request, and a code system has a bounded number of codes, so a server
# answers each (context, coding) once. Only plain valid answers (result true, no issues) are
# kept, at most MEMO_SIZE per context and MEMO_CONTEXTS contexts per registry; requests with
# tx-resources are never memoised (their registry is per request).
MEMO_SIZE = 20_000
MEMO_CONTEXTS = 16
_MEMO: WeakKeyDictionary = WeakKeyDictionary()


def _memo(context: Context, shared: list[dict], instance_id: str | None) -> dict | None:
    if not context.stored_only:
        return None
    try:
        limit = getattr(context, "cost_limit", None)
        key = (orjson.dumps(shared), context.languages, instance_id, limit)
    except (TypeError, orjson.JSONEncodeError):
        return None
    per_registry = _MEMO.setdefault(context.registry, {})
    found = per_registry.get(key)
    if found is None:
        if len(per_registry) >= MEMO_CONTEXTS:
            per_registry.clear()
        found = per_registry[key] = {}
    return found


def _plain(answer: dict) -> bool:
    """A valid answer without issues (what most validations of real codes give)."""
    params = answer.get("parameter", [])
    return all(p.get("name") != "issues" for p in params) and any(
        p.get("name") == "result" and p.get("valueBoolean") is True for p in params
    )


def run(context: Context, instance_id: str | None = None) -> dict:
    shared = [p for p in context.params.items if p["name"] not in ("validation", "tx-resource")]
    memo = _memo(context, shared, instance_id)
    answers = []
    for request in context.params.all("validation"):
        inner = request.get("parameter", []) if isinstance(request, dict) else []
        key = None
        if memo is not None:
            try:
                key = orjson.dumps(inner)
            except (TypeError, orjson.JSONEncodeError):
                key = None
            answer = memo.get(key) if key is not None else None
            if answer is not None:
                answers.append({"name": "validation", "resource": answer})
                continue
        params = Params({"resourceType": "Parameters", "parameter": inner + shared})
        try:
            answer = run_value_set(_for(context, params), instance_id)
        except TerminologyError as error:
            answer = error.outcome
        else:
            if key is not None and len(memo) < MEMO_SIZE and _plain(answer):
                memo[key] = answer  # shared by later answers: never mutated
        answers.append({"name": "validation", "resource": answer})
    return {"resourceType": "Parameters", "parameter": answers}


def _for(context: Context, params: Params) -> Context:
    """The context of one validation (dataclasses.replace, without its cost)."""
    inner = copy.copy(context)
    inner.params = params
    return inner
