"""The server's self-description: CapabilityStatement, TerminologyCapabilities, $versions,
and the OperationDefinitions of the operations that are not FHIR's own.

Built as R5 from what the engine holds; the API converts to R4 at the edge (fhirVersion
included); TerminologyCapabilities lists the code systems of the asked base's FHIR release
(api builds one per base). The shape follows the tx-ecosystem `metadata` tests (capstmt.json,
capterms.json).
Both statements are `kind = instance`, so they carry `implementation` (the invariant of
both resources: "if kind = instance, implementation must be present and software may be
present"; `for_base` adds the URL asked), and are dated from the data: the start of
the latest stored release (`data_date`), not the time they were built. Every
operation they declare resolves: FHIR's own by their canonical URL, ours (`operation_definitions`)
at `{base}/OperationDefinition/{id}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata as _dist

from codesystem.fhir_types import Resource
from codesystem.layout import NAMESPACE
from terminology.params import PARAMETER_TYPES
from terminology.registry import preference_key, recency_key
from terminology.rest import RELEASES

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
    ("ConceptMap", "closure", CORE_OPS + "ConceptMap-closure"),
    ("CodeSystem", "changes", CANONICAL + "/OperationDefinition/CodeSystem-changes"),
)
SEARCH_PARAMS: tuple[tuple[str, str], ...] = (("url", "uri"), ("version", "token"))
SEARCH_PARAMS += (("name", "string"), ("title", "string"), ("status", "token"), ("_id", "token"))
SEARCH_DOC = (
    "Search parameters as FHIR clients send them: url, version, status, _id (exact; a comma"
    " is OR), name, title (case-insensitive starts-with); _summary, _elements, _count"
    " (at most 1000; 0 = total only), _offset, _total (none | estimate | accurate), _sort"
    " (url, name, title, version, date, status, _id; - for descending). Unknown parameters"
    " are ignored and reported in an OperationOutcome entry (Prefer: handling=lenient, the"
    " default) or refused with 400 (Prefer: handling=strict). Also POST [type]/_search."
)
IMPLEMENTATION = "hcpcs-tx: HCPCS Level II terminology server (every stored CMS release)"
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
FHIR_VERSIONS = {base: release.rsplit(".", 1)[0] for base, release in RELEASES.items()}
"""$versions: each base's FHIR version as major.minor (4.0, 5.0)."""


def _header(kind: str, name: str, title: str) -> Resource:
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


def _feature(definition: str, value: Resource) -> Resource:
    return {
        "url": FEATURE,
        "extension": [{"url": "definition", "valueCanonical": definition}]
        + [{"url": "value", **value}],
    }


def data_date(code_systems: Sequence[Resource]) -> str:
    """The date of the data served (YYYY-MM-DD): the start of the latest stored release,
    as the code systems of a release state it (`effectivePeriod.start`: a CMS release and
    its code tables do, the FHIR core ones do not), else the latest `date` of any stored
    code system; RELEASE_DATE for a server holding none. Read from the data, so no code
    system is named here."""
    for field in ("effectivePeriod", "date"):
        dates = [_day(cs, field) for cs in code_systems]
        if any(dates):
            return max(d for d in dates if d)
    return RELEASE_DATE


def _day(resource: Resource, field: str) -> str | None:
    value = resource.get(field)
    day = value.get("start") if isinstance(value, dict) else value
    return day[:10] if isinstance(day, str) and len(day) >= 10 else None


def capability_statement(
    xml: bool = True, code_systems: Sequence[Resource] | None = None
) -> Resource:
    """The R5 CapabilityStatement: a terminology server listing every operation we route,
    dated from the code systems held (data_date)."""
    result = _header("CapabilityStatement", "HcpcsTx", "HCPCS Level II terminology server")
    result["date"] = data_date(code_systems or [])
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
        implementation={"description": IMPLEMENTATION},
        format=["application/fhir+json", *(["application/fhir+xml"] if xml else [])],
        rest=[
            {
                "mode": "server",
                "documentation": SEARCH_DOC,
                "resource": _rest_resources(),
                "interaction": [{"code": "batch"}, {"code": "transaction"}],
                "operation": [_versions_op()],
            }
        ],
    )
    return result


def for_base(statement: Resource, url: str) -> Resource:
    """A statement (CapabilityStatement or TerminologyCapabilities) naming the base URL it
    was asked at (implementation.url), as a server instance's statement does."""
    return {**statement, "implementation": {"description": IMPLEMENTATION, "url": url}}


def _rest_resources() -> list[Resource]:
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
    resources.append(
        {
            "type": "OperationDefinition",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": n, "type": t} for n, t in SEARCH_PARAMS],
        }
    )
    return resources


def _versions_op() -> Resource:
    return {"name": "versions", "definition": CORE_OPS + "CapabilityStatement-versions"}


def terminology_capabilities(code_systems: Sequence[Resource]) -> Resource:
    """R5 TerminologyCapabilities: every code system held, with all its versions.
    `hierarchical`: $expand nests `contains` as the code system's hierarchy does (unless
    excludeNested or paged: operations/expand.py)."""
    result = _header("TerminologyCapabilities", "HcpcsTxTerminology", "HCPCS-TX terminology")
    result.update(
        date=data_date(code_systems),
        software={"name": SOFTWARE, "version": SOFTWARE_VERSION},
        implementation={"description": IMPLEMENTATION},
        codeSystem=_code_systems(code_systems),
        expansion={
            "hierarchical": True,
            "paging": True,
            "parameter": [{"name": name} for name in EXPANSION_PARAMETERS],
            "textFilter": "Word-prefix matching over code, display and designations",
        },
        validateCode={"translations": False},
        translation={"needsMap": True},
        closure={"translation": False},
    )
    return result


def _code_systems(code_systems: Sequence[Resource]) -> list[Resource]:
    by_url: dict[str, list[Resource]] = {}
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


# --- our own operations' definitions ----------------------------------------------------------

_BATCH_DOC = (
    "Several $validate-code requests against one value set: each `validation` is a"
    " Parameters resource holding one request's parameters (they override the outer ones),"
    " answered by a `validation` holding that request's $validate-code answer, in order."
)
_CHANGES_DOC = (
    "What changed in a code system between two of its stored versions: a count per kind of"
    " change (added, removed, terminated, redescribed, property-changed), then one `change`"
    " per code (code, display, kind 1..*, previousDisplay, and per changed property its old"
    " and new values)."
)
_FHIR_TYPES = {"Resource": "Resource", "Coding": "Coding", "CodeableConcept": "CodeableConcept"}


def _parameter(
    name: str, use: str, kind: str, low: int = 0, high: str = "1", doc: str = ""
) -> Resource:
    found = {"name": name, "use": use, "min": low, "max": high, "type": kind}
    return {**found, "documentation": doc} if doc else found


def _typed_inputs(operation: str, skip: tuple[str, ...] = ()) -> list[Resource]:
    """The operation's input parameter table (params.py) as OperationDefinition inputs."""
    found = []
    for name, kind in PARAMETER_TYPES[operation].items():
        if name not in skip:
            found.append(_parameter(name, "in", "ValueSet" if name == "valueSet" else kind))
    return found


def operation_definitions() -> list[Resource]:
    """The R5 OperationDefinitions of the operations that FHIR does not define
    ($batch-validate-code, $changes), served at OperationDefinition/{id}."""
    batch = _definition(
        "batch-validate-code", "BatchValidateCode", "ValueSet", _BATCH_DOC, instance=True
    )
    batch["parameter"] = [
        *_typed_inputs("batch-validate-code"),
        _parameter("tx-resource", "in", "Resource", 0, "*", "A resource used for this request"),
        _parameter("validation", "in", "Parameters", 1, "*", "One $validate-code request"),
        _parameter("validation", "out", "Parameters", 1, "*", "Its answer, in order"),
    ]
    changes = _definition("CodeSystem-changes", "Changes", "CodeSystem", _CHANGES_DOC, True)
    changes["parameter"] = [
        _parameter("system", "in", "uri", doc="The code system (or `url`, or the instance)"),
        _parameter("url", "in", "uri", doc="The code system (as `system`)"),
        _parameter("fromVersion", "in", "string", 1, "1", "The older stored version"),
        _parameter("toVersion", "in", "string", 1, "1", "The newer stored version"),
        _parameter("system", "out", "uri", 1),
        _parameter("fromVersion", "out", "string", 1),
        _parameter("toVersion", "out", "string", 1),
        *(
            _parameter(kind, "out", "integer", 1, "1", f"How many codes were {kind}")
            for kind in ("added", "removed", "terminated", "redescribed", "property-changed")
        ),
        _part("change", 0, "*", "One changed code", _CHANGE_PARTS),
    ]
    return [batch, changes]


def _part(name: str, low: int, high: str, doc: str, parts: list[Resource]) -> Resource:
    """A parameter made of parts (no type of its own)."""
    return {
        "name": name,
        "use": "out",
        "min": low,
        "max": high,
        "documentation": doc,
        "part": parts,
    }


_VALUE_TYPES = "A value of the property's type"
_CHANGE_PARTS = [
    _parameter("code", "out", "code", 1),
    _parameter("display", "out", "string"),
    _parameter(
        "kind",
        "out",
        "code",
        1,
        "*",
        "added | removed | terminated | redescribed | property-changed",
    ),
    _parameter("previousDisplay", "out", "string", doc="The display before (re-described)"),
    _part(
        "property",
        0,
        "*",
        "One changed property",
        [
            _parameter("code", "out", "code", 1),
            _parameter("old", "out", "string", 0, "*", _VALUE_TYPES),
            _parameter("new", "out", "string", 0, "*", _VALUE_TYPES),
        ],
    ),
]


def _definition(id: str, name: str, kind: str, doc: str, instance: bool) -> Resource:
    code = id.removeprefix(f"{kind}-")
    return {
        "resourceType": "OperationDefinition",
        "id": id,
        "url": f"{CANONICAL}/OperationDefinition/{id}",
        "version": SOFTWARE_VERSION,
        "name": name,
        "title": f"{kind}/${code}",
        "status": "active",
        "kind": "operation",
        "date": RELEASE_DATE,
        "publisher": SOFTWARE,
        "description": doc,
        "affectsState": False,
        "code": code,
        "resource": [kind],
        "system": False,
        "type": True,
        "instance": instance,
    }


def versions(base: str) -> Resource:
    """$versions: the FHIR versions served, the asked base's one as default."""
    parameters = [{"name": "version", "valueCode": v} for v in FHIR_VERSIONS.values()]
    parameters.append({"name": "default", "valueCode": FHIR_VERSIONS[base]})
    return {"resourceType": "Parameters", "parameter": parameters}
