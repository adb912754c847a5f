"""Shared fixtures. Real device files: those we may redistribute are in tests/data
(tests/data/ATTRIBUTION.md), the rest in ../shared/data beside the checkout (override with
RW_SHARED_DATA); device_file() and device_files() look in both."""

from __future__ import annotations

import fnmatch
import os
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
SHARED_DATA = Path(os.environ.get("RW_SHARED_DATA", REPO.parent / "shared" / "data"))
#: Set by .ci/run: a test whose device file is not found fails instead of being skipped.
REQUIRE_SHARED_DATA = os.environ.get("RW_REQUIRE_SHARED_DATA") == "1"


def _shared_only() -> dict[str, str]:
    """tests/data/SHARED_ONLY.txt: each file the tests read from the shared folder only -> why."""
    out, reason = {}, ""
    for line in (TEST_DATA / "SHARED_ONLY.txt").read_text().splitlines():
        if line.startswith("## "):
            reason = line[3:].strip()
        elif line.strip() and not line.startswith("#"):
            out[line.strip()] = reason
    return out


SHARED_ONLY = _shared_only()


def missing_data(reason: str) -> NoReturn:
    """Skip the test for want of a data file; fail it when RW_REQUIRE_SHARED_DATA=1."""
    if REQUIRE_SHARED_DATA:
        pytest.fail(f"{reason} (RW_REQUIRE_SHARED_DATA=1)", pytrace=False)
    pytest.skip(reason)


def device_file(relpath: str) -> Path:
    """The real device file at relpath (a path as under shared/data): the copy in tests/data,
    else the file in the shared folder; if neither exists, the test is skipped (failed under
    RW_REQUIRE_SHARED_DATA=1) with a reason naming the file and why it is not in tests/data."""
    for root in (TEST_DATA, SHARED_DATA):
        if (root / relpath).is_file():
            return root / relpath
    why = SHARED_ONLY.get(relpath, "not listed in tests/data/SHARED_ONLY.txt")
    where = "does not have it" if SHARED_DATA.is_dir() else "is absent"
    missing_data(f"{relpath} is not in tests/data ({why}) and the shared folder {SHARED_DATA}"
                 f" {where}; set RW_SHARED_DATA")


def device_files(pattern: str) -> list[str]:
    """Sorted paths (as under shared/data) of the real device files matching a glob pattern
    ("*" and "?" within one path segment): copies in tests/data, files in the shared folder,
    and the files of SHARED_ONLY.txt even when the shared folder is absent, so a test
    parametrized with them has a case per file, each skipped by device_file() if not here.
    Never empty: with no match at all, [pattern] itself (whose device_file() skips)."""
    found = {p.relative_to(root).as_posix() for root in (TEST_DATA, SHARED_DATA)
             for p in root.glob(pattern) if p.is_file()}
    segments = pattern.split("/")
    found |= {rel for rel in SHARED_ONLY if len(rel.split("/")) == len(segments) and all(
        fnmatch.fnmatchcase(part, seg) for part, seg in zip(rel.split("/"), segments))}
    return sorted(found) or [pattern]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The whole shared folder of real device files (see its SOURCES.md), for a test about
    all of it; for one file use device_file()."""
    if not SHARED_DATA.is_dir():
        missing_data(f"the shared folder of real device files {SHARED_DATA} is absent;"
                     " set RW_SHARED_DATA")
    return SHARED_DATA


def pytest_report_header() -> str:
    shared = "present" if SHARED_DATA.is_dir() else "absent"
    return (f"device files: {TEST_DATA}, then {SHARED_DATA} ({shared})"
            + (", RW_REQUIRE_SHARED_DATA=1" if REQUIRE_SHARED_DATA else ""))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line on what a plain clone leaves out (each skip's reason: pytest -rs)."""
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if "set RW_SHARED_DATA" in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} tests skipped: they need real device files that are not in"
            f" tests/data (licences: tests/data/SHARED_ONLY.txt) and not in {SHARED_DATA};"
            " set RW_SHARED_DATA to the shared folder (reasons per file: pytest -rs)")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a database on a real PostgreSQL server started for this test session."""
    from tests.pg_server import postgres_server

    with postgres_server() as url:
        yield url


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def empty_database(request: pytest.FixtureRequest, folder: Path) -> str:
    """URL of an empty database of the backend ``request.param``: SQLite in ``folder``, or
    the session's PostgreSQL server with its schema dropped."""
    from sqlalchemy import text

    from storage import database

    if request.param == "sqlite":
        return f"sqlite:///{folder / 'rw.db'}"
    url: str = request.getfixturevalue("postgres_url")
    with database.engine(url).begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    return url


@pytest.fixture(scope="module", params=BACKENDS)
def module_database_url(request: pytest.FixtureRequest,
                        tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database shared by one module's tests, on SQLite and PostgreSQL."""
    return empty_database(request, tmp_path_factory.mktemp("db"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database: SQLite in a temp dir, and PostgreSQL."""
    from storage import database

    url = empty_database(request, tmp_path)
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
