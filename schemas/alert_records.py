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
    ``audience`` is ``clinician``, ``monitoring`` (RPM programme) or ``patient`` (nudges).
    ``stage`` names a step within one episode (overload_spike: ``spike``, ``boom_bust``); a new
    stage on an open alert is worth a notification, a refreshed evidence is not."""

    patient_id: str
    rule: str
    as_of: date
    severity: Severity
    message: str
    audience: str = "clinician"
    evidence: dict[str, object] = field(default_factory=dict)
    stage: str = ""


@dataclass(frozen=True)
class Transition:
    """One recorded change of an alert's status: who, when, why."""

    status: AlertStatus
    at: datetime
    actor: str
    reason: str = ""


@dataclass(frozen=True)
class Clearance:
    """A rule's statement that its condition has cleared for one patient (and audience) as of
    one day, e.g. "2 valid days at least 10% past the threshold". The lifecycle resolves a
    matching open alert; without an open alert it means nothing."""

    patient_id: str
    rule: str
    as_of: date
    reason: str
    audience: str = "clinician"
    evidence: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Alert:
    """One alert episode for one (patient, rule, audience), as a clinician works with it.

    Immutable: every change makes a new ``Alert`` with one more ``Transition``. ``stage``
    distinguishes steps of one episode (``spike`` then ``boom_bust``); ``notified_at`` is the
    last time a notification went out (aware UTC); ``snoozed_until`` is the local date on which
    a snooze ends.
    """

    id: str
    patient_id: str
    rule: str
    audience: str
    severity: Severity
    status: AlertStatus
    opened_on: date
    opened_at: datetime
    message: str
    last_evidence: dict[str, object] = field(default_factory=dict)
    stage: str = ""
    last_seen_on: date | None = None
    snoozed_until: date | None = None
    notified_at: datetime | None = None
    resolved_at: datetime | None = None
    transitions: tuple[Transition, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        """The episode key: at most one active alert per key."""
        return (self.patient_id, self.rule, self.audience)

    @property
    def active(self) -> bool:
        return self.status is not AlertStatus.RESOLVED


@dataclass(frozen=True)
class Notification:
    """One message to send. ``route`` is ``clinician`` (immediate), ``digest`` (the clinician's
    daily digest), ``patient`` (nudge) or ``monitoring`` (RPM team). ``id`` is deterministic so
    a notifier can drop a duplicate delivery."""

    id: str
    alert_id: str
    patient_id: str
    rule: str
    route: str
    kind: str
    message: str
    at: datetime


@dataclass(frozen=True)
class AlertEvent:
    """One change to an alert: ``opened``, ``updated``, ``renotified`` or ``resolved``.
    ``notifies``: the change queued notifications (so the notify agent has something to
    deliver; most ``updated`` events only refresh the evidence)."""

    kind: str
    alert: Alert
    notifies: bool = False

    @property
    def alert_id(self) -> str:
        return self.alert.id

    @property
    def patient_id(self) -> str:
        return self.alert.patient_id

    @property
    def rule(self) -> str:
        return self.alert.rule

    @property
    def severity(self) -> str:
        return self.alert.severity.value
