"""Read CMS HCPCS Level II releases and build their FHIR resources.

release = read_release("january-2026-alpha-numeric-hcpcs-file.zip")
codesystem = to_fhir(release)              # R5 dict; to_fhir(release, "r4") for R4
"""

from .errors import ReleaseError
from .fhir import (
    HCPCS_ALIASES,
    HCPCS_OID,
    HCPCS_URL,
    code_table_codesystems,
    hcpcs_valuesets,
    to_fhir,
)
from .reader import Coding, Concept, Release, read_release

__all__ = [
    "HCPCS_ALIASES",
    "HCPCS_OID",
    "HCPCS_URL",
    "Coding",
    "Concept",
    "Release",
    "ReleaseError",
    "code_table_codesystems",
    "hcpcs_valuesets",
    "read_release",
    "to_fhir",
]
