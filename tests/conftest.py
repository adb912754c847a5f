"""Shared fixtures. Real device files live in ../shared/data beside the checkout
(override with RW_SHARED_DATA); files we may redistribute are copied into tests/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RW_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of real device exports (see its SOURCES.md)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real device files not found at {SHARED_DATA}; set RW_SHARED_DATA")
    return SHARED_DATA
