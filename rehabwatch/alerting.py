"""Database wiring of the alert rules and lifecycle: evaluate, persist, act.

``evaluate_patient`` is the one path from stored daily summaries to stored alerts, used by
``rehabwatch evaluate`` and by the stream worker alike. Every change to an alert is written
with its transitions, and its notifications go to the outbox in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts import lifecycle
from alerts.rule_params import DEFAULT_PARAMS
from alerts.rules import assess
from rehabwatch.evaluation import (PatientFields, baseline_window, days_between, plan_of,
                                   stored_summaries, summarize_day, with_baseline)
from storage.summary_cache import SummaryCache
from schemas.alert_records import Alert, AlertStatus, Notification, Severity, Transition
from storage.tables import (AlertRow, AlertTransitionRow, DailySummaryRow, GridRow,
                            NotificationRow, Patient, expire_loaded_patients)
from schemas.protocol import targets_between
from schemas.records import DailySummary
from storage.sql import one_of, update_each


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


def queue(session: Session, notes: Sequence[Notification]) -> None:
    """Put notifications in the outbox once (their ids are deterministic), due at once
    (:mod:`rehabwatch.notify` delivers them)."""
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


def end_of_day(day: date, tz: str) -> datetime:
    """Local midnight after ``day``, as aware UTC: the moment a day's evaluation stands for."""
    return datetime.combine(day + timedelta(days=1), time(0), ZoneInfo(tz)).astimezone(UTC)


#: How far back evaluation reaches: an evaluation judges, in order, every day after the
#: patient's last judged day, as nightly runs would have (alerts have hysteresis, so skipping
#: days would change them), but none more than this many days before the newest complete day,
#: so a first evaluation over a long backlog does not raise alerts about long-past episodes.
CATCH_UP_DAYS = 14


def judged_at(day: date, tz: str, now: datetime | None) -> datetime:
    """The moment ``day`` is judged as of: its end (never later than the real time); a live
    ``now`` instead when ``day`` is the newest complete day, so sync gaps are measured live."""
    end = end_of_day(day, tz)
    if now is None:
        return min(datetime.now(UTC), end)
    return now if now < end + timedelta(days=1) else end


def evaluation_days(evaluated_through: date | None, start: date, as_of: date,
                    newest: date) -> list[date]:
    """The days an evaluation as of ``as_of`` judges, oldest first: those after
    ``evaluated_through`` and within ``CATCH_UP_DAYS`` of ``newest`` (the newest complete day),
    none before the programme ``start`` unless ``as_of`` is; none if ``as_of`` is older than
    that. Evaluation never goes back in time: asked for a day already judged (a replayed or
    late check), it judges the last judged day again, with the data now known.

    The window hangs on ``newest``, not on ``as_of``, so the days judged do not depend on how
    the checks were batched: the stream and the batch judge the same days."""
    if evaluated_through is not None and as_of <= evaluated_through:
        return [evaluated_through]
    first = max(newest - timedelta(days=CATCH_UP_DAYS - 1), min(start, as_of))
    if evaluated_through is not None:
        first = max(first, evaluated_through + timedelta(days=1))
    return days_between(first, as_of)


def evaluate_patient(session: Session, patient_id: str, as_of: date,
                     now: datetime | None = None) -> list[AlertEvent]:
    """Rules over the stored summaries, reconciled with the stored alerts, for each day of
    :func:`evaluation_days` in order; the patient is then evaluated through the last of them.

    Each day is judged at its end (:func:`judged_at`; ``now``, if given, for the newest
    complete day), so evaluating a past day gives the same answer whenever it runs. The newest
    complete day is the day before ``now`` (the stream's live clock) or, without ``now``,
    ``as_of`` (the batch view). Idempotent."""
    return evaluate_patients(session, {patient_id: as_of}, now)


def evaluate_patients(session: Session, as_of: Mapping[str, date],
                      now: datetime | None = None, cache: SummaryCache | None = None
                      ) -> list[AlertEvent]:
    """:func:`evaluate_patient` for each patient of ``as_of`` (patient id -> day), with one
    SELECT each for the patients, their summaries, active alerts and past episodes, and the
    writes flushed together. The same result as one patient at a time. ``cache``: decoded
    summaries kept between calls (:mod:`storage.summary_cache`); the patient rows, read
    first, give the revision it is checked against."""
    work: dict[str, tuple[PatientFields, list[date]]] = {}
    table = Patient.__table__
    for patient in session.execute(select(table).where(one_of(table.c.id, as_of))):
        newest = (now.astimezone(ZoneInfo(patient.tz)).date() - timedelta(days=1)
                  if now is not None else as_of[patient.id])
        days = evaluation_days(patient.evaluated_through, patient.start_date,
                               as_of[patient.id], newest)
        if days:
            work[patient.id] = patient, days
    if not work:
        return []
    lookback = timedelta(days=DEFAULT_PARAMS.lookback_days)
    history = stored_summaries(session, {
        pid: (baseline_window(patient), (days[0] - lookback, days[-1]))
        for pid, (patient, days) in work.items()},
        cache, {pid: patient.summaries_rev for pid, (patient, _) in work.items()})
    active = active_alerts(session, work)
    past = past_episodes(session, work)
    recs: list[lifecycle.Reconciliation] = []
    for pid, (patient, days) in work.items():
        recs += _judge(patient, days, history.get(pid, []), active.get(pid, []), past, now)
    _mark_evaluated(session, {pid: days[-1] for pid, (_, days) in work.items()})
    return _persist(session, recs)


def _mark_evaluated(session: Session, through: Mapping[str, date]) -> None:
    """Record each patient's last judged day: one UPDATE for all (:func:`storage.sql.update_each`); a
    patient already loaded in ``session`` reads the new day on next access."""
    table = Patient.__table__
    update_each(session, table.c.id, table.c.evaluated_through, through)
    expire_loaded_patients(session, through, "evaluated_through")


def _judge(patient: PatientFields, days: Sequence[date], history: Sequence[DailySummary],
           active: list[Alert], past: dict[tuple[str, str, str], int], now: datetime | None
           ) -> list[lifecycle.Reconciliation]:
    """Judge ``days`` in order (pure): each day's reconciliation starts from the alerts the
    previous one left active. ``past`` is updated with the episodes resolved on the way."""
    plan = with_baseline(plan_of(patient), history)
    first = days[0] - timedelta(days=DEFAULT_PARAMS.lookback_days)
    recent = [s for s in history if first <= s.local_date <= days[-1]]
    targets = targets_between(plan, max(first, patient.start_date), days[-1])
    recs = []
    for day in days:
        at = judged_at(day, patient.tz, now)
        found = assess([s for s in recent if s.local_date <= day],
                       [t for t in targets if t.local_date <= day], day, patient.last_sync_at,
                       now=at, programme_start=patient.start_date)
        rec = lifecycle.reconcile(active, found.candidates, found.clearances, at,
                                  past_episodes=past)
        for alert in rec.resolve:
            past[alert.key] = past.get(alert.key, 0) + 1
        active = rec.apply(active)
        recs.append(rec)
    return recs


def _persist(session: Session, recs: Sequence[lifecycle.Reconciliation]) -> list[AlertEvent]:
    """Store every reconciliation's alerts (each alert's latest version) and notifications."""
    events: list[AlertEvent] = []
    for rec in recs:
        noted = {n.alert_id for n in rec.notifications}
        events += [AlertEvent("opened", a, a.id in noted) for a in rec.create]
        events += [AlertEvent("renotified" if a.id in rec.renotify else "updated", a,
                              a.id in noted) for a in rec.update]
        events += [AlertEvent("resolved", a, a.id in noted) for a in rec.resolve]
    save_alerts(session, list({e.alert.id: e.alert for e in events}.values()))
    queue(session, [n for rec in recs for n in rec.notifications])
    return events


#: Patients evaluated together by :func:`evaluate_all` (bounds the memory of one pass).
EVALUATE_CHUNK = 500


def evaluate_all(session: Session, as_of: date | None = None) -> dict[str, int]:
    """Batch: recompute every stored day's summary, then evaluate every patient as of
    ``as_of`` (default: each patient's yesterday). Returns counts of what changed."""
    counts = {"patients": 0, "days": 0, "opened": 0, "updated": 0, "renotified": 0,
              "resolved": 0}
    as_of_by: dict[str, date] = {}
    for patient in session.scalars(select(Patient).order_by(Patient.id)).all():
        day = as_of or datetime.now(ZoneInfo(patient.tz)).date() - timedelta(days=1)
        counts["days"] += _resummarize(session, patient.id, day)
        as_of_by[patient.id] = day
    ids = list(as_of_by)
    for i in range(0, len(ids), EVALUATE_CHUNK):
        chunk = {pid: as_of_by[pid] for pid in ids[i:i + EVALUATE_CHUNK]}
        for event in evaluate_patients(session, chunk):
            counts[event.kind] += 1
    counts["patients"] = len(ids)
    return counts


def _resummarize(session: Session, patient_id: str, last: date) -> int:
    days = session.scalars(select(GridRow.local_date).distinct().where(
        GridRow.patient_id == patient_id, GridRow.local_date <= last)).all()
    stored = session.scalars(select(DailySummaryRow.local_date).where(
        DailySummaryRow.patient_id == patient_id)).all()
    for day in sorted(set(days) | set(stored)):
        summarize_day(session, patient_id, day)
    return len(days)


def act(session: Session, alert_id: str, action: Callable[[Alert], Alert]) -> Alert:
    """Apply a manual lifecycle action (acknowledge, snooze, resolve) and store it."""
    row = session.get(AlertRow, alert_id)
    if row is None:
        raise LookupError(f"no alert {alert_id}")
    alert = action(alert_from_row(row))
    save_alerts(session, [alert])
    return alert


def silent_patients(session: Session, now: datetime) -> list[tuple[str, date]]:
    """Patients whose last sync is older than the missing-data sync gap (or who never
    synced), each with the local day to evaluate (their yesterday): the timer's work list."""
    cutoff = now - DEFAULT_PARAMS.missing_data.sync_gap
    rows = session.execute(select(Patient.id, Patient.tz).where(
        (Patient.last_sync_at.is_(None)) | (Patient.last_sync_at < cutoff)))
    return [(pid, now.astimezone(ZoneInfo(tz)).date() - timedelta(days=1)) for pid, tz in rows]


def open_alert_counts(session: Session) -> tuple[dict[tuple[str, str], int], int]:
    """Active alerts by (rule, severity), and the number of patients monitored."""
    rows = session.execute(select(AlertRow.rule, AlertRow.severity, func.count())
                           .where(AlertRow.episode_open.is_(True))
                           .group_by(AlertRow.rule, AlertRow.severity))
    patients = session.scalar(select(func.count()).select_from(Patient)) or 0
    return {(rule, sev): n for rule, sev, n in rows}, int(patients)
