"""Writing the audit trail: one entry per read of patient data or change, in the
transaction of what it records (so an entry exists exactly when the change does)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy.orm import Session

from rehabwatch.access import Actor
from storage import audit, database

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


def entries(url: str, patient_id: str | None = None, actor_name: str | None = None,
            since: datetime | None = None, limit: int = audit.READ_LIMIT,
            reader: Actor | None = None) -> list[dict[str, Any]]:
    """Entries, oldest first, filtered; the read itself is audited when ``reader`` is
    given (the API's admins; the command line reads the database directly)."""
    with database.session_scope(url) as session:
        found = [entry_doc(r) for r in audit.listed(session, patient_id, actor_name, since,
                                                    limit)]
        if reader is not None:
            record(session, reader, "audit.read", patient_id=patient_id,
                   detail={"count": len(found)})
        return found
