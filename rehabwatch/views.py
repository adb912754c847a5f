"""What the command line (and the API) show: records as JSON-ready documents and as text."""

from __future__ import annotations

import dataclasses
from typing import Any

from rehabwatch.service import PatientView
from schemas.alert_records import Alert
from schemas.identifiers import printable
from schemas.records import DailySummary, DayTargets
from schemas.records_json import to_builtins


def summary_docs(days: list[DailySummary]) -> list[dict[str, Any]]:
    return [to_builtins(s) for s in days]


def summary_text(days: list[dict[str, Any]]) -> str:
    if not days:
        return "no data"
    lines = [f"{'date':<10}  {'steps':>7}  {'valid':<5}  {'resolution':<10}  sources"]
    for d in days:
        steps = "-" if d["steps"] is None else f"{d['steps']:,.0f}"
        res = {60: "minute", 3600: "hour", 86400: "day"}.get(d["resolution_s"], "?")
        lines.append(f"{d['local_date']:<10}  {steps:>7}  {str(d['valid']).lower():<5}  "
                     f"{res:<10}  {printable(', '.join(d['sources']))}")
    return "\n".join(lines)


def targets_doc(targets: DayTargets) -> dict[str, Any]:
    doc = dataclasses.asdict(targets)
    doc["local_date"] = targets.local_date.isoformat()
    return doc


def patient_doc(view: PatientView) -> dict[str, Any]:
    """A patient's care plan and the targets in force."""
    patient = view.patient
    return {"patient": patient.id, "team": patient.team, "procedure": patient.procedure,
            "start_date": patient.start_date.isoformat(), "tz": patient.tz,
            "overrides": dict(patient.overrides or {}), "baseline_steps": view.plan.baseline,
            "last_sync_at": patient.last_sync_at.isoformat() if patient.last_sync_at else None,
            "targets": targets_doc(view.targets)}


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


def alerts_text(docs: list[dict[str, Any]]) -> str:
    if not docs:
        return "no alerts"
    return "\n".join(f"[{d['status']}] {d['severity']:<7} {d['patient_id']} {d['rule']} "
                     f"({d['audience']}) {d['id']}\n    {printable(d['message'], 1000)}"
                     for d in docs)
