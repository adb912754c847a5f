"""Database wiring of the pure processors: grids in, daily summaries and alerts out.

The batch command (``rehabwatch evaluate``) and the stream agents call the same functions,
so both paths give the same results on the same data.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import String, column, delete, select, text, update
from sqlalchemy.orm import Session

from storage.grids import stored_grids, upsert_grid
from processors.merge import merge_day
from processors.summary import summarize_days
from storage.summary_cache import Span, SummaryCache, merged_spans
from schemas.daygrid import DayGrid
from storage.tables import (DailySummaryRow, GridRow, Patient, expire_loaded_patients,
                            utcnow)
from schemas.protocol import CarePlan, personal_baseline, protocol_for
from schemas.records import DailySummary
from schemas.records_json import from_json, to_builtins
from storage.sql import conflict_insert, dialect_of, one_of


def store_grid(session: Session, grid: DayGrid) -> bool:
    """Idempotent overlay upsert of one grid; True when the stored grid changed."""
    return upsert_grid(session, grid)


def build_summaries(grids: list[DayGrid]) -> list[DailySummary]:
    """Pure: one summary per local day present in ``grids`` (any order), by date."""
    by_day: dict[date, list[DayGrid]] = {}
    for grid in grids:
        by_day.setdefault(grid.local_date, []).append(grid)
    return summarize_days([merge_day(day_grids) for _, day_grids in sorted(by_day.items())])


def summarize_day(session: Session, patient_id: str, day: date) -> DailySummary | None:
    """Merge and summarize one stored day, and store the summary (None: no data that day)."""
    found = build_summaries(stored_grids(session, patient_id, day, day))
    if not found:
        gone = session.execute(delete(DailySummaryRow).where(
            DailySummaryRow.patient_id == patient_id, DailySummaryRow.local_date == day))
        if gone.rowcount:
            bump_summaries_rev(session, [patient_id])
        return None
    upsert_summaries(session, found)
    return found[0]


def summarize_range(session: Session, patient_id: str, first: date | None,
                    last: date | None) -> list[DailySummary]:
    """Summaries (computed from the stored grids, not stored) for days in a range."""
    first = first or date.min
    last = last or date.max
    return build_summaries(stored_grids(session, patient_id, first, last))


def data_days(session: Session, patient_id: str) -> tuple[date, date] | None:
    """First and last local day with a stored grid."""
    row = session.execute(select(GridRow.local_date).where(GridRow.patient_id == patient_id)
                          .order_by(GridRow.local_date)).scalars().all()
    return (row[0], row[-1]) if row else None


def upsert_summaries(session: Session, summaries: Sequence[DailySummary]) -> dict[str, int]:
    """Insert or update the stored summary of each day: one INSERT ... ON CONFLICT DO UPDATE
    for all (SQLite and PostgreSQL both have it). Returns each patient's new
    ``summaries_rev`` (:func:`bump_summaries_rev`)."""
    if not summaries:
        return {}
    stmt = conflict_insert(session, DailySummaryRow.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["patient_id", "local_date"],
        set_={name: stmt.excluded[name] for name in ("steps", "valid", "payload", "updated_at")})
    at = utcnow()
    session.execute(stmt, [{"patient_id": s.patient_id, "local_date": s.local_date,
                            "steps": s.steps, "valid": s.valid, "payload": to_builtins(s),
                            "updated_at": at} for s in summaries])
    return bump_summaries_rev(session, {s.patient_id for s in summaries})


def bump_summaries_rev(session: Session, patient_ids: Collection[str]) -> dict[str, int]:
    """Count one more write of the patients' summaries (call in the writing transaction);
    their new ``summaries_rev`` by patient. The UPDATE locks the rows, so concurrent writers
    get distinct, increasing revisions (see :mod:`storage.summary_cache`)."""
    table = Patient.__table__
    wanted = list(patient_ids)
    out: dict[str, int] = {}
    for i in range(0, len(wanted), _PATIENT_CHUNK):
        out.update((pid, rev) for pid, rev in session.execute(
            update(table).where(one_of(table.c.id, wanted[i:i + _PATIENT_CHUNK]))
            .values(summaries_rev=table.c.summaries_rev + 1)
            .returning(table.c.id, table.c.summaries_rev)))
    expire_loaded_patients(session, out, "summaries_rev")
    return out


#: Patients per query in :func:`stored_summaries` (bounds the size of one query's window list).
_PATIENT_CHUNK = 500

#: The stored summaries on the days of a JSON list of windows ``[[patient, first, last]...]``,
#: by date. The windows travel as one JSON parameter, so the statement is the same text every
#: time (a VALUES list would be compiled anew for each batch: ~40 µs per window).
_WINDOWED_SUMMARIES = {
    "sqlite": """
        SELECT s.patient_id, s.payload AS payload FROM json_each(:windows) AS w
        JOIN daily_summaries AS s ON s.patient_id = json_extract(w.value, '$[0]')
         AND s.local_date BETWEEN json_extract(w.value, '$[1]') AND json_extract(w.value, '$[2]')
        ORDER BY s.local_date""",
    "postgresql": """
        SELECT s.patient_id, CAST(s.payload AS text) AS payload
        FROM jsonb_to_recordset(CAST(:windows AS jsonb)) AS w(pid text, lo date, hi date)
        JOIN daily_summaries AS s ON s.patient_id = w.pid AND s.local_date BETWEEN w.lo AND w.hi
        ORDER BY s.local_date""",
}


def stored_summaries(session: Session, windows: Mapping[str, Sequence[Span]],
                     cache: SummaryCache | None = None,
                     revisions: Mapping[str, int] | None = None
                     ) -> dict[str, list[DailySummary]]:
    """The stored summaries of each patient on the days of its windows (first, last), by
    date: one SELECT per :data:`_PATIENT_CHUNK` patients (a patient's windows are always read
    together, so its days stay in order). Payloads are read as text and decoded straight into
    summaries (:mod:`schemas.records_json`). With a ``cache`` and the ``summaries_rev`` of
    each patient read *before* this call (``revisions``), patients cached at that revision
    are not read, and the others are cached once read."""
    out: dict[str, list[DailySummary]] = {}
    if cache is not None and revisions is not None:
        for pid, spans in windows.items():
            found = cache.get(pid, revisions[pid], spans)
            if found is not None:
                out[pid] = found
    dialect = dialect_of(session)
    query = text(_WINDOWED_SUMMARIES[dialect]).columns(
        column("patient_id", String), column("payload", String))
    patients = [(pid, spans) for pid, spans in windows.items() if pid not in out]
    payloads: dict[str, list[str]] = {}
    for i in range(0, len(patients), _PATIENT_CHUNK):
        spans = [(pid, lo.isoformat(), hi.isoformat())
                 for pid, ws in patients[i:i + _PATIENT_CHUNK] for lo, hi in merged_spans(ws)]
        if dialect == "postgresql":
            spans = [{"pid": pid, "lo": lo, "hi": hi} for pid, lo, hi in spans]
        if spans:
            for pid, payload in session.execute(query, {"windows": json.dumps(spans)}):
                payloads.setdefault(pid, []).append(payload)
    for pid, wanted in patients:
        # One JSON array per patient: one decoder call for all its days.
        texts = payloads.get(pid)
        found = from_json(f"[{','.join(texts)}]", list[DailySummary]) if texts else []
        if cache is not None and revisions is not None:
            cache.put(pid, revisions[pid], wanted, found)
        if found:
            out[pid] = found
    return out


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


class PatientFields(Protocol):
    """What plans and evaluation read of a patient: a :class:`Patient`, or a selected row of
    its table's columns (cheaper to load: no ORM object)."""

    id: str
    procedure: str
    start_date: date
    tz: str
    overrides: dict[str, Any] | None
    last_sync_at: datetime | None
    evaluated_through: date | None
    summaries_rev: int


def plan_of(patient: PatientFields) -> CarePlan:
    """The patient's plan as enrolled, without the personal baseline."""
    return CarePlan(patient.id, patient.procedure, patient.start_date, patient.tz,
                    dict(patient.overrides or {}))


def baseline_window(patient: PatientFields) -> tuple[date, date]:
    """First and last day of the protocol's personal-baseline window."""
    lo, hi = protocol_for(patient.procedure).baseline_window_days
    return patient.start_date + timedelta(days=lo), patient.start_date + timedelta(days=hi)


def with_baseline(plan: CarePlan, summaries: Sequence[DailySummary]) -> CarePlan:
    """``plan`` with the personal baseline of ``summaries`` (any days; the window is picked)."""
    baseline = personal_baseline(summaries, plan)
    return dataclasses.replace(plan, baseline=baseline) if baseline is not None else plan


def care_plan(session: Session, patient: Patient) -> CarePlan:
    """The patient's plan, with the personal baseline from their stored grids."""
    return with_baseline(plan_of(patient), summarize_range(session, patient.id,
                                                           *baseline_window(patient)))
