"""Real codes, descriptions and resources to draw requests from, read from our own server.

Reading them over HTTP ($expand, search) keeps the harness independent of the loader's
internals: whatever the server serves is what the scenarios ask for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

HCPCS_URL = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ALL_CODES_VS = (
    "https://hcpcs-tx.org/fhir/ValueSet/hcpcs-all",
    HCPCS_URL + "?fhir_vs",
)
BETOS_O1E_VS = "https://hcpcs-tx.org/fhir/ValueSet/hcpcs-betos-O1E"
JSON = {"Accept": "application/fhir+json"}


@dataclass
class Corpus:
    """What the scenarios draw from: every code with its display, the O1E value set, ..."""

    base: str  # FHIR base path on the server, e.g. "/r4"
    all_vs: str
    codes: list[tuple[str, str]]  # (code, display) of the all-codes value set
    betos_total: int
    betos_displays: list[str]
    cs_versions: list[str]
    conceptmaps: list[dict] = field(default_factory=list)  # R4/R5 ConceptMap resources


class CorpusError(RuntimeError):
    """The server did not serve what the scenarios need."""


def expand_all(client: httpx.Client, base: str, url: str, page: int = 1000) -> tuple[list, int]:
    """Page through ``url``'s expansion; return (contains, total)."""
    contains: list[dict] = []
    total = None
    while total is None or len(contains) < total:
        r = client.get(
            f"{base}/ValueSet/$expand",
            params={"url": url, "count": page, "offset": len(contains)},
            headers=JSON,
        )
        if r.status_code != 200:
            raise CorpusError(
                f"$expand {url} offset {len(contains)}: {r.status_code} {r.text[:300]}"
            )
        exp = r.json()["expansion"]
        got = exp.get("contains", [])
        contains += got
        total = exp.get("total", len(contains) if len(got) < page else None)
        if not got:
            break
    return contains, total or len(contains)


def fetch_corpus(server: str | httpx.Client, base: str = "/r4") -> Corpus:
    """Read the corpus from a server URL (e.g. http://127.0.0.1:8080) or a ready client."""
    if isinstance(server, httpx.Client):
        return _read(server, base)
    with httpx.Client(base_url=server, timeout=60.0) as client:
        return _read(client, base)


def _read(client: httpx.Client, base: str) -> Corpus:
    """Read the corpus through ``client`` (its base_url is the server)."""
    errors = []
    for vs in ALL_CODES_VS:
        try:
            contains, _ = expand_all(client, base, vs)
            break
        except CorpusError as e:
            errors.append(str(e))
    else:
        raise CorpusError("no all-codes value set: " + " | ".join(errors))
    codes = [(c["code"], c.get("display", "")) for c in contains if "code" in c]
    betos, betos_total = expand_all(client, base, BETOS_O1E_VS)
    search = client.get(f"{base}/CodeSystem", params={"url": HCPCS_URL}, headers=JSON)
    versions = [
        e["resource"].get("version", "")
        for e in search.json().get("entry", [])
        if search.status_code == 200 and "resource" in e
    ]
    cms = client.get(f"{base}/ConceptMap", headers=JSON)
    conceptmaps = (
        [e["resource"] for e in cms.json().get("entry", []) if "resource" in e]
        if cms.status_code == 200
        else []
    )
    return Corpus(
        base=base,
        all_vs=vs,
        codes=codes,
        betos_total=betos_total,
        betos_displays=[c.get("display", "") for c in betos],
        cs_versions=[v for v in versions if v],
        conceptmaps=conceptmaps,
    )
