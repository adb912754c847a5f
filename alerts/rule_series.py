"""A patient's recent days as dense numpy arrays, one slot per calendar day up to the as-of day.

Why dense: a missing day is a slot holding NaN, so "the last 7 valid days" and "the 14 days
before" are index arithmetic, and an invalid day can never be read as zero steps.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

import numpy as np

from schemas.alert_records import AlertCandidate, Clearance, Severity
from schemas.records import DailySummary, DayTargets

T = TypeVar("T", DailySummary, DayTargets)

NAN = float("nan")


@dataclass(frozen=True)
class DaySeries:
    """Slot ``i`` is local day ``start + i``; the last slot is the as-of day.

    ``steps`` is NaN unless the day is valid with a step count, so ``valid`` is derived from
    it. ``low`` and ``stationary_limit`` come from that day's targets (NaN when none);
    ``stationary_bout`` is the longest stationary bout in minutes (NaN when unknown).
    ``programme_start`` anchors RPM periods and bounds which days can be "missing".
    """

    patient_id: str
    start: date
    as_of: date
    programme_start: date
    steps: np.ndarray
    valid: np.ndarray
    data_day: np.ndarray
    low: np.ndarray
    stationary_bout: np.ndarray
    stationary_limit: np.ndarray
    targets: dict[date, DayTargets]

    def day(self, index: int) -> date:
        """Date of slot ``index``; negative indices count from the as-of day (-1)."""
        return self.start + timedelta(days=int(index) % len(self.steps))

    def iso(self, indices: np.ndarray) -> list[str]:
        """ISO dates of slots, for JSON evidence."""
        return [self.day(i).isoformat() for i in indices]

    def target_on(self, index: int) -> DayTargets | None:
        return self.targets.get(self.day(index))

    def candidate(
        self, rule: str, severity: Severity, message: str, evidence: dict[str, object],
        audience: str = "clinician", stage: str = "",
    ) -> AlertCandidate:
        return AlertCandidate(
            self.patient_id, rule, self.as_of, severity, message, audience, evidence, stage
        )

    def clearance(
        self, rule: str, reason: str, evidence: dict[str, object], audience: str = "clinician"
    ) -> Clearance:
        return Clearance(self.patient_id, rule, self.as_of, reason, audience, evidence)


def median(values: np.ndarray) -> float:
    """Median of a short NaN-free array; np.median's generality costs ~20x more at this size,
    and the rules take a few medians per patient-day."""
    ordered = np.sort(values)
    n = len(ordered)
    return float(ordered[(n - 1) // 2] + ordered[n // 2]) / 2


def nums(values: np.ndarray) -> list[float]:
    """Array values as plain floats (1 decimal) for JSON evidence."""
    return [round(float(v), 1) for v in values]


def build_series(
    patient_id: str,
    history: Sequence[DailySummary],
    targets: Sequence[DayTargets],
    as_of: date,
    lookback_days: int,
    programme_start: date,
) -> DaySeries:
    """Lay the summaries and targets of the ``lookback_days`` up to ``as_of`` into arrays.

    Both sequences are sorted by date, so only their tails are read (cheap on long histories).
    """
    start = max(as_of - timedelta(days=lookback_days - 1), programme_start)
    n = max((as_of - start).days + 1, 1)
    start = as_of - timedelta(days=n - 1)
    # Plain lists while filling: per-item numpy writes cost more than the whole rule run.
    base = start.toordinal()
    steps, bout, data_day = [NAN] * n, [NAN] * n, [False] * n
    for s in _tail(history, start, as_of):
        i = s.local_date.toordinal() - base
        data_day[i] = s.data_day
        if s.valid and s.steps is not None:
            steps[i] = s.steps
            if s.longest_stationary_bout_min is not None:
                bout[i] = s.longest_stationary_bout_min
    window = {t.local_date: t for t in _tail(targets, start, as_of)}
    low, limit = _target_arrays(window, base, n)
    steps_a = np.array(steps)
    return DaySeries(patient_id, start, as_of, programme_start, steps_a, ~np.isnan(steps_a),
                     np.array(data_day), low, np.array(bout), limit, window)


def _tail(records: Sequence[T], start: date, end: date) -> Sequence[T]:
    """Records dated within ``[start, end]`` of a date-sorted sequence (binary search)."""
    lo = bisect_left(records, start, key=_local_date)
    return records[lo:bisect_right(records, end, lo=lo, key=_local_date)]


def _local_date(record: DailySummary | DayTargets) -> date:
    return record.local_date


def _target_arrays(window: dict[date, DayTargets], base: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    low, limit = [NAN] * n, [NAN] * n
    for d, t in window.items():
        i = d.toordinal() - base
        if t.steps_low is not None:
            low[i] = t.steps_low.value
        if t.stationary_bout_max_min is not None:
            limit[i] = t.stationary_bout_max_min.value
    return np.array(low), np.array(limit)
