"""Read CMS HCPCS Level II releases and build their FHIR resources.

release = read_release("january-2026-alpha-numeric-hcpcs-file.zip")
codesystem = to_fhir(release)              # R5 dict; to_fhir(release, "r4") for R4
changes = compare_releases(old_codesystem, codesystem)   # across releases: history.py
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
from .history import (
    CodeChange,
    PropertyChange,
    ReleaseChanges,
    change_valuesets,
    changes_to_parameters,
    compare_releases,
    format_changes,
    replacements_conceptmap,
)
from .reader import Coding, Concept, Release, read_release

__all__ = [
    "HCPCS_ALIASES",
    "HCPCS_OID",
    "HCPCS_URL",
    "CodeChange",
    "Coding",
    "Concept",
    "PropertyChange",
    "Release",
    "ReleaseChanges",
    "ReleaseError",
    "change_valuesets",
    "changes_to_parameters",
    "code_table_codesystems",
    "compare_releases",
    "format_changes",
    "hcpcs_valuesets",
    "read_release",
    "replacements_conceptmap",
    "to_fhir",
]
