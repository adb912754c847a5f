"""Synthetic patients and cohorts for scenario tests and the alert-burden benchmark.

A patient walks a personal multiple of their protocol's low bound (``targets_for``), with
day-to-day log-normal noise, quieter weekends, occasional non-wear days (invalid, never zero)
and days with no data at all. Each day's summary *arrives* on some day (the sync), so a
replay sees late uploads exactly as the service would. A patient may carry one planted
problem; ``Planted`` says which rule must catch it and in which days.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from statistics import median

import numpy as np

from alerts.lifecycle import reconcile
from alerts.rules import assess
from schemas.alert_records import Alert, Notification
from schemas.protocol import CarePlan, targets_for
from schemas.records import DailySummary, DayTargets

PROBLEMS = ("underactivity", "sudden_drop", "overload_spike", "boom_bust", "silent_device",
            "late_upload", "sitting", "sparse_wear")
# The rule expected to catch each planted problem.
CAUGHT_BY = {"underactivity": "underactivity", "sudden_drop": "sudden_drop",
             "overload_spike": "overload_spike", "boom_bust": "overload_spike",
             "silent_device": "missing_data", "late_upload": "missing_data", "sitting": "sitting",
             "sparse_wear": "rpm_days_at_risk"}
SYNC_HOUR = 20  # arrivals land at 20:00 UTC of their arrival day


@dataclass(frozen=True)
class Noise:
    """How untidy real wear is. Zero noise gives a perfectly steady patient."""

    sigma: float = 0.3          # log-normal day-to-day variability of steps
    weekend: float = 0.85       # weekend steps relative to weekdays
    invalid_share: float = 0.04  # worn too little: summary with valid=False
    absent_share: float = 0.02   # no data at all that day
    late_share: float = 0.15     # data that syncs 1-2 days late


STEADY = Noise(sigma=0.0, weekend=1.0, invalid_share=0.0, absent_share=0.0, late_share=0.0)


@dataclass(frozen=True)
class Planted:
    problem: str
    rule: str
    first: date
    last: date


@dataclass
class Patient:
    plan: CarePlan
    targets: list[DayTargets]
    days: dict[date, DailySummary] = field(default_factory=dict)
    arrives: dict[date, date] = field(default_factory=dict)
    planted: list[Planted] = field(default_factory=list)

    def visible(self, as_of: date) -> list[DailySummary]:
        """Summaries up to ``as_of`` that have arrived by the end of ``as_of``."""
        return [s for d, s in sorted(self.days.items()) if d <= as_of and self.arrives[d] <= as_of]

    def last_sync(self, as_of: date) -> datetime | None:
        arrived = [a for a in self.arrives.values() if a <= as_of]
        return datetime.combine(max(arrived), time(SYNC_HOUR), UTC) if arrived else None

    def targets_until(self, as_of: date) -> list[DayTargets]:
        return [t for t in self.targets if t.local_date <= as_of]


def summary(pid: str, day: date, steps: float | None, valid: bool = True, bout: int | None = 20) -> DailySummary:
    """A minute-resolution day summary; an invalid day still carries its (partial) steps."""
    wear = 900 if valid else 300
    return DailySummary(pid, day, steps, valid, True, wear, min(wear, 840), "heart_rate", 60,
                        ("watch",), longest_stationary_bout_min=bout)


def make_patient(pid: str, start: date, days: int, rng: np.random.Generator, noise: Noise = Noise(),
                 level: float = 1.5, procedure: str = "microdiscectomy") -> Patient:
    """A patient walking ``level`` × their low bound from ``start`` for ``days`` days."""
    plan = CarePlan(pid, procedure, start, "Europe/London")
    patient = Patient(plan, [targets_for(plan, start + timedelta(days=i)) for i in range(days)])
    for t in patient.targets:
        _add_day(patient, t, level, noise, rng)
    return patient


def _add_day(p: Patient, t: DayTargets, level: float, noise: Noise, rng: np.random.Generator) -> None:
    if rng.random() < noise.absent_share:
        return
    weekend = noise.weekend if t.local_date.weekday() >= 5 else 1.0
    low = t.steps_low.value if t.steps_low else 500.0
    steps = low * level * weekend * float(np.exp(rng.normal(0, noise.sigma)))
    valid = rng.random() >= noise.invalid_share
    bout = int(22 * np.exp(rng.normal(0, 0.25 if noise.sigma else 0.0)))
    p.days[t.local_date] = summary(p.plan.patient_id, t.local_date, round(steps), valid, bout)
    lag = int(rng.choice([1, 2])) if rng.random() < noise.late_share else 0
    p.arrives[t.local_date] = t.local_date + timedelta(days=lag)


def scale_steps(p: Patient, first: date, count: int, factor: float) -> None:
    """Multiply the steps of ``count`` days from ``first`` (days without data stay absent)."""
    for d in _days(first, count):
        if d in p.days and p.days[d].steps is not None:
            p.days[d] = replace(p.days[d], steps=round(p.days[d].steps * factor), valid=True)


def remove_days(p: Patient, first: date, count: int) -> None:
    """A silent device: no data, no sync."""
    for d in _days(first, count):
        p.days.pop(d, None)
        p.arrives.pop(d, None)


def delay_days(p: Patient, first: date, count: int, arrive_on: date) -> None:
    """Data recorded but uploaded late, all on ``arrive_on``."""
    for d in _days(first, count):
        p.days.setdefault(d, summary(p.plan.patient_id, d, 4000))
        p.arrives[d] = arrive_on


def _days(first: date, count: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(count)]


def plant(p: Patient, problem: str, rng: np.random.Generator) -> None:
    """Plant ``problem`` at a random point of the patient's timeline and record it."""
    start = p.plan.start_date
    offset = {"sitting": 3, "sparse_wear": 30}.get(problem, int(rng.integers(28, 60)))
    first = start + timedelta(days=offset)
    length = PLANTERS[problem](p, first)
    p.planted.append(Planted(problem, CAUGHT_BY[problem], first, first + timedelta(days=length - 1)))


def _underactive(p: Patient, first: date) -> int:
    # A fortnight at 45%, then a gradual return (a jump straight back would be a real spike).
    scale_steps(p, first, 14, 0.45)
    for i, factor in enumerate((0.6, 0.8)):
        scale_steps(p, first + timedelta(days=14 + i), 1, factor)
    return 14


def _drop(p: Patient, first: date) -> int:
    # Relative to the fortnight's median, as the rule sees it: scaling noisy days may not drop.
    _set_steps(p, first, 5, 0.3 * median(_prior(p, first)))
    return 5


def _spike(p: Patient, first: date) -> int:
    _ensure_valid(p, first, 1)
    _spike_on(p, first)
    return 1


def _boom_bust(p: Patient, first: date) -> int:
    # Two bust days only: a third would also be a sudden drop, which is a different story.
    _ensure_valid(p, first, 3)
    _set_steps(p, first + timedelta(days=1), 2, 0.4 * median(_prior(p, first)))
    _spike_on(p, first)
    return 3


def _spike_on(p: Patient, day: date) -> None:
    """Twice the highest valid day of the fortnight before (noise may have set a high bar)."""
    top = max(_prior(p, day), default=2000.0)
    p.days[day] = replace(p.days[day], steps=max(2 * top, top + 2000))


def _prior(p: Patient, day: date) -> list[float]:
    """Steps of the valid days in the 14 days before ``day``."""
    return [s.steps for d, s in p.days.items()
            if day - timedelta(days=14) <= d < day and s.valid and s.steps is not None]


def _set_steps(p: Patient, first: date, count: int, steps: float) -> None:
    _ensure_valid(p, first, count)
    for d in _days(first, count):
        p.days[d] = replace(p.days[d], steps=round(steps))


def _silent(p: Patient, first: date) -> int:
    remove_days(p, first, 6)
    return 6


def _late(p: Patient, first: date) -> int:
    # Every day of the gap arrives at once on its last day: late data, not a new day, fills it.
    _ensure_valid(p, first, 6)
    delay_days(p, first, 6, first + timedelta(days=5))
    return 6


def _sitting(p: Patient, first: date) -> int:
    for d in _days(first, 10):
        if d in p.days:
            p.days[d] = replace(p.days[d], longest_stationary_bout_min=75)
    return 10


def _sparse(p: Patient, first: date) -> int:
    # Wears the device on about one day in three for a whole 30-day period.
    for i, d in enumerate(_days(first, 30)):
        if i % 3:
            remove_days(p, d, 1)
    return 30


def _ensure_valid(p: Patient, first: date, count: int) -> None:
    """Give planted days data, so that noise does not erase the problem we plant."""
    for d in _days(first, count):
        t = p.targets[(d - p.plan.start_date).days]
        steps = 1.5 * (t.steps_low.value if t.steps_low else 500.0)
        p.days[d] = replace(p.days.get(d) or summary(p.plan.patient_id, d, steps), steps=steps, valid=True)
        p.arrives[d] = d


PLANTERS = {"underactivity": _underactive, "sudden_drop": _drop, "overload_spike": _spike,
            "boom_bust": _boom_bust, "silent_device": _silent, "late_upload": _late,
            "sitting": _sitting, "sparse_wear": _sparse}


def make_cohort(n: int = 200, days: int = 84, seed: int = 7, problem_share: float = 0.2,
                noise: Noise = Noise()) -> list[Patient]:
    """``n`` patients over ``days`` days from staggered start dates; ``problem_share`` of them
    carry one planted problem each, cycling through ``PROBLEMS``."""
    rng = np.random.default_rng(seed)
    first_start = date(2025, 1, 6)
    cohort = []
    for i in range(n):
        start = first_start + timedelta(days=int(rng.integers(0, 28)))
        p = make_patient(f"p{i:04d}", start, days, rng, noise, level=float(rng.uniform(1.3, 1.9)),
                         procedure=str(rng.choice(["microdiscectomy", "decompression", "fusion"])))
        if i < round(n * problem_share):
            plant(p, PROBLEMS[i % len(PROBLEMS)], rng)
        cohort.append(p)
    return cohort


@dataclass
class Replay:
    """Everything the lifecycle did for one patient, day by day."""

    opened: list[Alert] = field(default_factory=list)
    refreshed: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    active: list[Alert] = field(default_factory=list)


def replay(p: Patient, days: int | None = None) -> Replay:
    """Evaluate the rules at the end of every day, as the service would, and reconcile."""
    log = Replay()
    for i in range(days or len(p.targets)):
        as_of = p.plan.start_date + timedelta(days=i)
        now = datetime.combine(as_of + timedelta(days=1), time(0), UTC)
        a = assess(p.visible(as_of), p.targets_until(as_of), as_of, p.last_sync(as_of), now=now)
        r = reconcile(log.active, a.candidates, a.clearances, now)
        log.active = r.apply(log.active)
        log.opened += r.create
        log.refreshed += r.update
        log.resolved += r.resolve
        log.notifications += r.notifications
    return log
