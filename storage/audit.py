"""The audit trail: append and read, nothing else (the database refuses UPDATE and DELETE on
it). Entries are written in the transaction of the change they record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.api_tables import AuditRow

__all__ = ["AuditRow", "append", "listed"]

#: Most entries one read returns.
READ_LIMIT = 1000


def append(session: Session, at: datetime, actor: str, role: str, action: str,
           patient_id: str | None, target: str, address: str, outcome: str,
           detail: dict[str, Any] | None = None) -> None:
    session.add(AuditRow(at=at, actor=actor[:100], role=role, action=action,
                         patient_id=patient_id, target=target[:200], address=address[:64],
                         outcome=outcome, detail=dict(detail or {})))
    session.flush()


def listed(session: Session, patient_id: str | None = None, actor: str | None = None,
           since: datetime | None = None, limit: int = READ_LIMIT) -> list[AuditRow]:
    """Entries, oldest first, filtered by patient, actor and time."""
    query = select(AuditRow).order_by(AuditRow.at, AuditRow.id).limit(limit)
    if patient_id is not None:
        query = query.where(AuditRow.patient_id == patient_id)
    if actor is not None:
        query = query.where(AuditRow.actor == actor)
    if since is not None:
        query = query.where(AuditRow.at >= since)
    return list(session.scalars(query))
