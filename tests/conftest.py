"""Shared fixtures. Real device files live in ../shared/data beside the checkout
(override with RW_SHARED_DATA); files we may redistribute are copied into tests/data."""

from __future__ import annotations

import os
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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

    from storage import database

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rw.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        with database.engine(url).begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    database.upgrade(url)
    yield url
    database.engine(url).dispose()


@pytest.fixture
def rw(database_url: str, monkeypatch: pytest.MonkeyPatch,
       capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, Any]]:
    """Run the CLI against the test database; returns (exit code, parsed JSON or text)."""
    monkeypatch.setenv("RW_DATABASE_URL", database_url)

    def run(*argv: str) -> tuple[int, object]:
        from rehabwatch.cli import main

        code = main(list(argv))
        out = capsys.readouterr()
        text = out.out if code == 0 or out.out else out.err
        return code, (json.loads(text) if "--json" in argv and code == 0 else text)

    run("patient", "add", "P1", "--procedure", "microdiscectomy", "--start-date", "2024-05-01",
        "--tz", "Europe/London")
    return run


from tests.kafka_fixtures import kafka_broker  # noqa: E402,F401  (session-scoped real broker)
