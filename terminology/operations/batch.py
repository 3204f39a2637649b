"""ValueSet/$batch-validate-code: several $validate-code requests against one value set.

Each `validation` parameter is a Parameters resource; the outer parameters (url, valueSet,
tx-resource, ...) apply to all of them unless a validation repeats them. Each answer (or its
error OperationOutcome) is returned as a `validation` parameter, in order.
"""

from __future__ import annotations

from dataclasses import replace

from terminology.operations import Context
from terminology.operations.validate import run_value_set
from terminology.outcome import TerminologyError
from terminology.params import Params


def run(context: Context, instance_id: str | None = None) -> dict:
    shared = [p for p in context.params.items if p["name"] not in ("validation", "tx-resource")]
    answers = []
    for request in context.params.all("validation"):
        inner = request.get("parameter", []) if isinstance(request, dict) else []
        params = Params({"resourceType": "Parameters", "parameter": inner + shared})
        try:
            answer = run_value_set(replace(context, params=params), instance_id)
        except TerminologyError as error:
            answer = error.outcome
        answers.append({"name": "validation", "resource": answer})
    return {"resourceType": "Parameters", "parameter": answers}
