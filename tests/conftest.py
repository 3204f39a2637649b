"""Shared test fixtures: where the ground truth in ../shared lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"


def shared_file(relative: str) -> Path:
    """A file from ../shared; skip when absent, except under CI where that is a failure."""
    path = SHARED / relative
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"missing ground-truth file under CI: {path}")
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture
def shared():
    """Fixture form of shared_file, for tests that prefer injection."""
    return shared_file
