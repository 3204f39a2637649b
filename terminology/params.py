"""Request parameters: typed access to an R5 Parameters resource, and GET query -> Parameters.

Every operation declares its input parameters once (name -> FHIR type); the GET form is
typed from that table, so POST and GET reach the engine as the same Parameters resource.
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from terminology.outcome import invalid

_VALIDATE = {
    "url": "uri",
    "valueSet": "Resource",
    "valueSetVersion": "string",
    "code": "code",
    "system": "uri",
    "systemVersion": "string",
    "version": "string",
    "display": "string",
    "coding": "Coding",
    "codeableConcept": "CodeableConcept",
    "date": "dateTime",
    "abstract": "boolean",
    "activeOnly": "boolean",
    "inferSystem": "boolean",
    "lenient-display-validation": "boolean",
    "displayLanguage": "code",
    "default-to-latest-version": "boolean",
    "valueset-membership-only": "boolean",
    "diagnostics": "boolean",
}
_EXPAND = {
    "url": "uri",
    "valueSet": "Resource",
    "valueSetVersion": "string",
    "context": "uri",
    "filter": "string",
    "date": "dateTime",
    "offset": "integer",
    "count": "integer",
    "includeDesignations": "boolean",
    "designation": "string",
    "includeDefinition": "boolean",
    "activeOnly": "boolean",
    "excludeNested": "boolean",
    "excludeNotForUI": "boolean",
    "excludePostCoordinated": "boolean",
    "displayLanguage": "code",
    "property": "string",
    "exclude-system": "canonical",
    "system-version": "canonical",
    "check-system-version": "canonical",
    "force-system-version": "canonical",
    "default-to-latest-version": "boolean",
}
_LOOKUP = {
    "code": "code",
    "system": "uri",
    "version": "string",
    "coding": "Coding",
    "date": "dateTime",
    "displayLanguage": "code",
    "property": "code",
}
_SUBSUMES = {
    "codeA": "code",
    "codeB": "code",
    "system": "uri",
    "version": "string",
    "codingA": "Coding",
    "codingB": "Coding",
}
_TRANSLATE = {
    "url": "uri",
    "conceptMap": "Resource",
    "conceptMapVersion": "string",
    "sourceCode": "code",
    "system": "uri",
    "version": "string",
    "sourceScope": "uri",
    "sourceCoding": "Coding",
    "sourceCodeableConcept": "CodeableConcept",
    "targetCode": "code",
    "targetCoding": "Coding",
    "targetCodeableConcept": "CodeableConcept",
    "targetScope": "uri",
    "targetSystem": "uri",
    "dependency": "string",
    "reverse": "boolean",
    "sourceSystem": "uri",
    "date": "dateTime",
}
_CHANGES = {"system": "uri", "url": "uri", "fromVersion": "string", "toVersion": "string"}
_CLOSURE = {"name": "string", "concept": "Coding", "version": "string"}
PARAMETER_TYPES: dict[str, dict[str, str]] = {
    "lookup": _LOOKUP,
    "validate-code": _VALIDATE,
    "batch-validate-code": _VALIDATE,
    "expand": _EXPAND,
    "subsumes": _SUBSUMES,
    "translate": _TRANSLATE,
    "changes": _CHANGES,
    "closure": _CLOSURE,
}
_PRIMITIVE_KEYS = {
    "uri": "valueUri",
    "canonical": "valueCanonical",
    "code": "valueCode",
    "string": "valueString",
    "dateTime": "valueDateTime",
    "boolean": "valueBoolean",
    "integer": "valueInteger",
}


def _typed(operation: str, name: str, text: str) -> dict:
    kind = PARAMETER_TYPES.get(operation, {}).get(name, "string")
    if kind == "boolean":
        if text not in ("true", "false"):
            raise invalid("PARAM_INVALID", name, text)
        return {"name": name, "valueBoolean": text == "true"}
    if kind == "integer":
        try:
            return {"name": name, "valueInteger": int(text)}
        except ValueError:
            raise invalid("PARAM_INVALID", name, text) from None
    if kind == "Coding":
        system, _, code = text.rpartition("|")
        coding = {"system": system, "code": code} if system else {"code": code}
        return {"name": name, "valueCoding": coding}
    return {"name": name, _PRIMITIVE_KEYS.get(kind, "valueString"): text}


def parameters_from_query(operation: str, items: list[tuple[str, str]]) -> dict:
    """A GET query as an R5 Parameters resource, each value typed per the operation's table.

    Unknown names are kept as valueString (format/paging names are the HTTP layer's concern).
    A Coding given in a query is written `system|code`.
    """
    return {
        "resourceType": "Parameters",
        "parameter": [_typed(operation, name, value) for name, value in items],
    }


def value_of(parameter: dict):
    """The value[x] of one parameter (or its resource), None when it has neither."""
    for key, value in parameter.items():
        if key.startswith("value"):
            return value
    return parameter.get("resource")


_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "valueBoolean": bool,
    "valueInteger": int,
    "valueDecimal": (int, float),
    "valueCoding": dict,
    "valueCodeableConcept": dict,
    "resource": dict,
}


def _lenient(key: str, text: str) -> bool:
    """Booleans and integers sent as JSON strings (some clients do) are read, not refused."""
    if key == "valueBoolean":
        return text in ("true", "false")
    return key == "valueInteger" and text.lstrip("-").isdigit()


def _checked(parameter: object) -> dict:
    """A parameter whose value has the JSON type its value[x] name promises."""
    if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
        raise invalid("PARAM_INVALID", "parameter", str(parameter)[:100])
    for key, value in parameter.items():
        if key == "name" or not (key.startswith("value") or key == "resource"):
            continue
        wrong_bool = key == "valueInteger" and isinstance(value, bool)
        if isinstance(value, _JSON_TYPES.get(key, str)) and not wrong_bool:
            continue
        if not (isinstance(value, str) and _lenient(key, value)):
            raise invalid("PARAM_INVALID", parameter["name"], str(value)[:100])
    return parameter


class Params:
    """Read access to a Parameters resource by parameter name."""

    def __init__(self, parameters: dict) -> None:
        if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
            found = parameters.get("resourceType") if isinstance(parameters, dict) else "JSON"
            raise invalid("NOT_PARAMETERS", found or "an untyped object")
        listed = parameters.get("parameter", [])
        if not isinstance(listed, list):
            raise invalid("PARAM_INVALID", "parameter", str(listed)[:100])
        self.items: list[dict] = [_checked(p) for p in listed]
        # the first parameter of each name: get() is asked a dozen times per operation
        self._first: dict[str, dict] = {}
        for parameter in self.items:
            self._first.setdefault(parameter["name"], parameter)
        self.base: Params | None = None  # see preceded_by
        self.own_names: Set[str] = frozenset()  # the names the head gave (see preceded_by)
        self._memo: dict = {}  # see shared_memo

    def preceded_by(self, head: list) -> Params:
        """`head`'s parameters, then these (a batch validation's own parameters over the
        batch's shared ones): the same Params as one built from both lists, but only head is
        checked, since these were checked when this was built. A batch of a thousand
        validations would otherwise re-check the shared ones a thousand times."""
        joined = Params.__new__(Params)
        own = [_checked(p) for p in head]
        joined.items = own + self.items
        own_first: dict[str, dict] = {}
        for parameter in own:
            own_first.setdefault(parameter["name"], parameter)
        joined._first = {**self._first, **own_first}  # the head's come first
        joined.own_names = own_first.keys()
        joined.base = self
        joined._memo = {}
        return joined

    def shared_memo(self, names: frozenset[str]) -> dict | None:
        """A place to keep what is worked out from the parameters `names` (and nothing else
        in these parameters) that the Params this one was joined from shares (see
        preceded_by), so that a batch's validations share what the batch's parameters say
        (e.g. the languages asked for) instead of each working it out again. None when there
        is nothing to share: these were not joined, or the head gives one of `names`.
        Callers key and bound what they keep."""
        if self.base is None or not self.own_names.isdisjoint(names):
            return None
        source = self.base
        while source.base is not None and source.own_names.isdisjoint(names):
            source = source.base
        return source._memo

    def get(self, name: str, default=None):
        parameter = self._first.get(name)
        if parameter is None:
            return default
        value = value_of(parameter)
        return default if value is None else value

    def all(self, name: str) -> list:
        if name not in self._first:
            return []
        values = (value_of(p) for p in self.items if p["name"] == name)
        return [value for value in values if value is not None]

    def has(self, name: str) -> bool:
        return name in self._first

    def flag(self, name: str, default: bool = False) -> bool:
        if name not in self._first:  # most flags are not given
            return default
        value = self.get(name, default)
        if isinstance(value, str):
            return value.lower() == "true"
        return bool(value)

    def integer(self, name: str) -> int | None:
        value = self.get(name)
        if value is None:
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise invalid("PARAM_INVALID", name, value) from None

    def entries(self, name: str) -> Iterable[dict]:
        return (p for p in self.items if p["name"] == name)
