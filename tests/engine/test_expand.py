"""ValueSet/$expand: compose semantics, paging, text search, errors; HCPCS typeahead."""

from __future__ import annotations

import pytest

from terminology.engine import Engine
from tests.engine.conftest import HCPCS, SIMPLE, fail, run

ALL = "http://hl7.org/fhir/test/ValueSet/simple-all"
ACTIVE = "https://hcpcs-tx.org/fhir/ValueSet/hcpcs-active"


def _walk(contains: list[dict]) -> list[str]:
    found = []
    for item in contains:
        found.append(item["code"])
        found += _walk(item.get("contains", []))
    return found


def codes(result: dict) -> list[str]:
    """Every code of the expansion, nested ones after their parent."""
    return _walk(result["expansion"].get("contains", []))


def echoed(result: dict) -> dict[str, object]:
    return {
        p["name"]: next(v for k, v in p.items() if k.startswith("value"))
        for p in result["expansion"]["parameter"]
    }


def _inline(*filters: dict, exclude: list | None = None) -> dict:
    compose: dict = {"include": [{"system": SIMPLE, "filter": list(filters)}]}
    if exclude:
        compose["exclude"] = exclude
    return {"resourceType": "ValueSet", "status": "active", "compose": compose}


def test_expand_all(simple_engine) -> None:
    result = run(simple_engine, "expand", "ValueSet", url__Uri=ALL)
    expansion = result["expansion"]
    assert expansion["total"] == 7
    assert codes(result) == ["code1", "code2", "code2a", "code2aI", "code2aII", "code2b", "code3"]
    assert expansion["identifier"].startswith("urn:uuid:")
    assert echoed(result)["used-codesystem"] == f"{SIMPLE}|0.1.0"
    code2 = expansion["contains"][1]
    assert code2["abstract"] is True and code2["inactive"] is True
    assert result["url"] == ALL and "compose" not in result


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (
            {"property": "concept", "op": "is-a", "value": "code2a"},
            ["code2a", "code2aI", "code2aII"],
        ),
        (
            {"property": "concept", "op": "descendent-of", "value": "code2a"},
            ["code2aI", "code2aII"],
        ),
        ({"property": "concept", "op": "child-of", "value": "code2"}, ["code2a", "code2b"]),
        (
            {"property": "concept", "op": "generalizes", "value": "code2aI"},
            ["code2", "code2a", "code2aI"],
        ),
        ({"property": "concept", "op": "is-not-a", "value": "code2"}, ["code1", "code3"]),
        ({"property": "prop", "op": "=", "value": "new"}, ["code2", "code2a", "code2aII"]),
        (
            {"property": "prop", "op": "in", "value": "new,old"},
            ["code1", "code2", "code2a", "code2aI", "code2aII", "code2b", "code3"],
        ),
        ({"property": "prop", "op": "not-in", "value": "old"}, ["code2", "code2a", "code2aII"]),
        ({"property": "code", "op": "regex", "value": "code2a.+"}, ["code2aI", "code2aII"]),
        ({"property": "notSelectable", "op": "exists", "value": "true"}, ["code2"]),
        ({"property": "display", "op": "regex", "value": "Display 2.*I"}, ["code2aI", "code2aII"]),
    ],
)
def test_compose_filters(simple_engine, flt, expected) -> None:
    result = run(simple_engine, "expand", "ValueSet", valueSet__resource=_inline(flt))
    assert codes(result) == expected


def test_hierarchy_is_nested_unless_exclude_nested(simple_engine) -> None:
    nested = run(simple_engine, "expand", "ValueSet", url__Uri=ALL)
    top = nested["expansion"]["contains"]
    assert [c["code"] for c in top] == ["code1", "code2", "code3"]
    assert [c["code"] for c in top[1]["contains"]] == ["code2a", "code2b"]
    flat = run(simple_engine, "expand", "ValueSet", url__Uri=ALL, excludeNested=True)
    assert all("contains" not in c for c in flat["expansion"]["contains"])
    active = run(simple_engine, "expand", "ValueSet", url__Uri=ALL, activeOnly=True)
    assert [c["code"] for c in active["expansion"]["contains"]] == [
        "code1",
        "code2a",
        "code2b",
        "code3",
    ]


def test_filters_are_anded_and_exclude_removes(simple_engine) -> None:
    vs = _inline(
        {"property": "concept", "op": "is-a", "value": "code2"},
        {"property": "prop", "op": "=", "value": "old"},
        exclude=[{"system": SIMPLE, "concept": [{"code": "code2b"}]}],
    )
    assert codes(run(simple_engine, "expand", "ValueSet", valueSet__resource=vs)) == ["code2aI"]


def test_nested_value_set_import(simple_engine) -> None:
    vs = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {
            "include": [{"valueSet": [ALL, "http://hl7.org/fhir/test/ValueSet/simple-filter-isa"]}]
        },
    }
    result = run(simple_engine, "expand", "ValueSet", valueSet__resource=vs)
    assert codes(result) == ["code2", "code2a", "code2aI", "code2aII", "code2b"]


def test_paging_and_active_only(simple_engine) -> None:
    page = run(simple_engine, "expand", "ValueSet", url__Uri=ALL, count=2, offset=1)
    assert page["expansion"]["total"] == 7 and page["expansion"]["offset"] == 1
    assert codes(page) == ["code2", "code2a"]
    active = run(simple_engine, "expand", "ValueSet", url__Uri=ALL, activeOnly=True)
    assert "code2" not in codes(active) and active["expansion"]["total"] == 6
    assert echoed(active)["activeOnly"] is True


def test_designations_and_properties(simple_engine) -> None:
    result = run(
        simple_engine, "expand", "ValueSet", url__Uri=ALL, includeDesignations=True, property="prop"
    )
    first = result["expansion"]["contains"][0]
    assert first["designation"][0]["value"] == "mine own first code"
    assert first["property"] == [{"code": "prop", "valueCode": "old"}]
    assert result["expansion"]["property"][0]["code"] == "prop"


def test_unsupported_filter_is_an_error_naming_it(simple_engine) -> None:
    error = fail(
        simple_engine,
        "expand",
        "ValueSet",
        valueSet__resource=_inline({"property": "prop", "op": "sounds-like", "value": "x"}),
    )
    assert error.status == 400 and "sounds-like" in error.text
    unknown = fail(
        simple_engine,
        "expand",
        "ValueSet",
        valueSet__resource=_inline({"property": "colour", "op": "=", "value": "x"}),
    )
    assert "colour" in unknown.text
    novalue = fail(
        simple_engine,
        "expand",
        "ValueSet",
        valueSet__resource=_inline({"property": "concept", "op": "is-a"}),
    )
    assert "has no value" in novalue.text


def test_errors(simple_engine) -> None:
    assert fail(simple_engine, "expand", "ValueSet", url__Uri=ALL + "X").status == 404
    assert fail(simple_engine, "expand", "ValueSet", url__Uri=ALL, count=10**9).status == 400
    assert fail(simple_engine, "expand", "ValueSet").status == 400
    bad_cs = {"resourceType": "ValueSet", "compose": {"include": [{"system": "http://x.org"}]}}
    error = fail(simple_engine, "expand", "ValueSet", valueSet__resource=bad_cs)
    assert error.status == 404 and "http://x.org" in error.text


def test_too_costly(monkeypatch) -> None:
    from terminology.operations import expand

    concepts = [{"code": f"c{i}"} for i in range(30)]
    cs = {
        "resourceType": "CodeSystem",
        "url": "http://x.org/big",
        "content": "complete",
        "concept": concepts,
    }
    engine = Engine([cs])
    monkeypatch.setattr(expand, "MAX_EXPANSION", 10)
    error = fail(engine, "expand", "ValueSet", url__Uri="http://x.org/big?fhir_vs")
    assert error.outcome["issue"][0]["code"] == "too-costly"
    paged = run(engine, "expand", "ValueSet", url__Uri="http://x.org/big?fhir_vs", count=5)
    assert paged["expansion"]["total"] == 30


def test_hcpcs_typeahead(hcpcs) -> None:
    result = run(hcpcs, "expand", "ValueSet", url__Uri=ACTIVE, filter="skin sub", count=5)
    assert result["expansion"]["total"] >= 10
    displays = [c["display"].lower() for c in result["expansion"]["contains"]]
    assert all("skin" in d and "sub" in d for d in displays)
    assert displays[0].startswith("skin substitute")


def test_hcpcs_exact_code_first_then_code_prefix_in_code_order(hcpcs) -> None:
    result = run(hcpcs, "expand", "ValueSet", url__Uri=ACTIVE, filter="E0100", count=3)
    assert codes(result)[0] == "E0100"
    prefix = run(hcpcs, "expand", "ValueSet", url__Uri=ACTIVE, filter="E01", count=5)
    assert codes(prefix) == sorted(codes(prefix)) and codes(prefix)[0] == "E0100"


def test_hcpcs_typeahead_word_prefixes_in_any_order(hcpcs) -> None:
    result = run(
        hcpcs,
        "expand",
        "ValueSet",
        url__Uri=ACTIVE,
        filter="chair whee",
        count=50,
        includeDesignations=True,
    )
    assert result["expansion"]["total"] > 0
    for item in result["expansion"]["contains"]:
        texts = [item["display"]] + [d["value"] for d in item.get("designation", [])]
        words = " ".join(texts).lower().replace(",", " ").replace("/", " ").split()
        assert any(w.startswith("whee") for w in words)
        assert any(w.startswith("chair") for w in words)


def test_hcpcs_property_filtered_value_sets(hcpcs, hcpcs_resources) -> None:
    modifiers = run(
        hcpcs,
        "expand",
        "ValueSet",
        url__Uri="https://hcpcs-tx.org/fhir/ValueSet/hcpcs-modifiers",
        count=0,
    )
    assert modifiers["expansion"]["total"] == 369
    everything = run(hcpcs, "expand", "ValueSet", url__Uri=HCPCS + "?fhir_vs", count=0)
    assert everything["expansion"]["total"] == 7079
    active = run(hcpcs, "expand", "ValueSet", url__Uri=ACTIVE, count=0)
    assert active["expansion"]["total"] == 7079 - 615
    betos = [vs for vs in hcpcs_resources if "betos" in vs.get("url", "")][0]
    found = run(hcpcs, "expand", "ValueSet", url__Uri=betos["url"], count=1)
    assert found["expansion"]["total"] > 0
