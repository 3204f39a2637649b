"""The FHIR REST interactions that are not terminology operations: read (read.py), search
(search.py, with views.py for `_summary` / `_elements`) and the server's self-description
(capabilities.py: CapabilityStatement, TerminologyCapabilities, $versions).

Each FHIR base is served from its own FHIR release's resources (Engine.resources and
Engine.resource take the release): /r4 reads and searches the 4.0.1 copies of the FHIR core
code systems, as its $lookup does, /r5 the 5.0.0 ones, each under its own id
(administrative-gender on both: engine._published_ids).
"""

from __future__ import annotations

from terminology.outcome import TerminologyError
from terminology.registry import TYPES

RELEASES = {"r4": "4.0.1", "r5": "5.0.0"}
"""The FHIR release each base speaks (/fhir is /r4: api.BASES)."""

DEFINITIONS = "OperationDefinition"
SEARCHABLE = (*TYPES, DEFINITIONS)
"""What read and search serve: the terminology resources and our own OperationDefinitions."""


def check_type(resource_type: str, searchable: bool = False) -> None:
    """Only terminology resources are served (and, for read and search, our own
    OperationDefinitions): any other type is a 404, not an empty result."""
    if resource_type not in (SEARCHABLE if searchable else TYPES):
        text = f"Resource type '{resource_type}' is not supported by this server"
        raise TerminologyError.plain(404, "not-supported", text)
