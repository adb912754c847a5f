"""Alerts as the API lists them (scoped by team, filtered, paged, with their assignee) and
their assignment to staff users."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.alert_records import Alert
from storage.alerts import alert_from_row
from storage.api_tables import AlertAssignmentRow
from storage.sql import one_of
from storage.tables import AlertRow, Patient


@dataclass(frozen=True)
class AlertFilter:
    """What to list: each field set narrows the list (``opened_before``: older alerts only;
    ``audiences``: None for every audience)."""

    teams: Collection[str] | None = None
    patient_id: str | None = None
    team: str | None = None
    status: str | None = None
    rule: str | None = None
    severity: str | None = None
    assignee: str | None = None
    opened_before: datetime | None = None
    audiences: Collection[str] | None = None


@dataclass(frozen=True)
class ListedAlert:
    alert: Alert
    assignee: str | None


def listed(session: Session, where: AlertFilter, limit: int, offset: int) -> list[ListedAlert]:
    """A page of the alerts ``where`` selects, oldest first."""
    query = (select(AlertRow, AlertAssignmentRow.assignee)
             .join(Patient, Patient.id == AlertRow.patient_id)
             .outerjoin(AlertAssignmentRow, AlertAssignmentRow.alert_id == AlertRow.id)
             .order_by(AlertRow.opened_at, AlertRow.id).limit(limit).offset(offset))
    equal = ((AlertRow.patient_id, where.patient_id), (Patient.team, where.team),
             (AlertRow.status, where.status), (AlertRow.rule, where.rule),
             (AlertRow.severity, where.severity), (AlertAssignmentRow.assignee, where.assignee))
    for column, value in equal:
        if value is not None:
            query = query.where(column == value)
    if where.teams is not None:
        query = query.where(one_of(Patient.team, where.teams))
    if where.audiences is not None:
        query = query.where(one_of(AlertRow.audience, where.audiences))
    if where.opened_before is not None:
        query = query.where(AlertRow.opened_at < where.opened_before)
    return [ListedAlert(alert_from_row(row), assignee)
            for row, assignee in session.execute(query)]


def assignment(session: Session, alert_id: str) -> AlertAssignmentRow | None:
    return session.get(AlertAssignmentRow, alert_id)


def assign(session: Session, alert_id: str, assignee: str, by: str, now: datetime) -> None:
    row = session.get(AlertAssignmentRow, alert_id)
    if row is None:
        session.add(AlertAssignmentRow(alert_id=alert_id, assignee=assignee, assigned_by=by,
                                       assigned_at=now))
    else:
        row.assignee, row.assigned_by, row.assigned_at = assignee, by, now
    session.flush()
