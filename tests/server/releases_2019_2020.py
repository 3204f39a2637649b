"""An engine over the real 2019 and 2020 CMS releases, built once per test session for the
HTTP-conventions tests (test_http_conventions, test_search_params, test_bundles,
test_capabilities, test_openapi)."""

from __future__ import annotations

from functools import cache

import codesystem
from terminology.engine import Engine
from terminology.loader import load_files

from .conftest import PROJECT

RELEASES = PROJECT / "data" / "releases"
FILES = ("2019-Alpha-Numeric-HCPCS-File.zip", "2020-Alpha-Numeric-HCPCS-File.zip")


@cache
def resources() -> tuple[dict, ...]:
    return tuple(load_files([RELEASES / name for name in FILES]))


@cache
def engine() -> Engine:
    return Engine(list(resources()), codesystem.HCPCS_ALIASES)
