"""Shared fixtures. Real device files live in ../shared/data beside the checkout
(override with RW_SHARED_DATA); files we may redistribute are copied into tests/data."""

from __future__ import annotations

import os
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a database on a real PostgreSQL server started for this test session."""
    from tests.pg_server import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database: SQLite in a temp dir, and PostgreSQL."""
    from sqlalchemy import text

    from rehabwatch import db

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rw.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        with db.engine(url).begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    db.upgrade(url)
    yield url
    db.engine(url).dispose()
