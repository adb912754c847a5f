"""Stored daily summaries: what the rules judged, one row per (patient, local day).

Every write of a patient's summaries bumps ``patients.summaries_rev`` in the same
transaction, so the worker's :class:`storage.summary_cache.SummaryCache` knows when its
copy is stale.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import String, column, delete, select, text, update
from sqlalchemy.orm import Session

from schemas.records import DailySummary
from schemas.records_json import from_json, to_builtins
from storage.grids import stored_days
from storage.sql import conflict_insert, dialect_of, one_of, rowcount
from storage.summary_cache import Span, SummaryCache, merged_spans
from storage.tables import DailySummaryRow, Patient, expire_loaded_patients, table_of, utcnow


def upsert_summaries(session: Session, summaries: Sequence[DailySummary]) -> dict[str, int]:
    """Insert or update the stored summary of each day: one INSERT ... ON CONFLICT DO UPDATE
    for all (SQLite and PostgreSQL both have it). Returns each patient's new
    ``summaries_rev`` (:func:`bump_summaries_rev`)."""
    if not summaries:
        return {}
    stmt = conflict_insert(session, table_of(DailySummaryRow))
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
    table = table_of(Patient)
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
        for pid, wanted_spans in windows.items():
            found = cache.get(pid, revisions[pid], wanted_spans)
            if found is not None:
                out[pid] = found
    dialect = dialect_of(session)
    query = text(_WINDOWED_SUMMARIES[dialect]).columns(
        column("patient_id", String), column("payload", String))
    patients = [(pid, spans) for pid, spans in windows.items() if pid not in out]
    payloads: dict[str, list[str]] = {}
    for i in range(0, len(patients), _PATIENT_CHUNK):
        rows = [(pid, lo.isoformat(), hi.isoformat())
                for pid, ws in patients[i:i + _PATIENT_CHUNK] for lo, hi in merged_spans(ws)]
        spans: list[Any] = ([{"pid": pid, "lo": lo, "hi": hi} for pid, lo, hi in rows]
                            if dialect == "postgresql" else rows)
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


def delete_days(session: Session, patient_id: str, days: Collection[date]) -> None:
    """Remove the summaries of ``days`` (days that no longer have data)."""
    if not days:
        return
    gone = session.execute(delete(DailySummaryRow).where(
        DailySummaryRow.patient_id == patient_id, one_of(DailySummaryRow.local_date, days)))
    if rowcount(gone):
        bump_summaries_rev(session, [patient_id])


def summary_days(session: Session, patient_id: str) -> set[date]:
    """The days the patient has a stored summary for."""
    return set(session.scalars(select(DailySummaryRow.local_date).where(
        DailySummaryRow.patient_id == patient_id)))


def days_to_rebuild(session: Session, patient_id: str, last: date) -> list[date]:
    """Every day up to ``last`` with a stored grid or a stored summary, in order."""
    return sorted(d for d in stored_days(session, patient_id) | summary_days(session, patient_id)
                  if d <= last)


def stored_range(session: Session, patient_id: str, first: date | None,
                 last: date | None) -> list[DailySummary]:
    """The stored summaries of one patient between ``first`` and ``last`` (open ends: all)."""
    found = stored_summaries(session, {patient_id: [(first or date.min, last or date.max)]})
    return found.get(patient_id, [])
