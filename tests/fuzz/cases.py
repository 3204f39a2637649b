"""Fuzzed requests, from two generators, as plain `Case`s (method, path with its encoded
query, headers, body bytes) that print as a reproducible request and curl line.

- `schema_cases`: schemathesis over the server's own OpenAPI description (/openapi.json):
  every route and method it declares, parameters typed as declared (positive mode) or
  deliberately wrong (negative mode).
- `fhir_cases`: hypothesis strategies over the FHIR operation parameter tables the engine
  runs on (terminology.params.PARAMETER_TYPES): real names and values mixed with odd ones —
  unicode digits, numbers past 32 and 64 bits, empty and repeated parameters, Parameters
  nested in parts and resources, value sets with filters, malformed JSON and XML bodies,
  wrong content types — on the R4, R5 and /fhir bases.

Both generate with hypothesis from a seed (same seed, same cases), without shrinking: a
fuzz run sends every case and reports every failure, it does not stop at the first.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
BASES = ("r4", "r5", "fhir")


@dataclass(frozen=True)
class Case:
    """One request, exactly as sent."""

    method: str
    path: str  # with the query string, percent-encoded as sent
    headers: tuple[tuple[str, str], ...] = ()  # values sent as UTF-8
    body: bytes | None = None
    source: str = ""  # which generator made it (and which operation, for schema cases)

    def reproduce(self, base: str) -> str:
        """The request as text (method, URL, headers, body) and as a curl command."""
        url = base + self.path
        lines = [f"{self.method} {url}"]
        lines += [f"{k}: {v}" for k, v in self.headers]
        if self.body is not None:
            lines.append(f"body ({len(self.body)} bytes): {_shown(self.body)}")
        lines.append("curl: " + self.curl(base))
        return "\n    ".join(lines)

    def curl(self, base: str) -> str:
        parts = ["curl", "-sS", "-X", self.method, _shell(base + self.path)]
        for k, v in self.headers:
            parts += ["-H", _shell(f"{k}: {v}")]
        if self.body is not None:
            parts += ["--data-binary", _shell_bytes(self.body)]
        return " ".join(parts)


def _shown(body: bytes, limit: int = 3000) -> str:
    text = body[:limit].decode("utf-8", "backslashreplace")
    return text + (f"... ({len(body) - limit} more bytes)" if len(body) > limit else "")


def _shell(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _shell_bytes(data: bytes) -> str:
    """Bash ANSI-C quoting: any byte survives the copy and paste."""
    out = []
    for b in data:
        ch = chr(b)
        if 32 <= b < 127 and ch not in "'\\":
            out.append(ch)
        else:
            out.append(f"\\x{b:02x}")
    return "$'" + "".join(out) + "'"


def generate(strategy: st.SearchStrategy, count: int, at_seed: int) -> list:
    """`count` examples of a strategy, reproducibly from a seed, without shrinking."""
    found: list = []

    @seed(at_seed)
    @settings(
        max_examples=count,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example) -> None:
        found.append(example)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        collect()
    return found


# --- schemathesis over /openapi.json ----------------------------------------------------------


def schema_strategy(openapi: dict, negative_share: float = 0.3) -> st.SearchStrategy[Case]:
    """Cases for every operation of the OpenAPI document, in positive and negative mode."""
    import schemathesis
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_dict(openapi)
    operations = [result.ok() for result in schema.get_all_operations()]
    positive = st.one_of([op.as_strategy() for op in operations])
    negative = st.one_of(
        [op.as_strategy(generation_mode=GenerationMode.NEGATIVE) for op in operations]
    )
    weight = max(1, round(negative_share * 10))
    mixed = st.one_of(*([negative] * weight), *([positive] * (10 - weight)))
    return mixed.map(_from_schemathesis).filter(lambda case: case is not None)


def _from_schemathesis(case) -> Case | None:
    """A schemathesis Case as the bytes requests would send (None when even requests cannot
    send it, e.g. a header value outside latin-1)."""
    import requests

    kwargs = case.as_transport_kwargs(base_url="http://fuzz.invalid")
    headers = {
        k: v
        for k, v in (kwargs.get("headers") or {}).items()
        if k.lower() not in ("user-agent", "x-schemathesis-testcaseid", "connection")
    }
    data = kwargs.get("data")
    if isinstance(data, dict):  # a form body: nested values as JSON text
        pairs = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in data.items()]
        data = urlencode(pairs)
    try:
        prepared = requests.Request(
            kwargs["method"],
            kwargs["url"],
            params=kwargs.get("params"),
            headers=headers,
            json=kwargs.get("json"),
            data=data,
            cookies=kwargs.get("cookies"),
        ).prepare()
    except (ValueError, TypeError, UnicodeError, requests.RequestException):
        return None
    path = prepared.url.removeprefix("http://fuzz.invalid")
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    sent = tuple(
        (k, v) for k, v in prepared.headers.items() if k.lower() not in ("content-length",)
    )
    try:
        for k, v in sent:
            k.encode("latin-1"), v.encode("latin-1")
    except UnicodeError:
        return None
    return Case(prepared.method or "GET", path, sent, body, f"schema {case.method} {case.path}")


def schema_cases(openapi: dict, count: int, at_seed: int) -> list[Case]:
    return generate(schema_strategy(openapi), count, at_seed)


# --- FHIR-aware cases over the operation parameter tables -------------------------------------


def _parameter_types() -> dict[str, dict[str, str]]:
    from terminology.params import PARAMETER_TYPES

    return PARAMETER_TYPES


OPERATION_TYPES = {
    "lookup": ("CodeSystem",),
    "validate-code": ("CodeSystem", "ValueSet"),
    "subsumes": ("CodeSystem",),
    "expand": ("ValueSet",),
    "batch-validate-code": ("ValueSet",),
    "translate": ("ConceptMap",),
    "changes": ("CodeSystem",),
    "closure": ("ConceptMap",),
}
IDS = ("hcpcs-2020-01", "hcpcs-2019-01", "hcpcs-all", "hcpcs-replacements", "nope", "..", "%00")
CODES = ("J0120", "A9590", "C9408", "G0365", "JC", "j0120", "Q4100", "ZZZZZ", "")
VERSIONS = ("2020-01", "2019-01", "2020", "2020-01x", "*", "2020.x", "")
URLS = (
    HCPCS,
    HCPCS + "?fhir_vs",
    "https://hcpcs-tx.org/fhir/ValueSet/hcpcs-all",
    "https://hcpcs-tx.org/fhir/ValueSet/hcpcs-betos-O1E",
    "https://hcpcs-tx.org/fhir/ConceptMap/hcpcs-replacements",
    "urn:oid:2.16.840.1.113883.6.285",
    "http://hl7.org/fhir/administrative-gender",
    "http://example.org/unknown",
    HCPCS + "|2020-01",
    HCPCS + "|",
    "|",
)
ODD_INTEGERS = (
    "²",
    "١٢",
    "１２",
    "٣",
    "1e3",
    " 1",
    "+1",
    "-1",
    "0x10",
    "1.0",
    "",
    "-0",
    "00",
    "2147483648",
    "-2147483649",
    "18446744073709551616",
    "9" * 40,
    "NaN",
    "∞",
)
ODD_TEXT = (
    "",
    " ",
    "\x00",
    "\t",
    "%",
    "%%",
    "%zz",
    "|",
    "||",
    "a|b|c",
    "${jndi:x}",
    "'\"<>&",
    "\u202e",
    "\ud7ff",
    "\U0001f600",
    "é" * 50,
    "x" * 5000,
    "*",
    "(a+)+",
    "\\",
    "null",
)
PROPERTIES = ("display", "code", "betos", "coverage", "status", "inactive", "concept", "parent")
FILTER_OPS = ("=", "regex", "in", "not-in", "is-a", "exists", "descendent-of", "generalizes")
FILTER_VALUES = ("J0120", "O1E", ".*", "J0[0-9]+", "true", "false", "a,b", "(a|b)*c", "")

text = st.text(max_size=40)
odd_text = st.sampled_from(ODD_TEXT)


@cache
def _value(kind: str) -> st.SearchStrategy[str]:
    """A parameter value as query text, for one FHIR type."""
    if kind == "integer":
        return st.one_of(
            st.integers(-(2**70), 2**70).map(str),
            st.integers(0, 2000).map(str),
            st.sampled_from(ODD_INTEGERS),
        )
    if kind == "boolean":
        return st.sampled_from(("true", "false", "TRUE", "1", "", "yes", "false "))
    if kind == "dateTime":
        return st.one_of(
            st.dates().map(str),
            st.sampled_from(("2020-13-45", "0000-00-00", "2020-02-30T25:61:00Z", "２０２０")),
            text,
        )
    if kind == "Coding":
        return st.one_of(
            st.builds(lambda u, c: f"{u}|{c}", st.sampled_from(URLS), st.sampled_from(CODES)),
            odd_text,
            text,
        )
    if kind in ("uri", "canonical"):
        return st.one_of(st.sampled_from(URLS), odd_text, text)
    if kind == "code":
        return st.one_of(st.sampled_from(CODES), odd_text, text)
    return st.one_of(st.sampled_from(VERSIONS), st.sampled_from(CODES), odd_text, text)


REAL = {
    "integer": st.integers(0, 200).map(str),
    "boolean": st.sampled_from(("true", "false")),
    "dateTime": st.sampled_from(("2019-06-01", "2020-03-01", "2020-01-01", "2018-12-31")),
    "Coding": st.builds(lambda c: f"{HCPCS}|{c}", st.sampled_from(CODES[:7])),
    "uri": st.sampled_from(URLS[:6]),
    "canonical": st.sampled_from(URLS[:6]),
    "code": st.sampled_from(CODES[:7]),
}


@cache
def _plausible_query(operation: str) -> st.SearchStrategy[str]:
    """Only the operation's own parameters, with real values: answers a client would get."""
    table = _parameter_types().get(operation, {})
    names = sorted(n for n, kind in table.items() if kind != "Resource") or ["code"]

    def item(n: str) -> st.SearchStrategy[tuple[str, str]]:
        real = REAL.get(table.get(n, "string"), st.sampled_from(VERSIONS[:2] + CODES[:3]))
        return real.map(lambda v, n=n: (n, v))

    pairs = st.lists(st.sampled_from(names).flatmap(item), min_size=1, max_size=5)
    return pairs.map(
        lambda items: "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in items)
    )


@cache
def _typed_json(kind: str) -> st.SearchStrategy[dict]:
    """A parameter's value[x] member as JSON (right or wrong type)."""
    right = {
        "integer": ("valueInteger", st.integers(-(2**70), 2**70)),
        "boolean": ("valueBoolean", st.booleans()),
        "Coding": (
            "valueCoding",
            st.fixed_dictionaries(
                {"system": st.sampled_from(URLS), "code": st.sampled_from(CODES)},
                optional={"version": st.sampled_from(VERSIONS), "display": text},
            ),
        ),
        "CodeableConcept": (
            "valueCodeableConcept",
            st.fixed_dictionaries(
                {"coding": st.lists(st.fixed_dictionaries({"code": st.sampled_from(CODES)}))}
            ),
        ),
        "Resource": ("resource", _resource()),
    }
    key, values = right.get(kind, (f"value{kind[:1].upper()}{kind[1:]}", _value(kind)))
    wrong = st.one_of(
        st.none(),
        st.integers(),
        st.floats(allow_nan=False),
        text,
        st.lists(st.integers()),
        st.dictionaries(text, text, max_size=2),
    )
    return st.one_of(
        values.map(lambda v: {key: v}),
        wrong.map(lambda v: {key: v}),
        st.sampled_from(("valueString", "valueInteger", "valueX", "value")).flatmap(
            lambda k: st.one_of(_value(kind), wrong).map(lambda v: {k: v})
        ),
    )


@cache
def _filter() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {
            "property": st.sampled_from(PROPERTIES),
            "op": st.sampled_from(FILTER_OPS),
            "value": st.one_of(st.sampled_from(FILTER_VALUES), text),
        }
    )


@cache
def _include() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {"system": st.sampled_from(URLS)},
        optional={
            "version": st.sampled_from(VERSIONS),
            "filter": st.lists(_filter(), max_size=3),
            "concept": st.lists(
                st.fixed_dictionaries({"code": st.sampled_from(CODES)}), max_size=3
            ),
            "valueSet": st.lists(st.sampled_from(URLS), max_size=2),
        },
    )


@cache
def _resource() -> st.SearchStrategy[dict]:
    value_set = st.fixed_dictionaries(
        {
            "resourceType": st.just("ValueSet"),
            "url": st.sampled_from(("http://fuzz.example/vs", *URLS)),
            "status": st.sampled_from(("active", "draft", "bogus")),
            "compose": st.fixed_dictionaries(
                {"include": st.lists(_include(), max_size=3)},
                optional={"exclude": st.lists(_include(), max_size=2)},
            ),
        },
        optional={"version": st.sampled_from(VERSIONS)},
    )
    code_system = st.fixed_dictionaries(
        {
            "resourceType": st.just("CodeSystem"),
            "url": st.sampled_from(("http://fuzz.example/cs", *URLS)),
            "status": st.just("active"),
            "content": st.sampled_from(("complete", "fragment", "supplement", "x")),
            "concept": st.lists(
                st.fixed_dictionaries({"code": st.sampled_from(CODES)}, optional={"display": text}),
                max_size=4,
            ),
        },
        optional={"supplements": st.sampled_from(URLS)},
    )
    odd = st.one_of(
        st.fixed_dictionaries({"resourceType": st.sampled_from(("Patient", "Parameters", ""))}),
        st.fixed_dictionaries({"resourceType": st.one_of(st.none(), st.integers(), st.just({}))}),
    )
    return st.one_of(value_set, code_system, odd)


@cache
def _parameter(operation: str, depth: int = 0) -> st.SearchStrategy:
    table = _parameter_types().get(operation, {})
    names = sorted(table) or ["code"]
    name = st.one_of(st.sampled_from(names), text, st.sampled_from(("", "tx-resource", "_format")))

    def build(n: str) -> st.SearchStrategy[dict]:
        kind = table.get(n, "string")
        member = _typed_json(kind)
        plain = member.map(lambda m, n=n: {"name": n, **m})
        if depth >= 2:
            return plain
        nested = st.lists(_parameter(operation, depth + 1), max_size=3).map(
            lambda parts, n=n: {"name": n, "part": parts}
        )
        return st.one_of(plain, plain, nested)

    return name.flatmap(build)


@cache
def _query(operation: str) -> st.SearchStrategy[str]:
    table = _parameter_types().get(operation, {})
    names = sorted(table) or ["code"]

    def item(n: str) -> st.SearchStrategy[tuple[str, str]]:
        return _value(table.get(n, "string")).map(lambda v, n=n: (n, v))

    controls = st.sampled_from(
        (
            ("_format", "json"),
            ("_format", "xml"),
            ("_format", "bogus"),
            ("_pretty", "true"),
            ("_count", "²"),
            ("_elements", "code"),
            ("_summary", "true"),
        )
    )
    names_st = st.one_of(st.sampled_from(names), text)
    items = st.lists(st.one_of(names_st.flatmap(item), controls), max_size=8)
    # duplicated parameters: the same item twice
    items = st.one_of(items, items.map(lambda xs: xs + xs[:2]))
    return items.map(
        lambda pairs: "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    )


MALFORMED_BODIES = (
    b"",
    b"{",
    b"null",
    b"[]",
    b"[1]",
    b'"Parameters"',
    b'{"resourceType": "Parameters", "parameter": null}',
    b'{"resourceType": "Parameters", "parameter": [1]}',
    b'{"resourceType": "Parameters", "parameter": {"name": "code"}}',
    b'{"resourceType": {}, "parameter": []}',
    b'{"resourceType": "Parameters", "parameter": [{"name": null}]}',
    b'{"resourceType": "Parameters", "parameter": [{"name": "count", "valueInteger": 1e400}]}',
    b'{"resourceType": "Parameters", "parameter": [{"name": "count", '
    b'"valueInteger": 18446744073709551616}]}',
    b'{"resourceType": "Parameters", "parameter": [{"name": "code", "valueCode": "\\ud800"}]}',
    b'{"resourceType": "Parameters"}\xff\xfe',
    b"\xef\xbb\xbf{}",
    b"<Parameters/>",
    b'<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="code"/>',
    b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;'
    b'&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;'
    b'&c;&c;&c;&c;&c;">]><Parameters xmlns="http://hl7.org/fhir"><parameter><name value="&d;"/>'
    b'<valueString value="&d;"/></parameter></Parameters>',
    b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="code"/>'
    b'<valueCode value="&x;"/></parameter></Parameters>',
    b"code=J0120&system=" + HCPCS.encode(),
    b"code=%zz&%%=1&=&&",
)
CONTENT_TYPES = (
    "application/fhir+json",
    "application/json",
    "application/fhir+xml",
    "application/xml",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/fhir+json; charset=latin-1",
    "",
)


def _xml_parameters(items: list[tuple[str, str]]) -> bytes:
    from xml.sax.saxutils import quoteattr

    inner = "".join(
        f"<parameter><name value={quoteattr(n)}/><valueString value={quoteattr(v)}/></parameter>"
        for n, v in items
    )
    return f'<Parameters xmlns="http://hl7.org/fhir">{inner}</Parameters>'.encode(
        "utf-8", "surrogatepass"
    )


@st.composite
def fhir_case(draw: Callable) -> Case:
    table_of = _parameter_types()
    operation = draw(st.sampled_from(sorted(OPERATION_TYPES)))
    table = table_of.get(operation, {})
    names = sorted(table) or ["code"]
    plausible = draw(st.integers(0, 9)) < 3  # 30 %: a real client's request, maybe heavy
    kinds = OPERATION_TYPES[operation] + (() if plausible else ("ValueSet", "Bogus"))
    kind = draw(st.sampled_from(kinds))
    base = draw(st.sampled_from(BASES))
    ids = IDS[:3] if plausible else IDS
    instance = draw(st.one_of(st.none(), st.none(), st.sampled_from(ids)))
    path = f"/{base}/{kind}/" + (f"{quote(instance, safe='')}/" if instance else "")
    path += f"${operation}"
    headers: list[tuple[str, str]] = []
    if draw(st.booleans()):
        headers.append(
            (
                "Accept",
                draw(
                    st.sampled_from(
                        ("application/fhir+json", "application/fhir+xml", "text/html", "*/*", "x/y")
                    )
                ),
            )
        )
    if draw(st.integers(0, 9)) == 0:
        headers.append(("X-TOO-COSTLY-THRESHOLD", draw(st.sampled_from(ODD_INTEGERS))))
    if draw(st.integers(0, 9)) == 0:
        headers.append(("Accept-Language", draw(st.sampled_from(("en", "*", "de;q=x", "", "é")))))
    query = draw(_plausible_query(operation) if plausible else _query(operation))
    if plausible or draw(st.integers(0, 2)) == 0:  # GET
        return Case(
            "GET",
            path + (f"?{query}" if query else ""),
            tuple(headers),
            None,
            f"fhir GET {operation}" + (" (plausible)" if plausible else ""),
        )
    body_kind = draw(st.sampled_from(("json", "json", "json", "form", "xml", "malformed")))
    if body_kind == "json":
        parameters = draw(st.lists(_parameter(operation), max_size=6))
        resource = {"resourceType": "Parameters", "parameter": parameters}
        body = json.dumps(resource, ensure_ascii=False).encode("utf-8", "surrogatepass")
        content_type = "application/fhir+json"
    elif body_kind == "form":
        body = draw(_query(operation)).encode()
        content_type = "application/x-www-form-urlencoded"
    elif body_kind == "xml":
        items = draw(st.lists(st.tuples(st.sampled_from(names), _value("string")), max_size=5))
        body = _xml_parameters(items)
        content_type = "application/fhir+xml"
    else:
        body = draw(st.sampled_from(MALFORMED_BODIES))
        content_type = draw(st.sampled_from(CONTENT_TYPES))
    if draw(st.integers(0, 5)) == 0:
        content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type:
        headers.append(("Content-Type", content_type))
    with_query = query and draw(st.integers(0, 3)) == 0
    return Case(
        "POST",
        path + (f"?{query}" if with_query else ""),
        tuple(headers),
        body,
        f"fhir POST {operation} ({body_kind})",
    )


def fhir_cases(count: int, at_seed: int) -> list[Case]:
    return generate(fhir_case(), count, at_seed)
