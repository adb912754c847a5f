"""Read models for the CLI and API: documents and human-readable text."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from rehabwatch.evaluation import summarize_range, summary_to_dict
from schemas.models import Patient


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
    return [summary_to_dict(s) for s in summarize_range(session, patient_id, first, last)]


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
