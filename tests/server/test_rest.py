"""Read, search, metadata, $versions and XML over HTTP in R4 and R5."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import HCPCS, fhir_model, parse
from .helpers import BASES

HCPCS_ID = "hcpcs-2020-01"


def _get(client, url: str, status: int = 200) -> dict:
    response = client.get(url)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    return response.json()


@pytest.mark.parametrize("base", BASES)
def test_read_the_hcpcs_code_system(client, base) -> None:
    resource = _get(client, f"/{base}/CodeSystem/{HCPCS_ID}")
    assert (resource["url"], resource["version"]) == (HCPCS, "2020-01")
    assert len(resource["concept"]) == 7079
    # fhir.resources needs ~8 s for 7,079 concepts: parse a slice, the structure repeats
    parse({**resource, "concept": resource["concept"][:200]}, base)


@pytest.mark.parametrize("base", [*BASES, "fhir"])
def test_read(client, base) -> None:
    betos = _get(client, f"/{base}/CodeSystem/hcpcs-betos")
    parse(betos, base)
    assert betos["url"] == "https://hcpcs-tx.org/fhir/CodeSystem/betos"
    vs = _get(client, f"/{base}/ValueSet/hcpcs-betos-O1E-2020-01")
    parse(vs, base)
    assert vs["compose"]["include"][0]["filter"] == [
        {"property": "betos", "op": "=", "value": "O1E"}
    ]
    outcome = _get(client, f"/{base}/ValueSet/nope", 404)
    parse(outcome, base)
    assert outcome["issue"][0]["details"]["text"] == "ValueSet/nope not found"


@pytest.mark.parametrize("base", BASES)
def test_search_by_url_with_summary(client, base) -> None:
    bundle = _get(client, f"/{base}/CodeSystem?url={HCPCS}&_summary=true")
    parse(bundle, base)
    assert (bundle["type"], bundle["total"]) == ("searchset", 1)
    entry = bundle["entry"][0]
    assert entry["fullUrl"] == f"http://testserver/{base}/CodeSystem/{HCPCS_ID}"
    assert entry["search"] == {"mode": "match"}
    assert "concept" not in entry["resource"]
    assert entry["resource"]["meta"]["tag"][0]["code"] == "SUBSETTED"
    assert entry["resource"]["version"] == "2020-01"


@pytest.mark.parametrize("base", BASES)
def test_search_paging_name_title_status_count_elements(client, base) -> None:
    bundle = _get(client, f"/{base}/ValueSet?name=HCPCSBETOS&_count=10&_elements=url,name")
    parse(bundle, base)
    total = bundle["total"]
    assert total > 40 and len(bundle["entry"]) == 10
    assert set(bundle["entry"][0]["resource"]) == {
        "resourceType",
        "id",
        "meta",
        "status",
        "url",
        "name",
    }
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    assert set(links) == {"self", "first", "last", "next"}
    next_page = _get(client, links["next"].removeprefix("http://testserver"))
    assert parse_qs(urlsplit(links["next"]).query)["_offset"] == ["10"]
    assert next_page["entry"][0]["resource"]["url"] != bundle["entry"][0]["resource"]["url"]
    assert "previous" in {link["relation"] for link in next_page["link"]}
    titled = _get(client, f"/{base}/ValueSet?title=all hcpcs&status=active")
    assert [e["resource"]["id"] for e in titled["entry"]] == ["hcpcs-all-2020-01"]
    assert _get(client, f"/{base}/ValueSet?status=retired")["total"] == 0
    counted = _get(client, f"/{base}/CodeSystem?_summary=count")
    assert "entry" not in counted and counted["total"] >= 12
    versions = _get(client, f"/{base}/CodeSystem?url={HCPCS}&version=2020-01&_elements=version")
    assert versions["entry"][0]["resource"]["version"] == "2020-01"


@pytest.mark.parametrize("base", BASES)
def test_search_errors(client, base) -> None:
    strict = {"Prefer": "handling=strict"}  # unknown parameters are ignored by default
    response = client.get(f"/{base}/CodeSystem?colour=blue", headers=strict)
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["issue"][0]["details"]["text"].startswith("Unknown search parameter 'colour'")
    assert (
        _get(client, f"/{base}/CodeSystem?_count=many", 400)["resourceType"] == "OperationOutcome"
    )


@pytest.mark.parametrize(("base", "version"), [("r4", "4.0.1"), ("r5", "5.0.0"), ("fhir", "4.0.1")])
def test_capability_statement(client, base, version) -> None:
    statement = _get(client, f"/{base}/metadata")
    parse(statement, base)
    assert statement["fhirVersion"] == version
    assert statement["instantiates"] == [
        "http://hl7.org/fhir/CapabilityStatement/terminology-server"
    ]
    (rest,) = statement["rest"]
    operations = {
        (r["type"], op["name"]) for r in rest["resource"] for op in r.get("operation", [])
    }
    assert operations == {
        ("CodeSystem", "lookup"),
        ("CodeSystem", "validate-code"),
        ("CodeSystem", "subsumes"),
        ("ValueSet", "expand"),
        ("ValueSet", "validate-code"),
        ("ValueSet", "batch-validate-code"),
        ("ConceptMap", "translate"),
        ("ConceptMap", "closure"),
        ("CodeSystem", "changes"),
    }
    assert [op["name"] for op in rest["operation"]] == ["versions"]
    assert all(
        {"read", "search-type"} == {i["code"] for i in r["interaction"]} for r in rest["resource"]
    )


@pytest.mark.parametrize("base", BASES)
def test_terminology_capabilities_list_every_code_system_version(client, base) -> None:
    capabilities = _get(client, f"/{base}/metadata?mode=terminology")
    parse(capabilities, base)
    systems = {cs["uri"]: cs for cs in capabilities["codeSystem"]}
    assert systems[HCPCS]["version"] == [{"code": "2020-01", "isDefault": True}]
    assert "https://hcpcs-tx.org/fhir/CodeSystem/betos" in systems
    names = [p["name"] for p in capabilities["expansion"]["parameter"]]
    assert "tx-resource" in names and "count" in names
    assert _get(client, f"/{base}/metadata?mode=bogus", 400)["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(("base", "default"), [("r4", "4.0"), ("r5", "5.0")])
def test_versions(client, base, default) -> None:
    for response in (client.get(f"/{base}/$versions"), client.post(f"/{base}/$versions")):
        result = response.json()
        parse(result, base)
        assert result["parameter"] == [
            {"name": "version", "valueCode": "4.0"},
            {"name": "version", "valueCode": "5.0"},
            {"name": "default", "valueCode": default},
        ]


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("fmt", ["xml", "application/fhir+xml"])
def test_xml_responses(client, base, fmt) -> None:
    pytest.importorskip("lxml", reason="fhir.resources writes XML with lxml")
    url = f"/{base}/CodeSystem/$lookup?system={HCPCS}&code=J0120&_format={fmt}"
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/fhir+xml"
    parameters = fhir_model("Parameters", base).model_validate_xml(response.content)
    assert parameters.parameter[0].name == "abstract"
    statement = client.get(f"/{base}/metadata", headers={"Accept": "application/fhir+xml"})
    assert statement.text.startswith("<?xml") and "<CapabilityStatement" in statement.text


@pytest.mark.parametrize("base", BASES)
def test_xml_and_form_bodies(client, base) -> None:
    pytest.importorskip("lxml", reason="fhir.resources reads XML with lxml")
    xml = (
        '<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="system"/>'
        f'<valueUri value="{HCPCS}"/></parameter><parameter><name value="code"/>'
        '<valueCode value="J0120"/></parameter></Parameters>'
    )
    headers = {"Content-Type": "application/fhir+xml"}
    response = client.post(f"/{base}/CodeSystem/$lookup", content=xml, headers=headers)
    assert response.status_code == 200, response.text
    display = [p for p in response.json()["parameter"] if p["name"] == "display"]
    assert display[0]["valueString"] == "Injection, tetracycline, up to 250 mg"
    response = client.post(f"/{base}/CodeSystem/$lookup", content="<oops", headers=headers)
    assert response.status_code == 400
    form = {"system": HCPCS, "code": "J0120"}
    response = client.post(f"/{base}/CodeSystem/$lookup", data=form)
    assert response.status_code == 200
