"""ActiGraph ``.agd`` files: the SQLite database ActiLife writes, read without trusting it.

Safety (a hostile upload must not run anything or write anywhere): the bytes are copied to a
private temporary file (0600, in a 0700 folder, removed afterwards) and opened read-only and
immutable (``file:…?mode=ro&immutable=1``: no lock, no journal, no write), with ATTACH limited
to zero databases, extension loading off and ``trusted_schema`` off. The schema is checked
before any data is read: every object must be a plain table or an index (views, triggers and
virtual tables are refused: ActiLife writes none) and ``settings`` and ``data`` must have the
columns read. Only the fixed SELECTs below run, ``NOT INDEXED`` (no index is consulted),
behind an authorizer that allows nothing but reading those two tables, the schema and
``PRAGMA table_info``. Every sqlite3 error becomes :class:`CorruptFile` naming the file.

Content read: ``settings`` (epochlength, devicename, deviceserial, limb, decimal, grouping,
epochcount, finished) and ``data`` (``dataTimestamp`` in .NET ticks, 100 ns since 0001-01-01,
on the device's local clock; per-epoch ``steps``; ``inclineOff/Standing/Sitting/Lying``
seconds when the inclinometer was on). Numbers SQLite holds as text are read with the file's
own separators (``decimal``/``grouping``: ActiLife in a Belgian culture writes "4,03"). Other
tables (sleep, filters, capsense, …) and the axis counts and lux are not read. A file with
fewer epochs than its settings declare, or marked unfinished, is partial.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from ingest.actigraph_epochs import Recording, check_epoch
from ingest.base import ParseResult
from ingest.errors import CorruptFile, UnsupportedFormat

SQLITE_MAGIC = b"SQLite format 3\x00"
#: .NET ticks (100 ns) from 0001-01-01 to 1970-01-01, and per second.
TICKS_AT_UNIX_EPOCH, TICKS_PER_S = 621_355_968_000_000_000, 10_000_000
SETTINGS_COLUMNS = ("settingName", "settingValue")
REQUIRED_DATA = ("dataTimestamp", "steps")
INCLINE_COLUMNS = ("inclineOff", "inclineStanding", "inclineSitting", "inclineLying")
_SCHEMA_TABLES = ("sqlite_master", "sqlite_schema")
_READABLE = {"settings", "data", *_SCHEMA_TABLES}
_SCHEMA = "SELECT type, name, sql FROM sqlite_master"
_SETTINGS = "SELECT settingName, settingValue FROM settings NOT INDEXED"
_TIMES = "SELECT dataTimestamp FROM data NOT INDEXED"
_VALUES = {False: "SELECT steps FROM data NOT INDEXED",
           True: f"SELECT steps, {', '.join(INCLINE_COLUMNS)} FROM data NOT INDEXED"}


def read_agd(data: bytes, filename: str, result: ParseResult) -> Recording:
    """The recording of an ``.agd`` upload (see the module docstring)."""
    if not data.startswith(SQLITE_MAGIC):
        raise CorruptFile(f"{filename}: not an ActiGraph .agd file (AGD files are SQLite "
                          "databases; this one does not start with the SQLite header)")
    try:
        with _opened(data) as conn:
            has_incline = _check_schema(conn, filename)
            settings = {str(k).lower(): str(v) for k, v in conn.execute(_SETTINGS) if k}
            ticks = _ticks(conn.execute(_TIMES).fetchall(), filename)
            values = _values(conn.execute(_VALUES[has_incline]).fetchall(), settings, filename)
    except sqlite3.Error as exc:
        raise CorruptFile(f"{filename}: unreadable ActiGraph .agd (SQLite: {exc})") from exc
    _partial(settings, len(ticks), result)
    return Recording(
        device=settings.get("devicename", "ActiGraph"), serial=settings.get("deviceserial", ""),
        epoch_s=check_epoch(_setting_number(settings, "epochlength", filename), filename),
        local_s=(ticks - TICKS_AT_UNIX_EPOCH) / TICKS_PER_S, steps=values[:, 0],
        incline=values[:, 1:] if has_incline else None, limb=settings.get("limb", ""),
        lines=np.arange(1, len(ticks) + 1))


@contextmanager
def _opened(data: bytes) -> Iterator[sqlite3.Connection]:
    """A locked-down read-only connection to a private copy of ``data``."""
    with tempfile.TemporaryDirectory(prefix="rehabwatch-agd-") as folder:
        path = Path(folder) / "upload.agd"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        uri = f"file:{quote(str(path))}?mode=ro&immutable=1"
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            if hasattr(conn, "enable_load_extension"):
                conn.enable_load_extension(False)
            conn.execute("PRAGMA trusted_schema = OFF")
            conn.set_authorizer(_authorize)
            yield conn


def _authorize(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    """Allow reading the schema, ``settings`` and ``data``, and ``PRAGMA table_info`` only."""
    allowed = (action == sqlite3.SQLITE_SELECT
               or (action == sqlite3.SQLITE_READ and arg1 in _READABLE)
               or (action == sqlite3.SQLITE_PRAGMA and arg1 == "table_info"
                   and arg2 in ("settings", "data")))
    return sqlite3.SQLITE_OK if allowed else sqlite3.SQLITE_DENY


def _check_schema(conn: sqlite3.Connection, filename: str) -> bool:
    """Refuse what ActiLife never writes; True when ``data`` has the inclinometer columns."""
    tables = set()
    for kind, name, sql in conn.execute(_SCHEMA):
        if kind not in ("table", "index") or (sql or "").lstrip().upper().startswith(
                "CREATE VIRTUAL"):
            what = "virtual table" if kind == "table" else kind
            raise CorruptFile(f"{filename}: holds a {what} ({name!r}), which ActiLife never "
                              "writes; refused without reading it")
        if kind == "table":
            tables.add(name)
    if not {"settings", "data"} <= tables:
        raise UnsupportedFormat(f"{filename}: an SQLite database without ActiLife's settings "
                                "and data tables, so not an ActiGraph .agd file")
    _require(conn, "settings", SETTINGS_COLUMNS, filename)
    columns = _require(conn, "data", REQUIRED_DATA, filename)
    return set(INCLINE_COLUMNS) <= columns


def _require(conn: sqlite3.Connection, table: str, needed: tuple[str, ...],
             filename: str) -> set[str]:
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    missing = [c for c in needed if c not in columns]
    if missing:
        raise CorruptFile(f"{filename}: the {table} table lacks {', '.join(missing)}")
    return columns


def _ticks(rows: list[tuple[Any, ...]], filename: str) -> np.ndarray:
    """dataTimestamp of every epoch, as integer .NET ticks."""
    bad = [i for i, (value,) in enumerate(rows, start=1) if not isinstance(value, int)]
    if bad:
        raise CorruptFile(f"{filename}: dataTimestamp is not a .NET tick count in "
                          f"{len(bad)} epoch(s) (data row {bad[0]}: {rows[bad[0] - 1][0]!r})")
    return np.array([value for (value,) in rows], dtype=np.int64)


def _values(rows: list[tuple[Any, ...]], settings: dict[str, str], filename: str) -> np.ndarray:
    """The numeric columns as floats (NULL = NaN); text is read with the file's separators."""
    decimal, grouping = settings.get("decimal", "."), settings.get("grouping", ",")
    if not rows:
        return np.empty((0, 1 + len(INCLINE_COLUMNS)))
    values = _plain(rows) if decimal == "." else None
    if values is None:
        values = np.array([[_number(v, decimal, grouping, f"{filename}: data row {i}")
                            for v in row] for i, row in enumerate(rows, start=1)],
                          dtype=np.float64)
    bad = np.flatnonzero((values < 0).any(axis=1))
    if bad.size:
        raise CorruptFile(f"{filename}: negative steps or inclinometer seconds in "
                          f"{bad.size} epoch(s) (data row {bad[0] + 1})")
    return values


def _plain(rows: list[tuple[Any, ...]]) -> np.ndarray | None:
    """``rows`` as floats when numpy can read every value (numbers, NULL, text like "1.5")."""
    try:
        return np.array(rows, dtype=np.float64)
    except (ValueError, TypeError):
        return None


def _number(value: Any, decimal: str, grouping: str, where: str) -> float:
    """A number SQLite returned as a number, NULL (NaN) or text in the file's culture."""
    if value is None or isinstance(value, (int, float)):
        return np.nan if value is None else float(value)
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    try:
        return float(text.strip().replace(grouping, "").replace(decimal, "."))
    except ValueError:
        raise CorruptFile(f"{where}: {text!r} is not a number (decimal separator "
                          f"{decimal!r})") from None


def _setting_number(settings: dict[str, str], name: str, filename: str) -> float:
    if name not in settings:
        raise CorruptFile(f"{filename}: the settings table has no {name}")
    return _number(settings[name], settings.get("decimal", "."), settings.get("grouping", ","),
                   f"{filename}: setting {name}")


def _partial(settings: dict[str, str], epochs: int, result: ParseResult) -> None:
    """A file holding fewer epochs than declared, or not finished by ActiLife, is partial."""
    declared = settings.get("epochcount", "")
    if declared.isdigit() and int(declared) > epochs:
        result.partial = (f"holds {epochs} of the {int(declared)} epochs its settings declare "
                          "(cut short); kept those")
    elif settings.get("finished", "").lower() == "false":
        result.partial = ("its settings say ActiLife did not finish writing it "
                          f"(finished = false); kept the {epochs} epochs it holds")
