"""Patients as the API lists and edits them: scoped by team, filtered, with their open
alerts counted in one query for the whole page."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.sql import one_of
from storage.tables import AlertRow, Patient

#: Fields of a patient's plan the API may change.
PLAN_FIELDS = ("procedure", "start_date", "tz", "team", "overrides")


def listed(session: Session, teams: Collection[str] | None, team: str | None = None,
           procedure: str | None = None) -> list[Patient]:
    """Patients of ``teams`` (None: every team), by id, filtered by team and procedure."""
    query = select(Patient).order_by(Patient.id)
    if teams is not None:
        query = query.where(one_of(Patient.team, teams))
    if team is not None:
        query = query.where(Patient.team == team)
    if procedure is not None:
        query = query.where(Patient.procedure == procedure)
    return list(session.scalars(query))


def open_alert_counts(session: Session, patient_ids: Collection[str]
                      ) -> dict[str, dict[str, int]]:
    """Active alerts of each patient by severity (one SELECT)."""
    rows = session.execute(select(AlertRow.patient_id, AlertRow.severity, func.count())
                           .where(one_of(AlertRow.patient_id, patient_ids),
                                  AlertRow.episode_open.is_(True))
                           .group_by(AlertRow.patient_id, AlertRow.severity))
    found: dict[str, dict[str, int]] = {}
    for pid, severity, n in rows:
        found.setdefault(pid, {})[severity] = n
    return found


def update_plan(session: Session, patient: Patient, changes: Mapping[str, Any]) -> None:
    """Set the plan fields of ``changes`` (keys of :data:`PLAN_FIELDS`)."""
    unknown = set(changes) - set(PLAN_FIELDS)
    if unknown:
        raise ValueError(f"not plan fields: {sorted(unknown)}")
    for name, value in changes.items():
        setattr(patient, name, value)
    session.flush()
