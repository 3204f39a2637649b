"""The attack requests of issue 12's table, built as a hostile client would (small, cheap to
send, each one legal JSON or HTTP)."""

from __future__ import annotations

from urllib.parse import quote

import orjson

from .harness import HCPCS

ALL_CODES = HCPCS + "?fhir_vs"
ATTACKER = "http://attack.example"
JSON_TYPE = {"content-type": "application/fhir+json"}


def parameters(*items: dict) -> dict:
    return {"resourceType": "Parameters", "parameter": list(items)}


def body(resource: object) -> bytes:
    return orjson.dumps(resource)


# --- distinct versions: every request a new cache key ----------------------------------------


def versioned_query(operation: str, parameter: str, i: int) -> str:
    """$expand or $validate-code of every HCPCS code, with one more version parameter naming
    a code system nobody asked for, distinct per request."""
    canonical = quote(f"{ATTACKER}/CodeSystem/cs-{i}|{i}", safe="")
    if operation == "expand":
        return (
            f"/r4/ValueSet/$expand?url={quote(ALL_CODES, safe='')}&count=1&{parameter}={canonical}"
        )
    if parameter == "default-valueset-version":
        canonical = quote(f"{ATTACKER}/ValueSet/vs-{i}|{i}", safe="")
    url, system = quote(ALL_CODES, safe=""), quote(HCPCS, safe="")
    return (
        f"/r4/ValueSet/$validate-code?url={url}&system={system}&code=J0120&{parameter}={canonical}"
    )


def long_system_lookup(i: int, size: int = 60_000) -> str:
    """A $lookup whose `system` is a distinct ~60 KB percent-encoded URI."""
    head = f"{ATTACKER}/CodeSystem/{i}/"
    system = quote(head, safe="") + "x%2F" * ((size - len(head)) // 4)
    return f"/r4/CodeSystem/$lookup?system={system}&code=J0120"


# --- value sets that cost far more than they weigh --------------------------------------------


def value_set(url: str, *includes: dict) -> dict:
    return {
        "resourceType": "ValueSet",
        "url": url,
        "version": "1",
        "status": "active",
        "compose": {"include": list(includes)},
    }


def regex_expand(pattern: str) -> dict:
    """A ~300-byte tx-resource ValueSet whose one include filters displays by `pattern`."""
    url = f"{ATTACKER}/ValueSet/regex"
    vs = value_set(
        url, {"system": HCPCS, "filter": [{"property": "display", "op": "regex", "value": pattern}]}
    )
    return parameters(
        {"name": "url", "valueUri": url},
        {"name": "count", "valueInteger": 10},
        {"name": "tx-resource", "resource": vs},
    )


def import_levels(levels: int, twice: bool = True) -> dict:
    """tx-resource ValueSets 0..levels-1, each importing the next one (twice: two includes of
    it, so 2^levels evaluations of the last); the last includes every HCPCS code."""
    urls = [f"{ATTACKER}/ValueSet/level-{k}" for k in range(levels + 1)]
    sets = []
    for k in range(levels):
        imports = [{"valueSet": [urls[k + 1]]}] * (2 if twice else 1)
        sets.append(value_set(urls[k], *imports))
    sets.append(value_set(urls[levels], {"system": HCPCS}))
    return parameters(
        {"name": "url", "valueUri": urls[0]},
        {"name": "count", "valueInteger": 10},
        *({"name": "tx-resource", "resource": vs} for vs in sets),
    )


FILTERS = (
    ("display", "regex", ".*{w}.*"),
    ("code", "regex", "{l}[0-9]{{3}}{d}"),
    ("betos", "=", "{b}"),
    ("display", "regex", "(?i).*{w} .*"),
)
WORDS = ("injection", "supply", "each", "per", "mg", "ml", "dose", "kit", "drug", "test")
LETTERS = "ABCEGHJKLQ"
BETOS = ("O1E", "D1A", "D1C", "P9A", "T1H", "M5D", "I1A", "Y2", "Z2", "O1D")


def many_filtered_includes(count: int = 200) -> dict:
    """An inline ValueSet (about 29 KB) of `count` includes of HCPCS, each with its own
    property filter."""
    includes = []
    for i in range(count):
        prop, op, template = FILTERS[i % len(FILTERS)]
        value = template.format(
            w=WORDS[i % len(WORDS)], l=LETTERS[i % len(LETTERS)], d=i % 10, b=BETOS[i % len(BETOS)]
        )
        includes.append(
            {
                "system": HCPCS,
                "version": "2020-01",
                "filter": [{"property": prop, "op": op, "value": value}],
            }
        )
    vs = value_set(f"{ATTACKER}/ValueSet/many-includes", *includes)
    return parameters({"name": "valueSet", "resource": vs}, {"name": "count", "valueInteger": 10})


def big_batch(codes: list[str], count: int) -> bytes:
    """A $batch-validate-code of `count` validations (about 260 bytes each), every one a real
    code with a wrong display (no two alike: nothing is answered from a memo)."""
    validations = [
        {
            "name": "validation",
            "resource": parameters(
                {
                    "name": "coding",
                    "valueCoding": {
                        "system": HCPCS,
                        "code": codes[i % len(codes)],
                        "display": f"Not the display of this code, attempt number {i}",
                    },
                }
            ),
        }
        for i in range(count)
    ]
    return body(parameters({"name": "url", "valueUri": ALL_CODES}, *validations))


# --- malformed input (the fuzzers' 500s) ------------------------------------------------------

R4_OPERATIONS = (
    "CodeSystem/$lookup",
    "CodeSystem/$validate-code",
    "CodeSystem/$subsumes",
    "ValueSet/$expand",
    "ValueSet/$validate-code",
    "ValueSet/$batch-validate-code",
    "ConceptMap/$translate",
    "CodeSystem/$changes",
)
BAD_SHAPES = {
    "parameter-null": b'{"resourceType": "Parameters", "parameter": null}',
    "parameter-[1]": b'{"resourceType": "Parameters", "parameter": [1]}',
    "resourceType-{}": b'{"resourceType": {}, "parameter": []}',
}


def nested_value(key: str, depth: int) -> bytes:
    """A Parameters whose one parameter's value (`key`: valueString, valueCoding, resource)
    is arrays nested `depth` deep: under the JSON readers' 1,024 levels, over Python's
    recursion limit for anything that walks or prints it."""
    value = "[" * depth + "]" * depth
    parameter = f'{{"name": "code", "{key}": {value}}}'
    return f'{{"resourceType": "Parameters", "parameter": [{parameter}]}}'.encode()


def nested_parts(depth: int) -> bytes:
    """A Parameters whose one parameter nests `depth` levels of parts."""
    text = '{"name": "code", "valueCode": "J0120"}'
    for _ in range(depth):
        text = '{"name": "p", "part": [' + text + "]}"
    return ('{"resourceType": "Parameters", "parameter": [' + text + "]}").encode()


def nested_parts_xml(depth: int) -> bytes:
    """The same as FHIR XML."""
    inner = '<name value="code"/><valueCode value="J0120"/>'
    for _ in range(depth):
        inner = f'<name value="p"/><part>{inner}</part>'
    return f'<Parameters xmlns="http://hl7.org/fhir"><parameter>{inner}</parameter></Parameters>'.encode()


def import_chain(depth: int) -> dict:
    """tx-resource ValueSets each importing the next one, `depth` deep."""
    return import_levels(depth, twice=False)
