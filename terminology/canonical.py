"""FHIR canonical references, `url|version`: split and written in one place."""

from __future__ import annotations


def canonical_parts(value: str) -> tuple[str, str | None]:
    """'url|version' -> (url, version); 'url' -> (url, None)."""
    url, _, version = value.partition("|")
    return url, version or None


def canonical_of(url: str, version: str | None) -> str:
    """(url, version) -> 'url|version', or 'url' for a resource without a version."""
    return f"{url}|{version}" if version else url
