"""Read models for the CLI and API: documents and human-readable text."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from rehabwatch.evaluation import care_plan, summarize_range
from rehabwatch.alerting import alert_from_row
from schemas.alert_records import Alert
from storage.tables import AlertRow, Patient
from schemas.protocol import targets_for
from schemas.records import DayTargets
from schemas.records_json import to_builtins


class NotFound(Exception):
    """The thing asked for does not exist (or may not be seen by the caller)."""


def patient_or_404(session: Session, patient_id: str) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"no patient {patient_id}")
    return patient


def summaries(session: Session, patient_id: str, first: date | None,
              last: date | None) -> list[dict[str, Any]]:
    patient_or_404(session, patient_id)
    return [to_builtins(s) for s in summarize_range(session, patient_id, first, last)]


def summary_text(days: list[dict[str, Any]]) -> str:
    if not days:
        return "no data"
    lines = [f"{'date':<10}  {'steps':>7}  {'valid':<5}  {'resolution':<10}  sources"]
    for d in days:
        steps = "-" if d["steps"] is None else f"{d['steps']:,.0f}"
        res = {60: "minute", 3600: "hour", 86400: "day"}.get(d["resolution_s"], "?")
        lines.append(f"{d['local_date']:<10}  {steps:>7}  {str(d['valid']).lower():<5}  "
                     f"{res:<10}  {', '.join(d['sources'])}")
    return "\n".join(lines)


def targets_doc(targets: DayTargets) -> dict[str, Any]:
    doc = dataclasses.asdict(targets)
    doc["local_date"] = targets.local_date.isoformat()
    return doc


def patient_doc(session: Session, patient_id: str, as_of: date | None) -> dict[str, Any]:
    """A patient's care plan and the targets in force on ``as_of`` (default: their today)."""
    patient = patient_or_404(session, patient_id)
    as_of = as_of or datetime.now(ZoneInfo(patient.tz)).date()
    plan = care_plan(session, patient)
    return {"patient": patient.id, "team": patient.team, "procedure": patient.procedure,
            "start_date": patient.start_date.isoformat(), "tz": patient.tz,
            "overrides": dict(patient.overrides or {}), "baseline_steps": plan.baseline,
            "last_sync_at": patient.last_sync_at.isoformat() if patient.last_sync_at else None,
            "targets": targets_doc(targets_for(plan, as_of))}


def patient_text(doc: dict[str, Any]) -> str:
    t = doc["targets"]
    low = t["steps_low"]["value"] if t["steps_low"] else None
    high = t["steps_high"]["value"] if t["steps_high"] else None
    rng = "none" if low is None else f"{low:,.0f}" + (f"–{high:,.0f}" if high else "+")
    return (f"{doc['patient']} ({doc['team']}): {doc['procedure']} on {doc['start_date']}, "
            f"{doc['tz']}\n{t['local_date']}: week {t['week']}, phase '{t['phase']}', "
            f"daily steps {rng} ({t['protocol']})")


def alert_doc(alert: Alert) -> dict[str, Any]:
    doc = dataclasses.asdict(alert)
    doc["transitions"] = [{**t, "status": str(t["status"])} for t in doc["transitions"]]
    doc.update(severity=alert.severity.value, status=alert.status.value)
    return doc


def alerts(session: Session, patient_id: str | None, status: str | None) -> list[dict[str, Any]]:
    query = select(AlertRow).order_by(AlertRow.opened_at, AlertRow.id)
    if patient_id:
        patient_or_404(session, patient_id)
        query = query.where(AlertRow.patient_id == patient_id)
    if status:
        query = query.where(AlertRow.status == status)
    return [alert_doc(alert_from_row(r)) for r in session.scalars(query)]


def alerts_text(docs: list[dict[str, Any]]) -> str:
    if not docs:
        return "no alerts"
    return "\n".join(f"[{d['status']}] {d['severity']:<7} {d['patient_id']} {d['rule']} "
                     f"({d['audience']}) {d['id']}\n    {d['message']}" for d in docs)
