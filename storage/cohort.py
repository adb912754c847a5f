"""Reads behind the cohort overview: a few statements for a whole cohort, never one per
patient.

Each function takes the ids of the patients on the page (bound as one parameter,
:func:`storage.sql.one_of`) and answers for all of them at once.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, Float, Integer, Row, String, column, func, select, text
from sqlalchemy.orm import Session

from storage.sql import dialect_of, one_of
from storage.tables import AlertRow, DailySummaryRow, Patient, Upload, table_of

#: Upload statuses that brought data.
DATA_STATUSES = ("stored", "partial")


@dataclass(frozen=True)
class DayRow:
    """What the overview needs of one stored daily summary. ``worn``: worn minutes (read
    only for invalid days; a valid day reports 1, enough to say it was worn)."""

    local_date: date
    steps: float | None
    valid: bool
    worn: int


def cohort_patients(session: Session, teams: Collection[str] | None,
                    procedure: str | None = None) -> list[Row[Any]]:
    """The patients of ``teams`` (None: every team), optionally of one procedure, by id."""
    table = table_of(Patient)
    query = select(table.c.id, table.c.team, table.c.procedure, table.c.start_date,
                   table.c.tz, table.c.overrides, table.c.last_sync_at).order_by(table.c.id)
    if teams is not None:
        query = query.where(one_of(table.c.team, teams))
    if procedure is not None:
        query = query.where(table.c.procedure == procedure)
    return list(session.execute(query))


#: Summaries on the days of a JSON list of windows ``[[patient, first, last], ...]``; the
#: payload is opened only on invalid days, for their worn minutes.
_WINDOWED_DAYS = {
    "sqlite": """
        SELECT s.patient_id, s.local_date, s.steps, s.valid,
               CASE WHEN s.valid THEN 1
                    ELSE coalesce(json_extract(s.payload, '$.wear_minutes'), 0) END AS worn
        FROM json_each(:windows) AS w
        JOIN daily_summaries AS s ON s.patient_id = json_extract(w.value, '$[0]')
         AND s.local_date BETWEEN json_extract(w.value, '$[1]') AND json_extract(w.value, '$[2]')""",
    "postgresql": """
        SELECT s.patient_id, s.local_date, s.steps, s.valid,
               CASE WHEN s.valid THEN 1
                    ELSE coalesce(CAST(s.payload ->> 'wear_minutes' AS integer), 0) END AS worn
        FROM jsonb_to_recordset(CAST(:windows AS jsonb)) AS w(pid text, lo date, hi date)
        JOIN daily_summaries AS s ON s.patient_id = w.pid AND s.local_date BETWEEN w.lo AND w.hi""",
}


def summary_days(session: Session, windows: Mapping[str, Sequence[tuple[date, date]]]
                 ) -> dict[str, list[DayRow]]:
    """Each patient's stored days within its windows (first, last; they must not overlap),
    in one statement; in no particular order."""
    dialect = dialect_of(session)
    spans: list[Any] = [(pid, lo.isoformat(), hi.isoformat())
                        for pid, ws in windows.items() for lo, hi in ws]
    if dialect == "postgresql":
        spans = [{"pid": pid, "lo": lo, "hi": hi} for pid, lo, hi in spans]
    query = text(_WINDOWED_DAYS[dialect]).columns(
        column("patient_id", String), column("local_date", Date), column("steps", Float),
        column("valid", Boolean), column("worn", Integer))
    out: dict[str, list[DayRow]] = {}
    if not spans:
        return out
    for pid, day, steps, valid, worn in session.execute(query, {"windows": json.dumps(spans)}):
        out.setdefault(pid, []).append(DayRow(day, steps, bool(valid), int(worn)))
    return out


def last_valid_days(session: Session, patient_ids: Collection[str]) -> dict[str, date]:
    """Each patient's newest valid day (patients without one are left out)."""
    t = DailySummaryRow
    return dict(session.execute(  # type: ignore[arg-type]
        select(t.patient_id, func.max(t.local_date))
        .where(one_of(t.patient_id, patient_ids), t.valid.is_(True)).group_by(t.patient_id)))


def last_uploads(session: Session, patient_ids: Collection[str]
                 ) -> dict[str, tuple[datetime | None, int]]:
    """Per patient who sent anything: when the newest upload that brought data arrived (None
    if none did), and how many uploads they sent in all."""
    with_data = func.max(Upload.received_at).filter(Upload.status.in_(DATA_STATUSES))
    rows = session.execute(select(Upload.patient_id, with_data, func.count())
                           .where(one_of(Upload.patient_id, patient_ids))
                           .group_by(Upload.patient_id))
    return {pid: (at, n) for pid, at, n in rows}


def staff_alert_counts(session: Session, patient_ids: Collection[str]
                       ) -> dict[str, dict[tuple[str, str], int]]:
    """Active alerts for the care team (not the patient's own nudges), per patient, counted
    by (severity, status)."""
    rows = session.execute(select(AlertRow.patient_id, AlertRow.severity, AlertRow.status,
                                  func.count())
                           .where(one_of(AlertRow.patient_id, patient_ids),
                                  AlertRow.episode_open.is_(True),
                                  AlertRow.audience != "patient")
                           .group_by(AlertRow.patient_id, AlertRow.severity, AlertRow.status))
    out: dict[str, dict[tuple[str, str], int]] = {}
    for pid, severity, status, n in rows:
        out.setdefault(pid, {})[(severity, status)] = n
    return out
