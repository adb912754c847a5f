"""Engine, sessions and schema migrations (Alembic). A database that cannot be used raises
:class:`StorageError` (the driver's error translated here, once), never a driver traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from typing import TYPE_CHECKING

import msgspec
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from schemas.errors import RehabwatchError
from schemas.records_json import to_json

if TYPE_CHECKING:  # Alembic loads only to migrate, not for every command
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The newest migration's revision: what :func:`check_schema` expects (a test checks it is
#: Alembic's head, so a new migration cannot forget it).
HEAD = "0007"


class StorageError(RehabwatchError):
    """The database cannot be used."""


class DatabaseUnavailable(StorageError):
    """The database cannot be reached or opened, or stayed locked past the wait."""


class SchemaMismatch(StorageError):
    """The database has no rehabwatch schema, or an older one."""


def safe_url(url: str) -> str:
    """``url`` without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"


@contextmanager
def _translated(url: str) -> Iterator[None]:
    """Driver errors about the database itself as :class:`DatabaseUnavailable`, naming the
    database (without its password) and the driver's first line."""
    try:
        yield
    except OperationalError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise DatabaseUnavailable(f"cannot use the database {safe_url(url)}: {first} "
                                  "(RW_DATABASE_URL)") from exc


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
    try:
        return _engine(url)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseUnavailable(f"RW_DATABASE_URL {safe_url(url)!r} is not a database URL "
                                  "rehabwatch can open (e.g. sqlite:///rehabwatch.db or "
                                  "postgresql+psycopg://user@host/db)") from exc


def _engine(url: str) -> Engine:
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
        with _translated(url):
            yield session
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def check_schema(url: str) -> None:
    """Raise :class:`SchemaMismatch` unless the database at ``url`` has the current schema
    (read from Alembic's version table with one query, without loading Alembic)."""
    with _translated(url), engine(url).connect() as conn:
        current = (conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                   if inspect(conn).has_table("alembic_version") else None)
    if current != HEAD:
        state = ("has no rehabwatch tables" if current is None
                 else f"is at schema {current}, not {HEAD}")
        raise SchemaMismatch(f"the database {state}: run `rehabwatch init` "
                             f"(RW_DATABASE_URL is {safe_url(url)})")


def upgrade(url: str) -> None:
    """Create or upgrade the schema to the newest migration."""
    from alembic import command

    with _translated(url):
        command.upgrade(alembic_config(url), "head")
