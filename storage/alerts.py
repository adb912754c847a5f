"""Stored alerts with their transitions, and the notification outbox they queue into.

An alert's row is written with every transition not stored yet, and its notifications are
queued in the same transaction, so what was decided and what is to be told never part.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from schemas.alert_records import Alert, AlertStatus, Notification, Severity, Transition
from storage.sql import one_of
from storage.tables import AlertRow, AlertTransitionRow, NotificationRow


def alert_from_row(row: AlertRow) -> Alert:
    return Alert(
        id=row.id, patient_id=row.patient_id, rule=row.rule, audience=row.audience,
        severity=Severity(row.severity), status=AlertStatus(row.status), opened_on=row.opened_on,
        opened_at=row.opened_at, message=row.message, last_evidence=dict(row.last_evidence),
        stage=row.stage, last_seen_on=row.last_seen_on, snoozed_until=row.snoozed_until,
        notified_at=row.notified_at, resolved_at=row.resolved_at,
        transitions=tuple(Transition(AlertStatus(t.status), t.at, t.actor, t.reason)
                          for t in row.transitions))


def _write(row: AlertRow, alert: Alert) -> None:
    """Copy ``alert`` onto ``row``, appending the transitions not stored yet."""
    for name in ("patient_id", "rule", "audience", "message", "last_evidence", "stage",
                 "opened_on", "opened_at", "last_seen_on", "snoozed_until", "notified_at",
                 "resolved_at"):
        setattr(row, name, getattr(alert, name))
    row.severity, row.status = alert.severity.value, alert.status.value
    row.episode_open = True if alert.active else None
    for t in alert.transitions[len(row.transitions):]:
        row.transitions.append(AlertTransitionRow(status=t.status.value, at=t.at,
                                                  actor=t.actor, reason=t.reason))


def save_alerts(session: Session, alerts: Sequence[Alert]) -> None:
    """Insert or update each of ``alerts`` (one SELECT for the stored ones, then a flush)."""
    rows = {r.id: r for r in session.scalars(
        select(AlertRow).where(one_of(AlertRow.id, {a.id for a in alerts})))} if alerts else {}
    for alert in alerts:
        row = rows.get(alert.id)
        if row is None:
            row = rows[alert.id] = AlertRow(id=alert.id)
            session.add(row)
        _write(row, alert)
    session.flush()


def queue_notifications(session: Session, notes: Sequence[Notification]) -> None:
    """Put notifications in the outbox once (their ids are deterministic), due at once
    (:mod:`rehabwatch.delivery` delivers them)."""
    if not notes:
        return
    stored = set(session.scalars(select(NotificationRow.id).where(
        one_of(NotificationRow.id, {n.id for n in notes}))))
    for n in notes:
        if n.id not in stored:
            stored.add(n.id)
            session.add(NotificationRow(id=n.id, alert_id=n.alert_id, patient_id=n.patient_id,
                                        rule=n.rule, route=n.route, kind=n.kind,
                                        message=n.message, created_at=n.at,
                                        next_attempt_at=n.at))


def active_alerts(session: Session, patient_ids: Collection[str]) -> dict[str, list[Alert]]:
    """The active alerts of each patient (one SELECT)."""
    found: dict[str, list[Alert]] = {}
    for row in session.scalars(select(AlertRow).where(one_of(AlertRow.patient_id, patient_ids),
                                                      AlertRow.episode_open.is_(True))):
        found.setdefault(row.patient_id, []).append(alert_from_row(row))
    return found


def past_episodes(session: Session, patient_ids: Collection[str]
                  ) -> dict[tuple[str, str, str], int]:
    """Resolved episodes per (patient, rule, audience) (one SELECT)."""
    rows = session.execute(select(AlertRow.patient_id, AlertRow.rule, AlertRow.audience,
                                  func.count())
                           .where(one_of(AlertRow.patient_id, patient_ids),
                                  AlertRow.episode_open.is_(None))
                           .group_by(AlertRow.patient_id, AlertRow.rule, AlertRow.audience))
    return {(pid, rule, audience): n for pid, rule, audience, n in rows}


def open_alert_counts(session: Session) -> dict[tuple[str, str], int]:
    """Active alerts by (rule, severity)."""
    rows = session.execute(select(AlertRow.rule, AlertRow.severity, func.count())
                           .where(AlertRow.episode_open.is_(True))
                           .group_by(AlertRow.rule, AlertRow.severity))
    return {(rule, sev): n for rule, sev, n in rows}


def get(session: Session, alert_id: str) -> Alert | None:
    """The alert as stored now (read again even if the session has loaded it)."""
    row = session.get(AlertRow, alert_id, populate_existing=True)
    return None if row is None else alert_from_row(row)


def listed(session: Session, patient_id: str | None = None, status: str | None = None
           ) -> list[Alert]:
    """Alerts, oldest first, of one patient or all, in one status or any."""
    query = select(AlertRow).order_by(AlertRow.opened_at, AlertRow.id)
    if patient_id is not None:
        query = query.where(AlertRow.patient_id == patient_id)
    if status is not None:
        query = query.where(AlertRow.status == status)
    return [alert_from_row(r) for r in session.scalars(query)]


def transition_count(session: Session) -> int:
    """Alert transitions stored in all: grows with every alert change."""
    return int(session.scalar(select(func.count()).select_from(AlertTransitionRow)) or 0)
