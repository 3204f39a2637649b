"""Request parameters: typed access to an R5 Parameters resource, and GET query -> Parameters.

Every operation declares its input parameters once (name -> FHIR type); the GET form is
typed from that table, so POST and GET reach the engine as the same Parameters resource.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Set
from typing import Any

from codesystem.fhir_types import JSON, Resource
from terminology.outcome import TerminologyError, invalid

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


_FHIR_INTEGER = re.compile(r"[+-]?[0-9]+")  # ASCII digits only: int() takes any Unicode digit
INTEGER_RANGE = (-(2**31), 2**31 - 1)  # FHIR integer: a signed 32-bit number


def fhir_integer(name: str, text: str) -> int:
    """A FHIR integer given as text (a query parameter, a lenient JSON string): ASCII digits
    with an optional sign, within 32 bits; anything else is a 400 naming the parameter
    (`count=²`, `offset=18446744073709551616`, `count=1_0`, ` 5`)."""
    if not _FHIR_INTEGER.fullmatch(text) or len(text) > 12:
        raise invalid("PARAM_NOT_INTEGER", name, text[:100], expression=name)
    return checked_integer(name, int(text))


def checked_integer(name: str, value: int) -> int:
    """value, when it is within the FHIR integer range; else a 400 naming the parameter."""
    if not INTEGER_RANGE[0] <= value <= INTEGER_RANGE[1]:
        raise invalid("PARAM_NOT_INTEGER", name, str(value)[:100], expression=name)
    return value


def _typed(operation: str, name: str, text: str) -> JSON:
    kind = PARAMETER_TYPES.get(operation, {}).get(name, "string")
    if kind == "boolean":
        if text not in ("true", "false"):
            raise invalid("PARAM_INVALID", name, text)
        return {"name": name, "valueBoolean": text == "true"}
    if kind == "integer":
        return {"name": name, "valueInteger": fhir_integer(name, text)}
    if kind == "Coding":
        system, _, code = text.rpartition("|")
        coding = {"system": system, "code": code} if system else {"code": code}
        return {"name": name, "valueCoding": coding}
    return {"name": name, _PRIMITIVE_KEYS.get(kind, "valueString"): text}


def parameters_from_query(operation: str, items: list[tuple[str, str]]) -> Resource:
    """A GET query as an R5 Parameters resource, each value typed per the operation's table.

    Unknown names are kept as valueString (format/paging names are the HTTP layer's concern).
    A Coding given in a query is written `system|code`.
    """
    return {
        "resourceType": "Parameters",
        "parameter": [_typed(operation, name, value) for name, value in items],
    }


def value_of(parameter: JSON) -> Any:
    """The value[x] of one parameter (or its resource), None when it has neither."""
    for key, value in parameter.items():
        if key.startswith("value"):
            return value
    return parameter.get("resource")


# -- shapes: what the engine reads from a request, checked before it reads it -------------
# Parameters arrive as parsed JSON: anything can be anywhere. Every element the engine reads
# from a request (its parameters, the resources and data types they carry) is checked here
# to have the JSON type FHIR gives it, before any operation runs, so that a malformed
# request is a 4xx naming the element, and anything that still goes wrong inside the
# engine is a bug (logged, 500). Elements the engine does not read are only checked for
# depth: a request nests at most MAX_DEPTH levels (JSON objects and arrays, from the
# Parameters resource down), which keeps every walk over it (R4 conversion, indexing,
# rendering; orjson writes at most 254 levels) far from Python's recursion limit.
MAX_DEPTH = 100

_TEXT = {
    "String", "Code", "Uri", "Url", "Canonical", "Id", "Oid", "Uuid", "Markdown",
    "DateTime", "Date", "Instant", "Time", "Base64Binary", "Integer64",
}  # fmt: skip
_WHOLE = {"Integer", "PositiveInt", "UnsignedInt"}
_TEXT_KEYS = frozenset("value" + suffix for suffix in _TEXT)


class Malformed(Exception):
    """A request element of the wrong JSON type (path built on the way out), or nested too
    deep (expected is None)."""

    def __init__(self, found: object, expected: str | None) -> None:
        super().__init__(expected)
        self.found, self.expected = found, expected
        self.path: list[str] = []

    def at(self, step: str) -> Malformed:
        self.path.append(step)
        return self

    def where(self, root: str) -> str:
        text = root
        for step in reversed(self.path):
            text += step if step.startswith("[") else "." + step
        return text


def _kind_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _shown(value: object) -> str:
    """A request's value as an error message quotes it: the start of a text or a number, else
    what it is (printing an array nested 1,000 deep would recurse past Python's limit)."""
    if isinstance(value, str):
        return value[:100]
    if isinstance(value, bool | int | float) or value is None:
        return str(value)[:100]
    return _kind_of(value)


def _deep(value: object, depth: int) -> None:
    """Only the depth of an element the engine does not read."""
    if depth > MAX_DEPTH:
        raise Malformed(value, None)
    if type(value) is dict:
        for key, item in value.items():
            if type(item) is dict or type(item) is list:
                try:
                    _deep(item, depth + 1)
                except Malformed as wrong:
                    raise wrong.at(key) from None
    elif type(value) is list:
        for i, item in enumerate(value):
            if type(item) is dict or type(item) is list:
                try:
                    _deep(item, depth + 1)
                except Malformed as wrong:
                    raise wrong.at(f"[{i}]") from None


def _value_x(key: str, value: object, depth: int) -> None:
    """value[x] by its type suffix (booleans and integers sent as JSON strings are read,
    as some clients send them)."""
    suffix = key[5:]
    if suffix in _TEXT:
        if type(value) is not str:
            raise Malformed(value, "a string")
    elif suffix == "Boolean":
        if type(value) is not bool and value not in ("true", "false"):
            raise Malformed(value, "a boolean")
    elif suffix in _WHOLE:
        if type(value) is str and _FHIR_INTEGER.fullmatch(value) and len(value) <= 12:
            value = int(value)
        if type(value) is not int or not INTEGER_RANGE[0] <= value <= INTEGER_RANGE[1]:
            raise Malformed(value, "an integer of 32 bits")
    elif suffix == "Decimal":
        if not isinstance(value, int | float) or type(value) is bool or abs(value) >= 2**63:
            raise Malformed(value, "a number")
    elif suffix == "Coding":
        CODING.check(value, depth)
    elif suffix == "CodeableConcept":
        CODEABLE_CONCEPT.check(value, depth)
    elif type(value) is dict or type(value) is list:
        if type(value) is list:
            raise Malformed(value, "an object")
        _deep(value, depth)


# element name -> str / bool / a shape / [item shape] (see _Shape)
Fields = dict[str, Any]


class _Shape:
    """A JSON object with typed elements: `fields` maps an element name to str / bool /
    another _Shape / [item shape] (an array) / RESOURCE; `value[x]` elements are typed by
    their suffix; `required` elements must be there; other elements are only depth-checked.
    Every shape reads `extension` and `modifierExtension` as extensions."""

    def __init__(
        self, fields: Fields, required: tuple[str, ...] = (), values: bool = False
    ) -> None:
        self.fields = fields
        self.required = required
        self.values = values  # whether value[x] elements are read

    def check(self, value: object, depth: int) -> None:
        if type(value) is not dict:
            raise Malformed(value, "an object")
        if depth > MAX_DEPTH:
            raise Malformed(value, None)
        fields = self.fields
        for key, item in value.items():
            spec = fields.get(key)
            try:
                if spec is str:
                    if type(item) is not str:
                        raise Malformed(item, "a string")
                elif spec is None:
                    if self.values and key.startswith("value"):
                        _value_x(key, item, depth + 1)
                    elif type(item) is dict or type(item) is list:
                        _deep(item, depth + 1)
                elif spec is bool:
                    if type(item) is not bool and item not in ("true", "false"):
                        raise Malformed(item, "a boolean")
                elif type(spec) is list:
                    if type(item) is not list:
                        raise Malformed(item, "an array")
                    inner = spec[0]
                    for i, element in enumerate(item):
                        try:
                            if inner is str:
                                if type(element) is not str:
                                    raise Malformed(element, "a string")
                            else:
                                inner.check(element, depth + 2)
                        except Malformed as wrong:
                            raise wrong.at(f"[{i}]") from None
                else:
                    spec.check(item, depth + 1)
            except Malformed as wrong:
                raise wrong.at(key) from None
        for key in self.required:
            if key not in value:
                raise Malformed(None, f"{key} (required)").at(key)


class _Later:
    """A shape named before it is defined (recursive shapes)."""

    def __init__(self) -> None:
        self.shape: _Shape | _Resource | None = None

    def check(self, value: object, depth: int) -> None:
        self.shape.check(value, depth)  # type: ignore[union-attr]


class _Resource:
    """A resource: a JSON object with a resourceType, checked as its type's shape."""

    def __init__(self, r4: bool) -> None:
        self.r4 = r4

    def check(self, value: object, depth: int) -> None:
        if type(value) is not dict:
            raise Malformed(value, "an object")
        kind = value.get("resourceType")
        if type(kind) is not str:
            raise Malformed(kind, "a string").at("resourceType")
        shapes = R4_RESOURCES if self.r4 else RESOURCES
        shape = shapes.get(kind)
        if shape is None:
            _deep(value, depth)
        else:
            shape.check(value, depth)


_EXTENSION = _Later()
_EXTENSION.shape = _Shape({"url": str, "extension": [_EXTENSION]}, values=True)
_EXT = {"extension": [_EXTENSION], "modifierExtension": [_EXTENSION]}


def _shape(fields: Fields, required: tuple[str, ...] = (), values: bool = False) -> _Shape:
    return _Shape({**_EXT, **fields}, required, values)


CODING = _shape({"system": str, "version": str, "code": str, "display": str})
CODEABLE_CONCEPT = _shape({"coding": [CODING], "text": str})
_DESIGNATION = _shape({"language": str, "use": CODING, "additionalUse": [CODING], "value": str})
_CONCEPT = _Later()
_CONCEPT.shape = _shape(
    {
        "code": str,
        "display": str,
        "definition": str,
        "designation": [_DESIGNATION],
        "property": [_shape({"code": str}, values=True)],
        "concept": [_CONCEPT],
    },
    required=("code",),
)
_PERIOD = _shape({"start": str, "end": str})
RESOURCE = _Resource(r4=False)
_R4_RESOURCE = _Resource(r4=True)


def _canonical_resource(fields: Fields, contained: _Resource) -> _Shape:
    common = {
        "id": str,
        "url": str,
        "version": str,
        "status": str,
        "experimental": bool,
        "language": str,
        "effectivePeriod": _PERIOD,
        "contained": [contained],
    }
    return _shape({**common, **fields})


def _value_set(contained: _Resource) -> _Shape:
    filter_op = _shape({})  # R4's `_op` (R5 operators as an extension)
    include = _shape(
        {
            "system": str,
            "version": str,
            "valueSet": [str],
            "concept": [
                _shape({"code": str, "display": str, "designation": [_DESIGNATION]}, ("code",))
            ],
            "filter": [_shape({"property": str, "op": str, "value": str, "_op": filter_op})],
        }
    )
    compose = _shape({"include": [include], "exclude": [include], "inactive": bool})
    contains = _Later()
    contains.shape = _shape(
        {
            "system": str,
            "version": str,
            "code": str,
            "display": str,
            "designation": [_DESIGNATION],
            "contains": [contains],
        }
    )
    expansion = _shape({"contains": [contains]})
    return _canonical_resource({"compose": compose, "expansion": expansion}, contained)


def _code_system(contained: _Resource) -> _Shape:
    declared = _shape({"code": str, "uri": str, "type": str}, required=("code",))
    return _canonical_resource(
        {
            "content": str,
            "caseSensitive": bool,
            "supplements": str,
            "property": [declared],
            "concept": [_CONCEPT],
        },
        contained,
    )


def _concept_map(contained: _Resource, r4: bool) -> _Shape:
    target_fields: Fields = {"code": str, "display": str, "relationship": str, "comment": str}
    group_fields: Fields = {"source": str, "target": str}
    unmapped_fields: Fields = {
        "mode": str, "code": str, "display": str, "otherMap": str, "relationship": str,
    }  # fmt: skip
    if r4:  # what the R4 -> R5 conversion reads (terminology/versions.py)
        depends = _shape({"property": str, "system": str, "value": str, "display": str})
        target_fields |= {"equivalence": str, "dependsOn": [depends], "product": [depends]}
        group_fields |= {"sourceVersion": str, "targetVersion": str}
        unmapped_fields |= {"url": str}
    target = _shape(target_fields)
    element = _shape({"code": str, "display": str, "noMap": bool, "target": [target]})
    group = _shape({**group_fields, "element": [element], "unmapped": _shape(unmapped_fields)})
    return _canonical_resource({"group": [group]}, contained)


def _parameters(resource: _Resource) -> _Shape:
    parameter = _Later()
    parameter.shape = _shape(
        {"name": str, "resource": resource, "part": [parameter]}, ("name",), values=True
    )
    return _shape({"parameter": [parameter], "part": [parameter]})


# A Parameters resource inside a parameter (a batch's `validation`) is checked when it is
# read (batch.py, then Params.preceded_by), with the operation's own wording.
RESOURCES: dict[str, _Shape] = {
    "CodeSystem": _code_system(RESOURCE),
    "ValueSet": _value_set(RESOURCE),
    "ConceptMap": _concept_map(RESOURCE, r4=False),
}
R4_RESOURCES: dict[str, _Shape] = {
    "CodeSystem": _code_system(_R4_RESOURCE),
    "ValueSet": _value_set(_R4_RESOURCE),
    "ConceptMap": _concept_map(_R4_RESOURCE, r4=True),
}
_PARTS = _parameters(RESOURCE)  # a parameter's parts: named parameters


def _malformed(wrong: Malformed, name: str, root: str, status: int) -> TerminologyError:
    where = wrong.where(root)
    if len(where) > 200:
        where = where[:100] + " ... " + where[-95:]
    if wrong.expected is None:
        return invalid("REQUEST_TOO_DEEP", MAX_DEPTH, f"parameter '{name}': {where}")
    found = "missing" if wrong.expected.endswith("(required)") else _kind_of(wrong.found)
    expected = "a value" if wrong.expected.endswith("(required)") else wrong.expected
    return TerminologyError.of(
        status,
        "structure" if status == 422 else "invalid",
        None,
        "INVALID_RESOURCE",
        root,
        name,
        where,
        found,
        expected,
        expression=name,
    )


def _checked(parameter: object, r4: bool = False) -> JSON:
    """A parameter whose value has the JSON type its value[x] name promises, and whose
    resource has the shape of its type (see _Shape)."""
    if type(parameter) is not dict:
        raise invalid("PARAMETERS_MALFORMED", "a parameter", _kind_of(parameter), "an object")
    if type(parameter.get("name")) is not str:
        found = _kind_of(parameter["name"]) if "name" in parameter else "missing"
        raise invalid("PARAMETERS_MALFORMED", "a parameter's name", found, "a string")
    for key, value in parameter.items():
        if key == "name" or (type(value) is str and key in _TEXT_KEYS):  # most parameters
            continue
        if key == "resource":
            kind = value.get("resourceType") if type(value) is dict else None
            root = kind if type(kind) is str else "resource"
            try:
                (_R4_RESOURCE if r4 else RESOURCE).check(value, 4)
            except Malformed as wrong:
                raise _malformed(wrong, parameter["name"], root, 422) from None
        elif key.startswith("value"):
            try:
                _value_x(key, value, 4)
            except Malformed as wrong:
                name = parameter["name"]
                if wrong.expected is None or type(value) is dict:  # too deep, or a datatype
                    raise _malformed(wrong, name, key[5:], 400) from None
                shown = _shown(value)
                if key[5:] in _WHOLE:
                    raise invalid("PARAM_NOT_INTEGER", name, shown, expression=name) from None
                raise invalid("PARAM_INVALID", name, shown) from None
        elif type(value) is dict or type(value) is list:  # part, extension, ...
            try:
                if key == "part":
                    _PARTS.check({"part": value}, 3)
                else:
                    _deep(value, 4)
            except Malformed as wrong:
                raise _malformed(wrong, parameter["name"], "part", 400) from None
    return parameter


def check_parameters(parameters: object, r4: bool = False) -> list[JSON]:
    """The parameter list of a Parameters resource, every parameter checked (_checked):
    a body that is not a Parameters resource, or whose `parameter` is not an array of
    named parameters, is a 400; a resource of the wrong shape in it a 422. `r4`: the
    resources are checked as R4 gives them (before terminology.versions converts them)."""
    if type(parameters) is not dict or parameters.get("resourceType") != "Parameters":
        found = parameters.get("resourceType") if type(parameters) is dict else None
        shown = found if isinstance(found, str) else _kind_of(found if found else parameters)
        raise invalid("NOT_PARAMETERS", shown or "an untyped object")
    listed = parameters.get("parameter", [])
    if type(listed) is not list:
        raise invalid("PARAMETERS_MALFORMED", "parameter", _kind_of(listed), "an array")
    return [_checked(p, r4) for p in listed]


def with_query(parameters: object, operation: str, query: list[tuple[str, str]]) -> Resource:
    """A POSTed Parameters resource with the request's query parameters added (typed per
    the operation, as parameters_from_query): a body whose `parameter` is not an array is a
    400, whatever the query holds."""
    check_parameters(parameters)
    assert isinstance(parameters, dict)
    if query:
        parameters.setdefault("parameter", []).extend(
            parameters_from_query(operation, query)["parameter"]
        )
    return parameters


class Params:
    """Read access to a Parameters resource by parameter name."""

    def __init__(self, parameters: Resource) -> None:
        self.items: list[JSON] = check_parameters(parameters)
        # the first parameter of each name: get() is asked a dozen times per operation
        self._first: dict[str, JSON] = {}
        for parameter in self.items:
            self._first.setdefault(parameter["name"], parameter)
        self.own_names: Set[str] = frozenset()  # the names the head gave (see preceded_by)

    def preceded_by(self, head: list[JSON]) -> Params:
        """`head`'s parameters, then these (a batch validation's own parameters over the
        batch's shared ones): the same Params as one built from both lists, but only head is
        checked, since these were checked when this was built. A batch of a thousand
        validations would otherwise re-check the shared ones a thousand times. `own_names`
        says which names head gave (request.Request.build reads what they change)."""
        joined = Params.__new__(Params)
        own = [_checked(p) for p in head]
        joined.items = own + self.items
        own_first: dict[str, JSON] = {}
        for parameter in own:
            own_first.setdefault(parameter["name"], parameter)
        joined._first = {**self._first, **own_first}  # the head's come first
        joined.own_names = own_first.keys()
        return joined

    def get(self, name: str, default: Any = None) -> Any:
        parameter = self._first.get(name)
        if parameter is None:
            return default
        value = value_of(parameter)
        return default if value is None else value

    def all(self, name: str) -> list[Any]:
        if name not in self._first:
            return []
        values = (value_of(p) for p in self.items if p["name"] == name)
        return [value for value in values if value is not None]

    def has(self, name: str) -> bool:
        return name in self._first

    def has_any(self, names: Set[str]) -> bool:
        """Whether any of names is given (one set operation: most requests give none)."""
        return not self._first.keys().isdisjoint(names)

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
        if type(value) is int:
            return checked_integer(name, value)
        return fhir_integer(name, str(value))

    def entries(self, name: str) -> Iterable[JSON]:
        return (p for p in self.items if p["name"] == name)
