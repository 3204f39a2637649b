"""The packages type-check: mypy --strict over codesystem/ and terminology/ runs with the
tests, so CI enforces it (configuration: [tool.mypy] in pyproject.toml).

mypy keeps its incremental cache in .mypy_cache/ at the project root: a run after a small
change rechecks only what it touches.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]


def test_mypy_strict_is_clean() -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.fail("mypy is not installed: pip install -e '.[test]'")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(PROJECT / "pyproject.toml")],
        cwd=PROJECT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
