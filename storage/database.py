"""Engine, sessions and schema migrations (Alembic). A database that cannot be used raises
:class:`StorageError` (the driver's error translated here, once), never a driver traceback.

Concurrent use: a unit of work is one short transaction (:func:`session_scope`). On SQLite a
writing unit starts with ``BEGIN IMMEDIATE``, so it takes the one write lock before it reads
(a deferred transaction that read first and then wanted to write would fail at once when
another writer committed in between). Writers wait for it by retrying every few
milliseconds for up to :data:`LOCK_WAIT_S`, and a process that just committed a write waits
:data:`HANDOFF_S` before its next one, so a long run of short transactions (``evaluate``)
lets a waiting ingest in between two of them. (SQLite's own busy handler polls every 100 ms
after the first few tries: a waiter would almost never hit the microseconds between two
transactions of a busy writer, and waited for the whole run.) A read-only unit
(``write=False``) never waits: WAL lets it read beside a writer.

On PostgreSQL a unit waits at most :data:`LOCK_WAIT_S` for a row lock (``lock_timeout``,
unless the URL or the server sets one); a unit that must not be raced (an upload, an
evaluation, an alert action) first locks its patients' rows (:func:`storage.patients.lock`).
A lock that outlasts the wait is :class:`DatabaseUnavailable`, saying to try again.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from typing import TYPE_CHECKING

import msgspec
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
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
#: How long a unit of work waits for another one's lock before it gives up (seconds). Set
#: another wait in the URL: ``sqlite:///rw.db?timeout=30``, or on PostgreSQL
#: ``?options=-c%20lock_timeout%3D30s``.
LOCK_WAIT_S = 10.0
#: SQLite: the pause before a write transaction that follows this process's last one
#: closer than this (seconds), and the longest pause between two tries for the write lock.
HANDOFF_S = 0.002
_RETRY_S = 0.001
#: Execution option of a read-only unit (no ``BEGIN IMMEDIATE`` on SQLite).
_READ_ONLY = "rehabwatch_read_only"
#: When this process last committed a write transaction on SQLite (time.monotonic()).
_last_write = [0.0]


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
        if _is_lock_wait(exc):
            raise DatabaseUnavailable(
                f"the database {safe_url(url)} stayed locked by another rehabwatch command "
                f"past the wait ({first}); nothing was changed: try again") from exc
        raise DatabaseUnavailable(f"cannot use the database {safe_url(url)}: {first} "
                                  "(RW_DATABASE_URL)") from exc


def _is_lock_wait(exc: OperationalError) -> bool:
    """SQLite's busy error, or PostgreSQL's lock timeout (SQLSTATE 55P03) or deadlock
    (40P01)."""
    code = getattr(exc.orig, "sqlstate", None)
    return code in ("55P03", "40P01") or "database is locked" in str(exc.orig)


def _sqlite_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # Foreign keys are off by default in SQLite; WAL lets readers read while one writes.
    # The driver's own BEGIN is turned off: _sqlite_begin says which one (module docstring).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


def _sqlite_begin(wait_s: float) -> Callable[[Connection], None]:
    def begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_READ_ONLY, False):
            conn.exec_driver_sql("BEGIN")
            return
        time.sleep(max(0.0, _last_write[0] + HANDOFF_S - time.monotonic()))
        deadline = time.monotonic() + wait_s
        conn.exec_driver_sql("PRAGMA busy_timeout = 0")  # the tries below are the wait
        try:
            while True:
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                    return
                except OperationalError as exc:
                    if not (isinstance(exc.orig, sqlite3.OperationalError)
                            and "locked" in str(exc.orig) and time.monotonic() < deadline):
                        raise
                time.sleep(random.uniform(_RETRY_S / 5, _RETRY_S))
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
    return begin


def _sqlite_commit(conn: Connection) -> None:
    if not conn.get_execution_options().get(_READ_ONLY, False):
        _last_write[0] = time.monotonic()


def _postgresql_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # A row lock is waited for LOCK_WAIT_S at most, unless the URL or the server says.
    autocommit, dbapi_conn.autocommit = dbapi_conn.autocommit, True
    with dbapi_conn.cursor() as cur:
        cur.execute("SHOW lock_timeout")
        if cur.fetchone()[0] == "0":
            cur.execute(f"SET lock_timeout = {int(LOCK_WAIT_S * 1000)}")
    dbapi_conn.autocommit = autocommit


def _json_text(value: object) -> str:
    return to_json(value).decode()


@lru_cache(maxsize=8)
def engine(url: str) -> Engine:
    try:
        return _engine(url)
    except (ArgumentError, ImportError, ValueError) as exc:
        raise DatabaseUnavailable(f"RW_DATABASE_URL {safe_url(url)!r} is not a database URL "
                                  "rehabwatch can open (e.g. sqlite:///rehabwatch.db or "
                                  "postgresql+psycopg://user@host/db)") from exc


def _engine(url: str) -> Engine:
    """One engine per URL for the life of the process. JSON columns are written and read by
    msgspec (:mod:`schemas.records_json`): ~5x faster than the json module, which cost ~10 %
    of the worker's grid store (a summary payload and a grid's extras per day)."""
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    wait = {"timeout": LOCK_WAIT_S} if sqlite and "timeout" not in parsed.query else {}
    eng = create_engine(url, future=True, pool_pre_ping=True, json_serializer=_json_text,
                        json_deserializer=msgspec.json.decode, connect_args=wait)
    if sqlite:
        wait_s = float(str(parsed.query.get("timeout", LOCK_WAIT_S)))
        event.listen(eng, "connect", _sqlite_connect)
        event.listen(eng, "begin", _sqlite_begin(wait_s))
        event.listen(eng, "commit", _sqlite_commit)
    elif eng.dialect.name == "postgresql":
        event.listen(eng, "connect", _postgresql_connect)
    return eng


@lru_cache(maxsize=8)
def _reader(url: str) -> Engine:
    return engine(url).execution_options(**{_READ_ONLY: True})


@contextmanager
def session_scope(url: str, write: bool = True) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error: one unit of work.
    ``write=False`` for a unit that only reads (module docstring); keep writing units short."""
    session = sessionmaker(engine(url) if write else _reader(url), expire_on_commit=False)()
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
    with _translated(url), _reader(url).connect() as conn:
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
