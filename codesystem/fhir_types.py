"""Names for FHIR JSON as this project builds and reads it (R5 unless a name says otherwise).

FHIR JSON is open: a resource has dozens of optional elements whose types depend on the
resource type, and the engine adds and reads them by name. A TypedDict per resource would
restate the specification without catching more, so these aliases say what a value *is*;
`fhir.resources` validates the shapes we emit, in tests. Both packages use them
(codesystem/ builds resources, terminology/ serves them), so they live in the lower one.
"""

from typing import Any, TypeAlias

JSON: TypeAlias = dict[str, Any]
"""A FHIR JSON object (a resource, an element or a backbone element) as orjson parses it."""

Resource: TypeAlias = JSON
"""A FHIR resource as a JSON object: it has `resourceType`."""
