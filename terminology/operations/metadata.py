"""The server's self-description: CapabilityStatement, TerminologyCapabilities, $versions.

Built as R5 from what the engine holds; the API converts to R4 at the edge (fhirVersion
included). The shape follows the tx-ecosystem `metadata` tests (capstmt.json, capterms.json).
"""

from __future__ import annotations

from importlib import metadata as _dist

from codesystem.layout import NAMESPACE
from terminology.registry import preference_key, recency_key

SOFTWARE = "hcpcs-tx"
try:
    SOFTWARE_VERSION = _dist.version("hcpcs-tx")
except _dist.PackageNotFoundError:  # running from a source tree that was never installed
    SOFTWARE_VERSION = "0.1.0"
RELEASE_DATE = "2026-11-23"
CANONICAL = NAMESPACE
TX_TEST_VERSION = "1.9.3"  # the tx-ecosystem package the conformance runner targets
FEATURE = "http://hl7.org/fhir/uv/application-feature/StructureDefinition/feature"
CORE_OPS = "http://hl7.org/fhir/OperationDefinition/"

# (resource type, operation, definition): every operation the API routes to the engine.
OPERATIONS: tuple[tuple[str, str, str], ...] = (
    ("CodeSystem", "lookup", CORE_OPS + "CodeSystem-lookup"),
    ("CodeSystem", "validate-code", CORE_OPS + "CodeSystem-validate-code"),
    ("CodeSystem", "subsumes", CORE_OPS + "CodeSystem-subsumes"),
    ("ValueSet", "expand", CORE_OPS + "ValueSet-expand"),
    ("ValueSet", "validate-code", CORE_OPS + "ValueSet-validate-code"),
    ("ValueSet", "batch-validate-code", CANONICAL + "/OperationDefinition/batch-validate-code"),
    ("ConceptMap", "translate", CORE_OPS + "ConceptMap-translate"),
    ("CodeSystem", "changes", CANONICAL + "/OperationDefinition/CodeSystem-changes"),
)
SEARCH_PARAMS = (("url", "uri"), ("version", "token"), ("name", "string"))
SEARCH_PARAMS += (("title", "string"), ("status", "token"))
EXPANSION_PARAMETERS = (
    "activeOnly",
    "check-system-version",
    "count",
    "displayLanguage",
    "excludeNested",
    "force-system-version",
    "includeDefinition",
    "includeDesignations",
    "offset",
    "property",
    "system-version",
    "tx-resource",
)
FHIR_VERSIONS = {"r4": "4.0", "r5": "5.0"}


def _header(kind: str, name: str, title: str) -> dict:
    return {
        "resourceType": kind,
        "id": name.lower(),
        "url": f"{CANONICAL}/{kind}/{name.lower()}",
        "version": SOFTWARE_VERSION,
        "name": name,
        "title": title,
        "status": "active",
        "date": RELEASE_DATE,
        "kind": "instance",
    }


def _feature(definition: str, value: dict) -> dict:
    return {
        "url": FEATURE,
        "extension": [{"url": "definition", "valueCanonical": definition}]
        + [{"url": "value", **value}],
    }


def capability_statement(xml: bool = True) -> dict:
    """The R5 CapabilityStatement: a terminology server listing every operation we route."""
    result = _header("CapabilityStatement", "HcpcsTx", "HCPCS Level II terminology server")
    result["extension"] = [
        _feature(
            "http://hl7.org/fhir/uv/tx-tests/FeatureDefinition/test-version",
            {"valueCode": TX_TEST_VERSION},
        ),
        _feature(
            "http://hl7.org/fhir/uv/tx-ecosystem/FeatureDefinition/CodeSystemAsParameter",
            {"valueBoolean": True},
        ),
    ]
    result.update(
        instantiates=["http://hl7.org/fhir/CapabilityStatement/terminology-server"],
        software={"name": SOFTWARE, "version": SOFTWARE_VERSION, "releaseDate": RELEASE_DATE},
        fhirVersion="5.0.0",
        format=["application/fhir+json", *(["application/fhir+xml"] if xml else [])],
        rest=[{"mode": "server", "resource": _rest_resources(), "operation": [_versions_op()]}],
    )
    return result


def _rest_resources() -> list[dict]:
    resources = []
    for kind in ("CodeSystem", "ValueSet", "ConceptMap"):
        operations = [{"name": op, "definition": url} for t, op, url in OPERATIONS if t == kind]
        resources.append(
            {
                "type": kind,
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "searchParam": [{"name": n, "type": t} for n, t in SEARCH_PARAMS],
                "operation": operations,
            }
        )
    return resources


def _versions_op() -> dict:
    return {"name": "versions", "definition": CORE_OPS + "CapabilityStatement-versions"}


def terminology_capabilities(code_systems: list[dict]) -> dict:
    """R5 TerminologyCapabilities: every code system held, with all its versions."""
    result = _header("TerminologyCapabilities", "HcpcsTxTerminology", "HCPCS-TX terminology")
    result.update(
        software={"name": SOFTWARE, "version": SOFTWARE_VERSION},
        codeSystem=_code_systems(code_systems),
        expansion={
            "hierarchical": False,
            "paging": True,
            "parameter": [{"name": name} for name in EXPANSION_PARAMETERS],
            "textFilter": "Word-prefix matching over code, display and designations",
        },
        validateCode={"translations": False},
        translation={"needsMap": True},
    )
    return result


def _code_systems(code_systems: list[dict]) -> list[dict]:
    by_url: dict[str, list[dict]] = {}
    for cs in code_systems:
        if cs.get("url") and cs.get("content") != "supplement":
            by_url.setdefault(cs["url"], []).append(cs)
    result = []
    for url, held in sorted(by_url.items()):
        held.sort(key=recency_key)
        default = max(held, key=preference_key)
        versions = [
            {"code": cs["version"], **({"isDefault": True} if cs is default else {})}
            for cs in held
            if cs.get("version")
        ]
        entry = {"uri": url, "version": versions} if versions else {"uri": url}
        result.append({**entry, "content": held[-1].get("content", "complete")})
    return result


def versions(base: str) -> dict:
    """$versions: the FHIR versions served, the asked base's one as default."""
    parameters = [{"name": "version", "valueCode": v} for v in FHIR_VERSIONS.values()]
    parameters.append({"name": "default", "valueCode": FHIR_VERSIONS[base]})
    return {"resourceType": "Parameters", "parameter": parameters}
