"""The fuzzers' 500s (issue 12: 79 answers of 500 from 8 causes in ~37,000 fuzzed requests).

Each malformed request must be a 4xx OperationOutcome within 2 s (a 300-deep import chain is
legal, so it may also be answered). These requests are cheap, so the cases share one server
(restarted if a case leaves it dead or stalled), each still under the full verdict."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from . import payloads
from .harness import PROBE_BUDGET_S, PROBE_PATH, Attack, TxServer, answer_or_refusal, refusal

pytestmark = pytest.mark.attack

BUDGET_S = 2.0


@pytest.fixture(scope="module")
def shared() -> Iterator[list[TxServer]]:
    holder: list[TxServer] = []
    yield holder
    for server in holder:
        server.stop()


@pytest.fixture
def quick_server(
    shared: list[TxServer], attack_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> TxServer:
    """The module's server, started again if the last case left it dead or stalled."""
    if shared and not _healthy(shared[0]):
        shared.pop().stop()
    if not shared:
        log = tmp_path_factory.mktemp("malformed") / "server.log"
        shared.append(TxServer(attack_store, log).start())
    return shared[0]


def _healthy(server: TxServer) -> bool:
    try:
        return httpx.get(server.base + PROBE_PATH, timeout=PROBE_BUDGET_S).status_code == 200
    except httpx.HTTPError:
        return False


def _one(
    server: TxServer,
    name: str,
    method: str,
    path: str,
    content: bytes | None = None,
    accept=refusal,
) -> None:
    attack = Attack(server, name, BUDGET_S, accept)
    with attack.running():
        headers = payloads.JSON_TYPE if content is not None else None
        attack.send(method, path, content=content, headers=headers)
    attack.verdict()


@pytest.mark.parametrize("base", ["r4", "r5"])
@pytest.mark.parametrize("kind", ["CodeSystem", "ValueSet"])
def test_count_in_unicode_digits(quick_server, base: str, kind: str) -> None:
    """`_count=²`: str.isdigit() says yes, int() says no."""
    _one(quick_server, f"{base} {kind}?_count=²", "GET", f"/{base}/{kind}?_count=%C2%B2")


@pytest.mark.parametrize("name", ["offset", "count"])
def test_integer_past_64_bits(quick_server, name: str) -> None:
    """A FHIR integer is 32-bit: 2^64 is a 400, not an overflow in the echoed parameters."""
    url = quote(payloads.ALL_CODES, safe="")
    other = "count=1" if name == "offset" else "offset=0"
    path = f"/r4/ValueSet/$expand?url={url}&{other}&{name}=18446744073709551616"
    _one(quick_server, f"$expand {name}=2^64", "GET", path)


@pytest.mark.parametrize("shape", sorted(payloads.BAD_SHAPES))
@pytest.mark.parametrize("operation", payloads.R4_OPERATIONS)
def test_r4_operation_with_a_malformed_parameters_body(
    quick_server, operation: str, shape: str
) -> None:
    """The R4 -> R5 conversion meets the body before anything has checked its shape."""
    content = payloads.BAD_SHAPES[shape]
    _one(quick_server, f"r4 {operation} {shape}", "POST", f"/r4/{operation}", content)


@pytest.mark.parametrize("base", ["r4", "r5"])
def test_query_plus_an_object_valued_parameter(quick_server, base: str) -> None:
    content = payloads.body(
        {"resourceType": "Parameters", "parameter": {"name": "system", "valueUri": payloads.HCPCS}}
    )
    path = f"/{base}/CodeSystem/$lookup?code=J0120"
    _one(quick_server, f"{base} query + object parameter", "POST", path, content)


@pytest.mark.parametrize("base", ["r4", "r5"])
@pytest.mark.parametrize("key", ["valueString", "valueCoding", "resource"])
def test_parameter_value_nested_a_thousand_deep(quick_server, base: str, key: str) -> None:
    """A value of 1,000 nested arrays: printing it for the error message recursed too deep."""
    content = payloads.nested_value(key, 1000)
    path = f"/{base}/CodeSystem/$lookup"
    _one(quick_server, f"{base} $lookup {key} nested 1,000 deep", "POST", path, content)


@pytest.mark.parametrize("base", ["r4", "r5"])
@pytest.mark.parametrize(("form", "depth"), [("json", 450), ("xml", 1000)])
def test_parameter_parts_nested_deep(quick_server, base: str, form: str, depth: int) -> None:
    """Parts within parts (JSON readers refuse 1,024 levels; 450 levels of parts stay under
    that and over Python's recursion limit), in JSON and in XML."""
    if form == "json":
        content, kind = payloads.nested_parts(depth), payloads.JSON_TYPE
    else:
        content, kind = payloads.nested_parts_xml(depth), {"content-type": "application/fhir+xml"}
    name = f"{base} $expand parts {depth} deep ({form})"
    attack = Attack(quick_server, name, BUDGET_S, refusal)
    with attack.running():
        attack.send("POST", f"/{base}/ValueSet/$expand", content=content, headers=kind)
    attack.verdict()


def test_import_chain_three_hundred_deep(quick_server) -> None:
    """Legal, if odd: answered, or refused as too deep / too costly, never a RecursionError."""
    content = payloads.body(payloads.import_chain(300))
    _one(
        quick_server,
        "tx-resource import chain 300 deep",
        "POST",
        "/r4/ValueSet/$expand",
        content,
        accept=answer_or_refusal,
    )
