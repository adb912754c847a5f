"""Engine, sessions and schema migrations (Alembic)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
import msgspec
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from schemas.records_json import to_json

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # Foreign keys are off by default in SQLite; WAL lets the API read while a worker writes.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _json_text(value: object) -> str:
    return to_json(value).decode()


@lru_cache(maxsize=8)
def engine(url: str) -> Engine:
    """One engine per URL for the life of the process. JSON columns are written and read by
    msgspec (:mod:`schemas.records_json`): ~5x faster than the json module, which cost ~10 %
    of the worker's grid store (a summary payload and a grid's extras per day)."""
    eng = create_engine(url, future=True, pool_pre_ping=True, json_serializer=_json_text,
                        json_deserializer=msgspec.json.decode)
    if eng.dialect.name == "sqlite":
        event.listen(eng, "connect", _sqlite_pragmas)
    return eng


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = sessionmaker(engine(url), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def schema_problem(url: str) -> str | None:
    """Why the database at ``url`` cannot be used as is (no schema, or an older one), or None."""
    with engine(url).connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    if current == head:
        return None
    state = "has no rehabwatch tables" if current is None else f"is at schema {current}, not {head}"
    return f"the database {state}: run `rehabwatch init`"


def upgrade(url: str) -> None:
    """Create or upgrade the schema to the newest migration."""
    command.upgrade(alembic_config(url), "head")
