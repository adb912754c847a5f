"""Data-flow rules: missing_data (patient nudge and clinician alert) and rpm_days_at_risk.

Unlike activity rules these have no hysteresis: they clear as soon as the condition is false,
so a late upload that fills the gap resolves the alert.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from alerts import messages
from alerts.rule_activity import Finding
from alerts.rule_params import MissingDataParams, RpmParams
from alerts.rule_series import DaySeries
from schemas.alert_records import Severity


def missing_sync(s: DaySeries, last_sync: datetime | None, now: datetime, p: MissingDataParams) -> Finding:
    """No sync for 48 h → a nudge to the patient. Without any sync yet there is nothing to
    measure the gap from: enrolment follow-up is not this rule's job."""
    if last_sync is None:
        return None
    gap = now - last_sync
    evidence: dict[str, object] = {"last_sync": last_sync.isoformat(),
                                   "hours_since_sync": round(gap.total_seconds() / 3600, 1)}
    if gap >= p.sync_gap:
        message = messages.missing_sync(gap.total_seconds() / 3600)
        return s.candidate("missing_data", Severity.WARNING, message, evidence, audience="patient")
    return s.clearance("missing_data", "the device synced again", evidence, audience="patient")


def missing_valid(s: DaySeries, p: MissingDataParams) -> Finding:
    """3 consecutive days (up to the as-of day) without a valid day → clinician alert. Days
    before the programme start are not missing."""
    n = len(s.steps)
    evidence: dict[str, object]
    if (s.as_of - s.programme_start).days + 1 < p.invalid_days:
        return None
    valid = np.flatnonzero(s.valid)
    run = n - 1 - int(valid[-1]) if len(valid) else n
    if run < p.invalid_days:
        evidence = {"last_valid_day": s.day(int(valid[-1])).isoformat()}
        return s.clearance("missing_data", "a valid day arrived", evidence)
    last_valid = s.day(int(valid[-1])) if len(valid) else None
    evidence = {"missing_days": s.iso(np.arange(n - run, n)),
                                   "last_valid_day": last_valid.isoformat() if last_valid else None}
    return s.candidate("missing_data", Severity.WARNING, messages.missing_valid(run, last_valid), evidence)


def rpm_days_at_risk(s: DaySeries, p: RpmParams) -> Finding:
    """16 data days can no longer be reached in the current 30-day period (periods counted
    from the programme start). For the monitoring team, kept apart from clinical alerts."""
    elapsed = (s.as_of - s.programme_start).days
    if elapsed < 0:
        return None
    start = s.programme_start + timedelta(days=elapsed // p.period_days * p.period_days)
    end = start + timedelta(days=p.period_days - 1)
    data_days = int(s.data_day[(start - s.start).days:].sum())
    left = (end - s.as_of).days
    evidence: dict[str, object] = {"period": [start.isoformat(), end.isoformat()],
                                   "data_days": data_days, "days_left": left,
                                   "required": p.required_data_days}
    if data_days + left >= p.required_data_days:
        return s.clearance("rpm_days_at_risk", "16 data days are reachable", evidence, "monitoring")
    message = messages.rpm(data_days, (start, end), left, p.required_data_days)
    return s.candidate("rpm_days_at_risk", Severity.INFO, message, evidence, audience="monitoring")
