"""The patient page's days: each local day of a window with its state, steps (valid days
only: an invalid or missing day is a gap, never zero), target band, 7-day median, wear and
stationary time against the phase's limit, and the alerts opened on it.

:func:`patient_days` is pure; :meth:`rehabwatch.dashboard.Dashboard.patient` reads what it
needs and audits the view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median

import numpy as np

from alerts.day_states import DayState, day_states
from alerts.rule_params import OverloadSpikeParams
from schemas.alert_records import Alert
from schemas.records import DailySummary, DayTargets

#: Windows the page offers, in days; the first is the default.
WINDOWS = (14, 30, 90)
#: Calendar days of the median line (valid days among them).
MEDIAN_DAYS = 7


@dataclass(frozen=True)
class DayPoint:
    """One local day as the page draws it; None is "unknown" (no data, or not valid)."""

    day: date
    state: DayState
    steps: float | None
    reported_steps: float | None
    low: float | None
    high: float | None
    median_7d: float | None
    wear_minutes: int | None
    wear_minutes_daytime: int | None
    stationary_minutes: int | None
    sitting_minutes: int | None
    longest_stationary_min: int | None
    stationary_limit_min: float | None
    phase: str
    week: int
    alerts: tuple[str, ...] = ()


def days_to_read(first: date, params: OverloadSpikeParams) -> date:
    """The first day whose summary :func:`patient_days` needs for a window from ``first``
    (the overload test's prior days and the median's)."""
    return first - timedelta(days=max(params.prior_days, MEDIAN_DAYS))


def patient_days(summaries: Sequence[DailySummary], targets: Sequence[DayTargets],
                 first: date, last: date, synced: date | None, alerts: Sequence[Alert],
                 params: OverloadSpikeParams) -> list[DayPoint]:
    """The days ``first``..``last``. ``summaries``: from :func:`days_to_read` on;
    ``targets``: for the same days; ``synced``: the local day of the last sync."""
    start = days_to_read(first, params)
    n = (last - start).days + 1
    by_day = {s.local_date: s for s in summaries}
    target_of = {t.local_date: t for t in targets}
    days = [start + timedelta(days=i) for i in range(n)]
    steps = np.array([_valid_steps(by_day.get(d)) for d in days], dtype=float)
    has = np.array([d in by_day for d in days])
    worn = np.array([by_day[d].wear_minutes if d in by_day else 0 for d in days], dtype=float)
    covered = np.array([synced is not None and d < synced for d in days])
    low = np.array([_value(target_of.get(d), "steps_low") for d in days], dtype=float)
    high = np.array([_value(target_of.get(d), "steps_high") for d in days], dtype=float)
    states = day_states(has[None], covered[None], worn[None], steps[None], low[None],
                        high[None], params)[0]
    opened: dict[date, list[str]] = {}
    for a in alerts:
        opened.setdefault(a.opened_on, []).append(f"{a.severity.value} {a.rule}")
    skip = (first - start).days
    return [_point(days[i], DayState(int(states[i])), by_day.get(days[i]),
                   target_of.get(days[i]), steps, i, tuple(opened.get(days[i], ())))
            for i in range(skip, n)]


def _valid_steps(s: DailySummary | None) -> float:
    return s.steps if s is not None and s.valid and s.steps is not None else np.nan


def _value(t: DayTargets | None, name: str) -> float:
    target = getattr(t, name) if t is not None else None
    return target.value if target is not None else np.nan


def _point(day: date, state: DayState, s: DailySummary | None, t: DayTargets | None,
           steps: np.ndarray, i: int, alerts: tuple[str, ...]) -> DayPoint:
    recent = steps[max(0, i - MEDIAN_DAYS + 1):i + 1]
    recent = recent[~np.isnan(recent)]
    low, high, limit = (_value(t, name) for name in
                        ("steps_low", "steps_high", "stationary_bout_max_min"))
    return DayPoint(
        day, state, None if np.isnan(steps[i]) else float(steps[i]),
        s.steps if s is not None else None, _known(low), _known(high),
        float(median(recent.tolist())) if len(recent) else None,
        s.wear_minutes if s else None, s.wear_minutes_daytime if s else None,
        s.stationary_minutes if s else None, s.sitting_minutes if s else None,
        s.longest_stationary_bout_min if s else None, _known(limit),
        t.phase if t else "", t.week if t else 0, alerts)


def _known(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def phase_marks(points: Sequence[DayPoint]) -> list[tuple[int, str]]:
    """(index, phase) of each day a new phase begins within the window (the first day
    included, so every stretch is named)."""
    return [(i, p.phase) for i, p in enumerate(points)
            if i == 0 or p.phase != points[i - 1].phase]
