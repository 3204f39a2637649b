"""CodeSystem/$changes (custom operation): what changed between two releases of a code system.

Inputs `system`, `fromVersion`, `toVersion` (resolved to two CodeSystem dicts by the engine);
output the Parameters documented in codesystem.history.changes_to_parameters: fromVersion,
toVersion, a count per kind of change, then one `change` per code (code, display, kind 1..*,
previousDisplay, and per changed property its old and new values).
"""

from __future__ import annotations

from codesystem.history import changes_to_parameters, compare_releases


def changes(old_cs: dict, new_cs: dict) -> dict:
    """The $changes response (R5 Parameters) from the older to the newer CodeSystem."""
    return changes_to_parameters(compare_releases(old_cs, new_cs))
