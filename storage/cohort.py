"""Reads behind the cohort overview: a few statements for a whole cohort, never one per
patient.

Each function takes the ids of the patients on the page (bound as one parameter,
:func:`storage.sql.one_of`) and answers for all of them at once.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
from sqlalchemy import Row, func, insert, select, text
from sqlalchemy.orm import Session

from storage.api_tables import AuditRow
from storage.sql import dialect_of, one_of
from storage.tables import AlertRow, DailySummaryRow, Patient, Upload, table_of

#: Upload statuses that brought data.
DATA_STATUSES = ("stored", "partial")


def cohort_patients(session: Session, teams: Collection[str] | None,
                    procedure: str | None = None) -> list[Row[Any]]:
    """The patients of ``teams`` (None: every team), optionally of one procedure, by id."""
    table = table_of(Patient)
    query = select(table.c.id, table.c.team, table.c.procedure, table.c.start_date,
                   table.c.tz, table.c.overrides, table.c.last_sync_at,
                   table.c.summaries_rev).order_by(table.c.id)
    if teams is not None:
        query = query.where(one_of(table.c.team, teams))
    if procedure is not None:
        query = query.where(table.c.procedure == procedure)
    return list(session.execute(query))


#: Summaries on the days of a JSON list of windows ``[[patient, first, last], ...]``, as
#: numbers only (window index, the day's proleptic ordinal as ``date.toordinal``, steps, valid,
#: worn minutes), so the rows go straight into a numpy array; the payload is opened only on
#: invalid days, for their worn minutes (a valid day reports 1: it was worn).
_WINDOWED_DAYS = {
    "sqlite": """
        SELECT w.key, CAST(julianday(s.local_date) - 1721424.5 AS INTEGER), s.steps, s.valid,
               CASE WHEN s.valid THEN 1
                    ELSE coalesce(json_extract(s.payload, '$.wear_minutes'), 0) END
        FROM json_each(:windows) AS w
        JOIN daily_summaries AS s ON s.patient_id = json_extract(w.value, '$[0]')
         AND s.local_date BETWEEN json_extract(w.value, '$[1]')
                              AND json_extract(w.value, '$[2]')""",
    "postgresql": """
        SELECT w.i, s.local_date - DATE '0001-01-01' + 1, s.steps, CAST(s.valid AS integer),
               CASE WHEN s.valid THEN 1
                    ELSE coalesce(CAST(s.payload ->> 'wear_minutes' AS integer), 0) END
        FROM jsonb_to_recordset(CAST(:windows AS jsonb)) AS w(i int, pid text, lo date, hi date)
        JOIN daily_summaries AS s ON s.patient_id = w.pid AND s.local_date BETWEEN w.lo AND w.hi""",
}

#: Columns of :func:`summary_days`' array.
WINDOW, ORDINAL, STEPS, VALID, WORN = range(5)


def summary_days(session: Session, windows: Sequence[tuple[str, date, date]]) -> np.ndarray:
    """The stored days of each window (patient, first, last), in one statement: a float
    array of one row per day, columns :data:`WINDOW` (index into ``windows``),
    :data:`ORDINAL`, :data:`STEPS` (NaN: none), :data:`VALID` (0/1), :data:`WORN`."""
    if not windows:
        return np.empty((0, 5))
    dialect = dialect_of(session)
    spans: list[Any] = [(pid, lo.isoformat(), hi.isoformat()) for pid, lo, hi in windows]
    if dialect == "postgresql":
        spans = [{"i": i, "pid": pid, "lo": lo, "hi": hi} for i, (pid, lo, hi) in enumerate(spans)]
    result = session.execute(text(_WINDOWED_DAYS[dialect]), {"windows": json.dumps(spans)})
    rows = [tuple(r) for r in result]  # numpy probes a Row as a mapping: ~20x slower
    return np.array(rows, dtype=float).reshape(len(rows), 5)


def last_valid_days(session: Session, patient_ids: Collection[str]) -> dict[str, date]:
    """Each patient's newest valid day (patients without one are left out)."""
    t = DailySummaryRow
    rows = session.execute(select(t.patient_id, func.max(t.local_date))
                           .where(one_of(t.patient_id, patient_ids), t.valid.is_(True))
                           .group_by(t.patient_id))
    return {pid: day for pid, day in rows}


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


def clinician_alerts_since(session: Session, teams: Collection[str] | None,
                           since: datetime) -> tuple[int, int]:
    """(clinician alerts opened since ``since``, patients enrolled) of ``teams`` (None: all):
    the two sides of the alert burden."""
    patients = select(Patient.id)
    if teams is not None:
        patients = patients.where(one_of(Patient.team, teams))
    opened = session.scalar(select(func.count()).select_from(AlertRow).where(
        AlertRow.patient_id.in_(patients.scalar_subquery()), AlertRow.audience == "clinician",
        AlertRow.opened_at >= since))
    enrolled = session.scalar(select(func.count()).select_from(patients.subquery()))
    return int(opened or 0), int(enrolled or 0)


def audit_each(session: Session, at: datetime, actor: str, role: str, action: str,
               patient_ids: Sequence[str], address: str) -> None:
    """One audit entry per patient of ``patient_ids`` (a page that showed their data), in
    one INSERT: a page of a cohort shows hundreds of patients."""
    if patient_ids:
        session.execute(insert(table_of(AuditRow)), [
            {"at": at, "actor": actor[:100], "role": role, "action": action,
             "patient_id": pid, "target": "", "address": address[:64], "outcome": "ok",
             "detail": {}} for pid in patient_ids])


def teams_of(session: Session, patient_ids: Collection[str]) -> dict[str, str]:
    """Each patient's team."""
    return {pid: team for pid, team in session.execute(
        select(Patient.id, Patient.team).where(one_of(Patient.id, patient_ids)))}
