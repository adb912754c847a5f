"""Database models (SQLAlchemy 2.x): the system of record.

Times are stored as naive UTC and handed back as aware UTC (:class:`UTCDateTime`), so SQLite
and PostgreSQL behave the same. Grid arrays are stored as LZ4-framed little-endian bytes
(:func:`pack_array`), which round-trip bit for bit, NaN included; arrays stored zlib-compressed
by earlier versions are still read.
"""

from __future__ import annotations

import zlib
from datetime import date, datetime, timezone
from collections.abc import Collection
from typing import Any, cast, overload

import lz4.frame
import numpy as np
from sqlalchemy import (JSON, Boolean, Date, DateTime, Float, ForeignKey, Integer, LargeBinary,
                        String, Table, Text, TypeDecorator, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from schemas.daygrid import DayGrid, Source

ARRAY_DTYPES: dict[str, np.dtype[Any]] = {"f8": np.dtype("<f8"), "i1": np.dtype("i1")}


#: The first bytes of every LZ4 frame; zlib streams start otherwise (0x78).
_LZ4_MAGIC = b"\x04\x22\x4d\x18"


def pack_array(arr: np.ndarray | None) -> bytes | None:
    """Array -> LZ4-framed bytes (float64 or int8, little-endian). LZ4, not zlib: as small
    for a day grid's arrays and ~8x faster to write, ~10x to read."""
    if arr is None:
        return None
    dtype = ARRAY_DTYPES["i1"] if arr.dtype.kind == "i" else ARRAY_DTYPES["f8"]
    return lz4.frame.compress(np.ascontiguousarray(arr, dtype=dtype))  # reads the buffer


@overload
def unpack_array(blob: bytes, dtype: str) -> np.ndarray: ...


@overload
def unpack_array(blob: bytes | None, dtype: str) -> np.ndarray | None: ...


def unpack_array(blob: bytes | None, dtype: str) -> np.ndarray | None:
    """Inverse of :func:`pack_array` (and of its zlib predecessor); ``dtype`` is ``"f8"`` or
    ``"i1"``."""
    if blob is None:
        return None
    raw = lz4.frame.decompress(blob) if blob[:4] == _LZ4_MAGIC else zlib.decompress(blob)
    return np.frombuffer(raw, dtype=ARRAY_DTYPES[dtype]).copy()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; naive values are refused."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the database")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    pass


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class (``__table__`` is declared as a plain FromClause)."""
    return cast(Table, model.__table__)


class Patient(Base):
    """A patient and their care plan (procedure, start date, zone, team, overrides)."""

    __tablename__ = "patients"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team: Mapped[str] = mapped_column(String(64), default="default", index=True)
    procedure: Mapped[str] = mapped_column(String(32))
    start_date: Mapped[date] = mapped_column(Date)
    tz: Mapped[str] = mapped_column(String(64))
    overrides: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The last local day the alert rules judged (see ``rehabwatch.alerting``).
    evaluated_through: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: Bumped in the transaction of every write of the patient's daily summaries, so a
    #: reader holding decoded summaries knows whether they are still what is stored
    #: (``storage.summary_cache``).
    summaries_rev: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


def expire_loaded_patients(session: Session, ids: Collection[str], attribute: str) -> None:
    """Make the patients of ``ids`` already loaded in ``session`` read ``attribute`` again on
    next access: for writes made by a Core UPDATE, which the ORM's objects do not see."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Patient) and obj.id in ids:
            session.expire(obj, [attribute])


class SourceRow(Base):
    """A device or app that sent data for a patient."""

    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("patient_id", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    device: Mapped[str] = mapped_column(String(100), default="")
    serial: Mapped[str] = mapped_column(String(64), default="")
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Upload(Base):
    """Every upload, whatever became of it: content hash, format, status, counts, reason."""

    __tablename__ = "uploads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    format: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # stored | partial | duplicate | rejected
    reason: Mapped[str] = mapped_column(Text, default="")
    records: Mapped[int] = mapped_column(Integer, default=0)
    grids: Mapped[int] = mapped_column(Integer, default=0)
    steps: Mapped[float] = mapped_column(Float, default=0.0)
    skipped: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GridRow(Base):
    """One stored day grid: (patient, source, local day, resolution) is unique."""

    __tablename__ = "day_grids"
    # The unique key serves every lookup (all are by patient). On PostgreSQL the arrays,
    # compressed already, are never compressed again (migration 0006).
    __table_args__ = (UniqueConstraint("patient_id", "source_id", "local_date", "resolution_s"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    resolution_s: Mapped[int] = mapped_column(Integer)
    tz: Mapped[str] = mapped_column(String(64))
    n_slots: Mapped[int] = mapped_column(Integer)
    total_steps: Mapped[float] = mapped_column(Float)
    steps: Mapped[bytes] = mapped_column(LargeBinary)
    worn: Mapped[bytes] = mapped_column(LargeBinary)
    sedentary_s: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    upright_s: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    stepping_s: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    extra: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    origin: Mapped[str] = mapped_column(String(64), default="")
    upload_id: Mapped[int | None] = mapped_column(ForeignKey("uploads.id"), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[SourceRow] = relationship(lazy="joined")


class SyncEvent(Base):
    """A device sync reported by an export (e.g. Fitbit syncEvents), in UTC."""

    __tablename__ = "sync_events"
    __table_args__ = (UniqueConstraint("patient_id", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class DailySummaryRow(Base):
    """The stored daily summary of a patient's merged day (JSON of :class:`DailySummary`)."""

    __tablename__ = "daily_summaries"
    __table_args__ = (UniqueConstraint("patient_id", "local_date"),)  # serves lookups by patient
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    steps: Mapped[float | None] = mapped_column(Float, nullable=True)
    valid: Mapped[bool] = mapped_column(Boolean)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def grid_from_row(row: Any, patient_id: str) -> DayGrid:
    """The DayGrid stored in ``row``, a selected row of GridRow's columns (by name) and its
    source's key (as ``source_key``)."""
    return DayGrid(
        patient_id, Source.from_key(row.source_key), row.local_date, row.tz, row.resolution_s,
        steps=unpack_array(row.steps, "f8"), worn=unpack_array(row.worn, "i1"),
        sedentary_s=unpack_array(row.sedentary_s, "f8"),
        upright_s=unpack_array(row.upright_s, "f8"),
        stepping_s=unpack_array(row.stepping_s, "f8"),
        origin=row.origin, extra=dict(row.extra or {}))


def fill_row(row: dict[str, Any], grid: DayGrid) -> None:
    """Write ``grid``'s values into ``row``, GridRow's column values by name (keys are set by
    the caller)."""
    row.update(tz=grid.tz, n_slots=grid.n_slots, total_steps=grid.total_steps,
               steps=pack_array(grid.steps), worn=pack_array(grid.worn),
               sedentary_s=pack_array(grid.sedentary_s), upright_s=pack_array(grid.upright_s),
               stepping_s=pack_array(grid.stepping_s), extra=dict(grid.extra),
               origin=grid.origin, updated_at=utcnow())


class AlertRow(Base):
    """One alert episode. ``episode_open`` is True while the alert is active and NULL once
    resolved, so the unique constraint allows one active alert per (patient, rule, audience)
    and any number of resolved ones, on SQLite and PostgreSQL alike."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("patient_id", "rule", "audience", "episode_open"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"),
                                            index=True)
    rule: Mapped[str] = mapped_column(String(32))
    audience: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    episode_open: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    opened_on: Mapped[date] = mapped_column(Date)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    message: Mapped[str] = mapped_column(Text)
    last_evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    stage: Mapped[str] = mapped_column(String(32), default="")
    last_seen_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    snoozed_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    transitions: Mapped[list[AlertTransitionRow]] = relationship(
        order_by="AlertTransitionRow.id", lazy="selectin", cascade="all, delete-orphan")


class AlertTransitionRow(Base):
    """Every status change of an alert: who, when, why."""

    __tablename__ = "alert_transitions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")


class NotificationRow(Base):
    """Outbox of notifications: written with the alert change, delivered (and retried) after
    (``rehabwatch.notify``). ``id`` is deterministic, so the same notification is never queued
    twice. Undelivered, ``next_attempt_at`` is when it is due, or NULL once no attempt is left
    (failed for good, or no channel serves its route: ``last_error`` says which)."""

    __tablename__ = "notifications"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(32))
    route: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True,
                                                             index=True)
