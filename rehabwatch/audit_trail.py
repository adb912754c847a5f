"""Writing the audit trail: one entry per read of patient data or change, in the
transaction of what it records (so an entry exists exactly when the change does)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy.orm import Session

from rehabwatch.access import Actor
from storage import audit

OK, DENIED, FAILED = "ok", "denied", "failed"


def record(session: Session, actor: Actor, action: str, *, patient_id: str | None = None,
           target: str = "", outcome: str = OK, detail: dict[str, Any] | None = None,
           at: datetime | None = None) -> None:
    """Append one entry (``action`` such as ``patient.read`` or ``alert.acknowledge``)."""
    audit.append(session, at or datetime.now(timezone.utc), actor.name, actor.role, action,
                 patient_id, target, actor.address, outcome, detail)


def entry_doc(row: audit.AuditRow) -> dict[str, Any]:
    return {"id": row.id, "at": row.at.isoformat(), "actor": row.actor, "role": row.role,
            "action": row.action, "patient_id": row.patient_id, "target": row.target,
            "address": row.address, "outcome": row.outcome, "detail": row.detail}
