"""Patients and their care plans as enrolled, and what evaluation records on them."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from storage.sql import one_of, update_each
from storage.tables import Patient, expire_loaded_patients, table_of


def get(session: Session, patient_id: str) -> Patient | None:
    return session.get(Patient, patient_id)


def add(session: Session, patient_id: str, procedure: str, start_date: date, tz: str,
        team: str, overrides: Mapping[str, Any]) -> Patient:
    patient = Patient(id=patient_id, procedure=procedure, start_date=start_date, tz=tz,
                      team=team, overrides=dict(overrides))
    session.add(patient)
    session.flush()
    return patient


def ids_and_zones(session: Session, patient_ids: Collection[str] | None = None
                  ) -> dict[str, str]:
    """Each patient's IANA zone, by id (all patients when ``patient_ids`` is None)."""
    query = select(Patient.id, Patient.tz).order_by(Patient.id)
    if patient_ids is not None:
        query = query.where(one_of(Patient.id, patient_ids))
    return {pid: tz for pid, tz in session.execute(query)}


def rows(session: Session, patient_ids: Collection[str]) -> list[Row[Any]]:
    """The patients' table rows (all columns, no ORM objects: cheaper to load)."""
    table = table_of(Patient)
    return list(session.execute(select(table).where(one_of(table.c.id, patient_ids))))


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
