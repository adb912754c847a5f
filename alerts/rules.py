"""The alert rules' one entry point: a patient's recent days in, candidates (and clearances) out.

Pure: no database, no clock, no I/O. Rule definitions and defaults are RULES.md's; each rule
lives in ``rule_activity`` or ``rule_data`` and its thresholds in ``rule_params``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from alerts.rule_activity import Finding, overload_spike, sitting, sudden_drop, underactivity
from alerts.rule_data import missing_sync, missing_valid, rpm_days_at_risk
from alerts.rule_params import DEFAULT_PARAMS, RuleParams
from alerts.rule_series import DaySeries, build_series
from schemas.alert_records import AlertCandidate, Clearance
from schemas.records import DailySummary, DayTargets

@dataclass(frozen=True)
class Assessment:
    """What the rules say about one patient as of one day: conditions that hold
    (``candidates``) and conditions that have cleared (``clearances``, for auto-resolve).
    A rule may say neither, e.g. on a missing day."""

    candidates: tuple[AlertCandidate, ...] = ()
    clearances: tuple[Clearance, ...] = ()


def assess(
    history: Sequence[DailySummary],
    targets: Sequence[DayTargets],
    as_of: date,
    last_sync: datetime | None,
    params: RuleParams = DEFAULT_PARAMS,
    *,
    now: datetime | None = None,
    programme_start: date | None = None,
) -> Assessment:
    """Run every rule for one patient.

    ``history`` and ``targets`` are that patient's, sorted by date; a day may be absent or
    invalid (both are missing, never zero). ``as_of`` is the last complete local day.
    ``last_sync`` and ``now`` are aware datetimes; ``now`` defaults to the UTC midnight after
    ``as_of`` (the batch view). ``programme_start`` anchors RPM periods and the first day that
    can be missing; it defaults to the first day with week >= 0 targets (or of data).
    """
    if not history and not targets:
        return Assessment()
    start = programme_start or _first_day(history, targets)
    s = build_series(_patient(history, targets), history, targets, as_of, params.lookback_days, start)
    now = now or datetime.combine(as_of + timedelta(days=1), time(0), UTC)
    findings = (*_activity(s, params), missing_valid(s, params.missing_data),
                missing_sync(s, last_sync, now, params.missing_data), rpm_days_at_risk(s, params.rpm))
    return Assessment(tuple(f for f in findings if isinstance(f, AlertCandidate)),
                      tuple(f for f in findings if isinstance(f, Clearance)))


def _activity(s: DaySeries, params: RuleParams) -> tuple[Finding, ...]:
    return (underactivity(s, params.underactivity), sudden_drop(s, params.sudden_drop),
            overload_spike(s, params.overload_spike), sitting(s, params.sitting))


def _patient(history: Sequence[DailySummary], targets: Sequence[DayTargets]) -> str:
    return history[0].patient_id if history else targets[0].patient_id


def _first_day(history: Sequence[DailySummary], targets: Sequence[DayTargets]) -> date:
    """The first day with targets from week 0 on (pre-start days are not in the programme),
    or the first day of data."""
    started = next((t.local_date for t in targets if t.week >= 0), None)
    return started or history[0].local_date
