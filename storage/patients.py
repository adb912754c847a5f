"""Patients and their care plans as enrolled, and what evaluation records on them."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from schemas.errors import UsageError

from storage.sql import one_of, update_each
from storage.tables import Patient, expire_loaded_patients, table_of


def get(session: Session, patient_id: str) -> Patient | None:
    return session.get(Patient, patient_id)


def add(session: Session, patient_id: str, procedure: str, start_date: date, tz: str,
        team: str, overrides: Mapping[str, Any]) -> Patient:
    """Enrol a patient; :class:`UsageError` if the id is taken (also when another command
    enrolled it a moment ago: the primary key decides)."""
    patient = Patient(id=patient_id, procedure=procedure, start_date=start_date, tz=tz,
                      team=team, overrides=dict(overrides))
    session.add(patient)
    try:
        session.flush()
    except IntegrityError as exc:
        raise UsageError(f"patient {patient_id} already exists") from exc
    return patient


def lock(session: Session, patient_ids: Collection[str]) -> None:
    """Hold the patients' rows until the transaction ends, so that no other unit uploads for
    or evaluates them meanwhile. PostgreSQL: ``FOR NO KEY UPDATE`` in id order (one order
    for every unit, so two never deadlock; rows that reference a patient can still be
    inserted). SQLite needs nothing: a writing unit holds the database's one write lock
    (:mod:`storage.database`)."""
    if patient_ids and session.get_bind().dialect.name == "postgresql":
        session.execute(select(Patient.id).where(one_of(Patient.id, patient_ids))
                        .order_by(Patient.id).with_for_update(key_share=True))


def ids_and_zones(session: Session, patient_ids: Collection[str] | None = None
                  ) -> dict[str, str]:
    """Each patient's IANA zone, by id (all patients when ``patient_ids`` is None)."""
    query = select(Patient.id, Patient.tz).order_by(Patient.id)
    if patient_ids is not None:
        query = query.where(one_of(Patient.id, patient_ids))
    return {pid: tz for pid, tz in session.execute(query)}


def rows(session: Session, patient_ids: Collection[str]) -> list[Row[Any]]:
    """The patients' table rows (all columns, no ORM objects: cheaper to load), locked as
    :func:`lock` locks them: what is judged from them is written in the same transaction."""
    table = table_of(Patient)
    query = select(table).where(one_of(table.c.id, patient_ids)).order_by(table.c.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(key_share=True)
    return list(session.execute(query))


def summaries_rev(session: Session, patient_id: str) -> int:
    """How many times the patient's summaries have been written (see
    :mod:`storage.summary_cache`)."""
    return int(session.scalar(select(Patient.summaries_rev).where(Patient.id == patient_id))
               or 0)


def mark_evaluated(session: Session, through: Mapping[str, date]) -> None:
    """Record each patient's last judged day: one UPDATE for all; a patient already loaded
    in ``session`` reads the new day on next access."""
    table = table_of(Patient)
    update_each(session, table.c.id, table.c.evaluated_through, through)
    expire_loaded_patients(session, through, "evaluated_through")


def silent_since(session: Session, cutoff: datetime) -> dict[str, str]:
    """Patients whose last sync is older than ``cutoff`` (or who never synced), with their
    zone."""
    return {pid: tz for pid, tz in session.execute(select(Patient.id, Patient.tz).where(
        (Patient.last_sync_at.is_(None)) | (Patient.last_sync_at < cutoff)))}


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Patient)) or 0)


def count_judged_before(session: Session, day: date) -> int:
    """Patients not yet evaluated through ``day``."""
    return int(session.scalar(select(func.count()).select_from(Patient).where(
        (Patient.evaluated_through.is_(None)) | (Patient.evaluated_through < day))) or 0)
