"""The alert lifecycle: a pure state machine over alert episodes, persistence-agnostic.

One active alert per (patient, rule, audience) episode; open → acknowledged → resolved, with
snoozes in between; every change is a ``Transition`` (who, when, why). ``reconcile`` folds a
day's rule findings into the active alerts; the manual actions return new, immutable alerts.

    AlertError
    ├── InvalidTransition   the action is not allowed from the alert's status
    └── InvalidSnooze       the snooze length or reason is not acceptable
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from schemas.alert_records import (
    Alert,
    AlertCandidate,
    AlertStatus,
    Clearance,
    Notification,
    Severity,
    Transition,
)
from schemas.errors import RehabwatchError

OPEN, ACKNOWLEDGED, SNOOZED, RESOLVED = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED,
                                         AlertStatus.SNOOZED, AlertStatus.RESOLVED)
SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.HIGH: 2}


class AlertError(RehabwatchError):
    """Base of lifecycle errors: the requested change was not made."""


class InvalidTransition(AlertError):
    pass


class InvalidSnooze(AlertError):
    pass


@dataclass(frozen=True)
class LifecycleParams:
    """Lifecycle settings (RULES.md, Lifecycle; E: alert fatigue, Cvach 2012, Bonafide 2015).

    Attributes:
        renotify_after: an open alert whose condition persists is re-sent after this long.
            Default 7 days (P).
        snooze_days: the snooze lengths a clinician may choose. Default 1, 3 or 7 days (P).
        renotify_acknowledged: whether acknowledged alerts are re-sent too. Default False:
            an acknowledgement means someone owns it (P).
        system_actor: the actor named on automatic transitions.
    """

    renotify_after: timedelta = timedelta(days=7)
    snooze_days: tuple[int, ...] = (1, 3, 7)
    renotify_acknowledged: bool = False
    system_actor: str = "rehabwatch"


DEFAULT_LIFECYCLE = LifecycleParams()


@dataclass(frozen=True)
class Reconciliation:
    """What to persist and send. ``update`` holds the new versions of active alerts that
    changed (evidence refresh, snooze ended, re-notified); ``renotify`` names the ids among
    them that were re-sent; ``resolve`` holds auto-resolved alerts."""

    create: tuple[Alert, ...] = ()
    update: tuple[Alert, ...] = ()
    resolve: tuple[Alert, ...] = ()
    renotify: tuple[str, ...] = ()
    notifications: tuple[Notification, ...] = ()

    def apply(self, active: Iterable[Alert]) -> list[Alert]:
        """The active alerts once this reconciliation is persisted (for callers without a DB)."""
        changed = {a.id: a for a in self.update}
        gone = {a.id for a in self.resolve}
        kept = [changed.get(a.id, a) for a in active if a.id not in gone]
        return kept + list(self.create)


def routes(audience: str, severity: Severity) -> tuple[str, ...]:
    """Where a notification goes: info never interrupts a clinician, it goes to the digest;
    patient nudges of info level are also listed in the digest (RULES.md: sitting)."""
    if audience == "patient":
        return ("patient", "digest") if severity is Severity.INFO else ("patient",)
    if audience == "monitoring":
        return ("monitoring",)
    return ("digest",) if severity is Severity.INFO else ("clinician",)


def reconcile(
    open_alerts: Sequence[Alert],
    candidates: Sequence[AlertCandidate],
    cleared: Sequence[Clearance],
    now: datetime,
    params: LifecycleParams = DEFAULT_LIFECYCLE,
    *,
    past_episodes: Mapping[tuple[str, str, str], int] | None = None,
) -> Reconciliation:
    """Fold rule findings into the active alerts.

    ``past_episodes`` counts the resolved episodes of each (patient, rule, audience), so a new
    episode never takes the id of an old one, even when opened at the same moment.

    A candidate opens an alert for its episode or refreshes the active one; a clearance
    auto-resolves an active alert with no candidate; an active alert with neither is left as it
    is (its days were missing or its values sit between the threshold and the resolution
    margin). Deterministic in its inputs, so reconciling twice creates nothing twice, and
    notification ids let a notifier drop a repeated delivery.
    """
    _require_aware(now)
    active = {a.key: a for a in open_alerts if a.active}
    # One candidate per episode; if a caller passes two, the first one wins.
    found = {(c.patient_id, c.rule, c.audience): c for c in reversed(candidates)}
    create: list[Alert] = []
    update: list[Alert] = []
    renotify: list[str] = []
    notes: list[Notification] = []
    for key, c in found.items():
        alert = active.get(key)
        kind: str | None
        if alert is None:
            new, kind = _open(c, now, params, (past_episodes or {}).get(key, 0)), "new"
            create.append(new)
        else:
            new, kind = _refresh(alert, c, now, params)
            update.extend([new] if new != alert else [])
        if kind:
            notes.extend(_notifications(new, kind, now))
        if kind == "renotify":
            renotify.append(new.id)
    resolve = [_auto_resolve(a, c, now, params) for c in cleared
               if (a := active.get((c.patient_id, c.rule, c.audience))) and a.key not in found]
    return Reconciliation(tuple(create), tuple(update), tuple(resolve), tuple(renotify), tuple(notes))


def opaque_id(prefix: str, *parts: str) -> str:
    """A deterministic id that reveals nothing: alert ids appear in URLs, logs and e-mails,
    where a patient identifier must not."""
    return f"{prefix}_{hashlib.sha256('/'.join(parts).encode()).hexdigest()[:24]}"


def _open(c: AlertCandidate, now: datetime, params: LifecycleParams, episode: int) -> Alert:
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Alert(
        id=opaque_id("al", c.patient_id, c.rule, c.audience, stamp, str(episode)), patient_id=c.patient_id, rule=c.rule,
        audience=c.audience, severity=c.severity, status=OPEN, opened_on=c.as_of, opened_at=now,
        message=c.message, last_evidence=c.evidence, stage=c.stage, last_seen_on=c.as_of,
        notified_at=now, transitions=(Transition(OPEN, now, params.system_actor, f"{c.rule} rule fired"),),
    )


def _refresh(alert: Alert, c: AlertCandidate, now: datetime, params: LifecycleParams) -> tuple[Alert, str | None]:
    """The alert with the candidate's evidence, woken if its snooze has ended, and the kind of
    notification due (``escalation``, ``snooze_ended``, ``renotify``) if any."""
    wake = alert.status is SNOOZED and alert.snoozed_until is not None and now.date() >= alert.snoozed_until
    kind = _notification_due(alert, c, now, params, wake)
    new = replace(alert, severity=c.severity, message=c.message, last_evidence=c.evidence,
                  stage=c.stage, last_seen_on=c.as_of)
    if wake:
        new = _transition(new, OPEN, params.system_actor, "snooze ended; condition persists", now,
                          snoozed_until=None)
    return (replace(new, notified_at=now) if kind else new), kind


def _notification_due(alert: Alert, c: AlertCandidate, now: datetime, params: LifecycleParams,
                      wake: bool) -> str | None:
    """A snooze mutes repeats, not news: a rise in severity or a new stage (boom-bust) is sent
    even while snoozed."""
    if SEVERITY_RANK[c.severity] > SEVERITY_RANK[alert.severity] or c.stage != alert.stage:
        return "escalation"
    if wake:
        return "snooze_ended"
    if alert.status is SNOOZED or (alert.status is ACKNOWLEDGED and not params.renotify_acknowledged):
        return None
    due = alert.notified_at is None or now - alert.notified_at >= params.renotify_after
    return "renotify" if due else None


def _notifications(alert: Alert, kind: str, now: datetime) -> list[Notification]:
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return [Notification(opaque_id("nt", alert.id, kind, route, stamp), alert.id, alert.patient_id, alert.rule,
                         route, kind, alert.message, now)
            for route in routes(alert.audience, alert.severity)]


def _auto_resolve(alert: Alert, c: Clearance, now: datetime, params: LifecycleParams) -> Alert:
    return _transition(alert, RESOLVED, params.system_actor, f"auto: {c.reason}", now,
                       resolved_at=now, snoozed_until=None)


def acknowledge(alert: Alert, actor: str, reason: str, now: datetime) -> Alert:
    """A clinician has seen the alert and owns it; ends a snooze."""
    _require(alert, (OPEN, SNOOZED), "acknowledge")
    return _transition(alert, ACKNOWLEDGED, actor, reason, now, snoozed_until=None)


def snooze(alert: Alert, until: date, actor: str, reason: str, now: datetime,
           params: LifecycleParams = DEFAULT_LIFECYCLE) -> Alert:
    """Mute re-notification until ``until`` (compared with ``now.date()``: pass ``now`` in the
    clinic's zone for local dates). The length must be one of ``params.snooze_days``."""
    _require(alert, (OPEN, ACKNOWLEDGED, SNOOZED), "snooze")
    days = (until - now.date()).days
    if days not in params.snooze_days:
        raise InvalidSnooze(f"a snooze lasts {', '.join(map(str, params.snooze_days))} days, not {days}")
    if not reason.strip():
        raise InvalidSnooze("a snooze needs a reason")
    return _transition(alert, SNOOZED, actor, reason, now, snoozed_until=until)


def resolve(alert: Alert, actor: str, reason: str, now: datetime) -> Alert:
    """Close the episode by hand; the next firing of the rule opens a new one."""
    _require(alert, (OPEN, ACKNOWLEDGED, SNOOZED), "resolve")
    return _transition(alert, RESOLVED, actor, reason, now, resolved_at=now, snoozed_until=None)


def _require(alert: Alert, allowed: tuple[AlertStatus, ...], action: str) -> None:
    if alert.status not in allowed:
        raise InvalidTransition(f"cannot {action} alert {alert.id}: it is {alert.status.value}")


def _transition(alert: Alert, status: AlertStatus, actor: str, reason: str, now: datetime,
                **changes: Any) -> Alert:
    _require_aware(now)
    record = Transition(status, now, actor, reason)
    return replace(alert, status=status, transitions=(*alert.transitions, record), **changes)


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("lifecycle times must be timezone-aware")
