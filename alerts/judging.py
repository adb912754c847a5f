"""Day judging (pure): which days an evaluation judges, the moment each is judged as of, and
the judging itself, day by day, from the rules (:func:`alerts.rules.assess`) to the alert
lifecycle (:func:`alerts.lifecycle.reconcile`).

Alerts have hysteresis, so the result of judging a patient depends on which days were judged:
every evaluation judges each day after the patient's last judged day, in order, as nightly
runs would have, reaching back at most :data:`CATCH_UP_DAYS` from the newest complete day.
"""

from __future__ import annotations

import dataclasses
from collections.abc import MutableMapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from alerts import lifecycle
from alerts.rule_params import RuleParams
from alerts.rules import assess
from schemas.alert_records import Alert, AlertEvent
from schemas.protocol import CarePlan, personal_baseline, protocol_for, targets_between
from schemas.records import DailySummary

#: How far back evaluation reaches: an evaluation judges, in order, every day after the
#: patient's last judged day, as nightly runs would have (alerts have hysteresis, so skipping
#: days would change them), but none more than this many days before the newest complete day,
#: so a first evaluation over a long backlog does not raise alerts about long-past episodes.
CATCH_UP_DAYS = 14


class PatientFields(Protocol):
    """What plans and judging read of a patient: a stored patient, or a selected row of its
    table's columns (cheaper to load)."""

    id: str
    procedure: str
    start_date: date
    tz: str
    overrides: dict[str, Any]
    last_sync_at: datetime | None
    evaluated_through: date | None
    summaries_rev: int


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def plan_of(patient: PatientFields) -> CarePlan:
    """The patient's plan as enrolled, without the personal baseline."""
    return CarePlan(patient.id, patient.procedure, patient.start_date, patient.tz,
                    dict(patient.overrides or {}))


def baseline_window(patient: PatientFields) -> tuple[date, date]:
    """First and last day of the protocol's personal-baseline window."""
    lo, hi = protocol_for(patient.procedure).baseline_window_days
    return patient.start_date + timedelta(days=lo), patient.start_date + timedelta(days=hi)


def with_baseline(plan: CarePlan, summaries: Sequence[DailySummary]) -> CarePlan:
    """``plan`` with the personal baseline of ``summaries`` (any days; the window is picked)."""
    baseline = personal_baseline(summaries, plan)
    return dataclasses.replace(plan, baseline=baseline) if baseline is not None else plan


def end_of_day(day: date, tz: str) -> datetime:
    """Local midnight after ``day``, as aware UTC: the moment a day's evaluation stands for."""
    return datetime.combine(day + timedelta(days=1), time(0), ZoneInfo(tz)).astimezone(UTC)


def judged_at(day: date, tz: str, now: datetime | None) -> datetime:
    """The moment ``day`` is judged as of: its end (never later than the real time); a live
    ``now`` instead when ``day`` is the newest complete day, so sync gaps are measured live."""
    end = end_of_day(day, tz)
    if now is None:
        return min(datetime.now(UTC), end)
    return now if now < end + timedelta(days=1) else end


def newest_complete_day(tz: str, now: datetime | None, as_of: date) -> date:
    """The day before ``now`` in the patient's zone (the stream's live clock) or, without
    ``now``, ``as_of`` (the batch view)."""
    return now.astimezone(ZoneInfo(tz)).date() - timedelta(days=1) if now is not None else as_of


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


def history_windows(patient: PatientFields, days: Sequence[date], params: RuleParams
                    ) -> tuple[tuple[date, date], tuple[date, date]]:
    """The days of summaries judging ``days`` reads: the baseline window, and the rules'
    lookback up to the last day."""
    return baseline_window(patient), (days[0] - timedelta(days=params.lookback_days), days[-1])


def judge(patient: PatientFields, days: Sequence[date], history: Sequence[DailySummary],
          active: list[Alert], past: MutableMapping[tuple[str, str, str], int],
          now: datetime | None, params: RuleParams) -> list[lifecycle.Reconciliation]:
    """Judge ``days`` in order: each day's reconciliation starts from the alerts the previous
    one left active. ``history``: the patient's summaries of :func:`history_windows`, by date;
    ``past``: resolved episodes per (patient, rule, audience), updated on the way."""
    plan = with_baseline(plan_of(patient), history)
    first = days[0] - timedelta(days=params.lookback_days)
    recent = [s for s in history if first <= s.local_date <= days[-1]]
    targets = targets_between(plan, max(first, patient.start_date), days[-1])
    recs = []
    for day in days:
        at = judged_at(day, patient.tz, now)
        found = assess([s for s in recent if s.local_date <= day],
                       [t for t in targets if t.local_date <= day], day, patient.last_sync_at,
                       params, now=at, programme_start=patient.start_date)
        rec = lifecycle.reconcile(active, found.candidates, found.clearances, at,
                                  past_episodes=past)
        for alert in rec.resolve:
            past[alert.key] = past.get(alert.key, 0) + 1
        active = rec.apply(active)
        recs.append(rec)
    return recs


def events_of(recs: Sequence[lifecycle.Reconciliation]) -> list[AlertEvent]:
    """The alert changes of ``recs``, in order, each saying whether it queued notifications."""
    events: list[AlertEvent] = []
    for rec in recs:
        noted = {n.alert_id for n in rec.notifications}
        events += [AlertEvent("opened", a, a.id in noted) for a in rec.create]
        events += [AlertEvent("renotified" if a.id in rec.renotify else "updated", a,
                              a.id in noted) for a in rec.update]
        events += [AlertEvent("resolved", a, a.id in noted) for a in rec.resolve]
    return events
