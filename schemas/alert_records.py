"""Typed alert records: what a rule found, and the stored alert a clinician works with."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    HIGH = "high"


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class AlertCandidate:
    """A rule's finding for one patient as of one day. ``evidence`` holds the days, values and
    targets that triggered it; ``message`` says it in words a clinician reads in five seconds.
    ``audience`` is ``clinician``, ``monitoring`` (RPM programme) or ``patient`` (nudges)."""

    patient_id: str
    rule: str
    as_of: date
    severity: Severity
    message: str
    audience: str = "clinician"
    evidence: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    """One recorded change of an alert's status: who, when, why."""

    status: AlertStatus
    at: datetime
    actor: str
    reason: str = ""
