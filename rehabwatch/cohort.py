"""The cohort overview: one row per patient of the caller's teams, the landing page's and
``GET /api/v1/cohort``'s read model.

Read with a handful of statements for the whole cohort (:mod:`storage.cohort`), then laid
into matrices (one row per patient, one column per local day) for the day states
(:mod:`alerts.day_states`). Every patient's days are their own local days: "yesterday" is the
last complete day where the patient lives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy.orm import Session

from alerts.day_states import DayState, day_states
from alerts.judging import baseline_window, plan_of, with_baseline
from alerts.rule_params import OverloadSpikeParams
from schemas.protocol import targets_between
from schemas.records import DailySummary
from storage import cohort as reads

#: Days drawn in a row's grid (ending yesterday), and the days of the median and valid count.
GRID_DAYS, RECENT_DAYS = 30, 7
#: Days without a valid wear day from which a patient needs attention (RULES.md
#: missing_data: 3 days without a valid day is a clinician alert).
STALE_DAYS = 3
ALERT_STATES = ("open", "acknowledged", "snoozed", "none")
SORTS = ("attention", "patient", "phase", "median", "valid", "upload", "wear", "alerts")


@dataclass(frozen=True)
class Filters:
    """What the caller narrowed the cohort to (None: no narrowing). ``alert_state``: one of
    :data:`ALERT_STATES` (``none``: no active care-team alert)."""

    team: str | None = None
    procedure: str | None = None
    phase: str | None = None
    alert_state: str | None = None


@dataclass(frozen=True)
class CohortRow:
    """One patient's overview. Days are counted in the patient's zone; None is "never".
    ``alerts``: active care-team alerts by severity, snoozed ones apart (``snoozed``);
    ``unacknowledged`` of them nobody has looked at. ``cells``: the :class:`DayState` of the
    :data:`GRID_DAYS` days up to yesterday, oldest first (``first_day`` is the oldest)."""

    patient_id: str
    team: str
    procedure: str
    tz: str
    phase: str
    week: int
    median_steps: float | None
    steps_low: float | None
    steps_high: float | None
    valid_days: int
    days_since_upload: int | None
    days_since_valid: int | None
    alerts: dict[str, int]
    unacknowledged: int
    snoozed: int
    first_day: date
    cells: tuple[DayState, ...]
    never_sent: bool
    reason: str = ""

    @property
    def alert_state(self) -> str:
        if self.unacknowledged:
            return "open"
        if sum(self.alerts.values()):
            return "acknowledged"
        return "snoozed" if self.snoozed else "none"

    @property
    def within_yesterday(self) -> bool:
        return self.cells[-1] is DayState.WITHIN


@dataclass(frozen=True)
class Cohort:
    """The rows that passed the filters, in the order asked, with those who never sent data
    apart; ``within``/``with_target``: patients (of the rows) within target yesterday, of
    those who had a target yesterday."""

    rows: list[CohortRow]
    never_sent: list[CohortRow]
    within: int
    with_target: int
    teams: list[str] = field(default_factory=list)
    procedures: list[str] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)


def build_cohort(session: Session, teams: Sequence[str] | None, filters: Filters,
                 now: datetime, params: OverloadSpikeParams, sort: str = "attention",
                 descending: bool = False) -> Cohort:
    """The overview of the patients of ``teams`` (None: all) as of ``now``."""
    patients = reads.cohort_patients(session, teams, None)
    everyone = [_facts(p, now, params) for p in patients]
    rows = _rows(session, everyone, params) if everyone else []
    options = (sorted({r.team for r in rows}), sorted({r.procedure for r in rows}),
               sorted({r.phase for r in rows}))
    kept = [r for r in rows if _passes(r, filters)]
    sent = sort_rows([r for r in kept if not r.never_sent], sort, descending)
    targeted = [r for r in sent if r.steps_low is not None]
    return Cohort(sent, [r for r in kept if r.never_sent],
                  sum(r.within_yesterday for r in targeted), len(targeted), *options)


@dataclass
class _Facts:
    """One patient while the rows are built: the patient row, their today, the span read."""

    patient: Any
    today: date
    first: date  # first day read: GRID_DAYS + the overload test's prior days before today

    @property
    def yesterday(self) -> date:
        return self.today - timedelta(days=1)


def _facts(patient: Any, now: datetime, params: OverloadSpikeParams) -> _Facts:
    today = now.astimezone(ZoneInfo(patient.tz)).date()
    return _Facts(patient, today, today - timedelta(days=GRID_DAYS + params.prior_days))


def _windows(f: _Facts) -> list[tuple[date, date]]:
    lo, hi = baseline_window(f.patient)
    if hi >= f.first - timedelta(days=1):
        return [(min(lo, f.first), f.yesterday)]
    return [(lo, hi), (f.first, f.yesterday)]


def _rows(session: Session, everyone: list[_Facts], params: OverloadSpikeParams
          ) -> list[CohortRow]:
    ids = [f.patient.id for f in everyone]
    days = reads.summary_days(session, {f.patient.id: _windows(f) for f in everyone})
    last_valid = reads.last_valid_days(session, ids)
    uploads = reads.last_uploads(session, ids)
    alerts = reads.staff_alert_counts(session, ids)
    width = GRID_DAYS + params.prior_days
    grid = _Grid(len(everyone), width)
    for i, f in enumerate(everyone):
        grid.fill(i, f, days.get(f.patient.id, []))
    states = day_states(grid.has_data, grid.covered, grid.worn, grid.steps, grid.low,
                        grid.high, params)[:, params.prior_days:]
    return [_row(f, grid, i, states[i], last_valid.get(f.patient.id),
                 uploads.get(f.patient.id), alerts.get(f.patient.id, {}))
            for i, f in enumerate(everyone)]


class _Grid:
    """The cohort's days as matrices (patients × days read), filled patient by patient."""

    def __init__(self, n: int, width: int) -> None:
        self.width = width
        self.has_data = np.zeros((n, width), bool)
        self.covered = np.zeros((n, width), bool)
        self.worn = np.zeros((n, width))
        self.steps = np.full((n, width), np.nan)
        self.low = np.full((n, width), np.nan)
        self.high = np.full((n, width), np.nan)
        self.phase: list[tuple[str, int]] = []

    def fill(self, i: int, f: _Facts, days: list[reads.DayRow]) -> None:
        base = f.first.toordinal()
        baseline_days = []
        for d in days:
            j = d.local_date.toordinal() - base
            if 0 <= j < self.width:
                self.has_data[i, j], self.worn[i, j] = True, d.worn
                if d.valid and d.steps is not None:
                    self.steps[i, j] = d.steps
            elif d.valid:
                baseline_days.append(_baseline_day(f.patient.id, d))
        sync = f.patient.last_sync_at
        if sync is not None:
            synced_through = sync.astimezone(ZoneInfo(f.patient.tz)).date()
            self.covered[i, :max(0, min(synced_through.toordinal() - base, self.width))] = True
        plan = with_baseline(plan_of(f.patient), baseline_days)
        targets = targets_between(plan, f.first, f.yesterday)
        self.low[i] = [t.steps_low.value if t.steps_low else np.nan for t in targets]
        self.high[i] = [t.steps_high.value if t.steps_high else np.nan for t in targets]
        self.phase.append((targets[-1].phase, targets[-1].week))


def _baseline_day(patient_id: str, d: reads.DayRow) -> DailySummary:
    """A valid day of the baseline window, as :func:`schemas.protocol.personal_baseline`
    reads it (steps and validity are all it looks at)."""
    return DailySummary(patient_id, d.local_date, d.steps, True, True, d.worn, d.worn, "", 60)


def _row(f: _Facts, grid: _Grid, i: int, states: np.ndarray, last_valid: date | None,
         upload: tuple[datetime | None, int] | None,
         alerts: dict[tuple[str, str], int]) -> CohortRow:
    p = f.patient
    recent = grid.steps[i, -RECENT_DAYS:]
    recent = recent[~np.isnan(recent)]
    phase, week = grid.phase[i]
    uploaded = upload[0] if upload else None
    by_severity = {sev: sum(n for (s, st), n in alerts.items() if s == sev and st != "snoozed")
                   for sev in ("high", "warning", "info")}
    low, high = grid.low[i, -1], grid.high[i, -1]
    row = CohortRow(
        p.id, p.team, p.procedure, p.tz, phase, week,
        float(median(recent.tolist())) if len(recent) else None,
        None if np.isnan(low) else float(low), None if np.isnan(high) else float(high),
        len(recent),
        None if uploaded is None else (f.today - uploaded.astimezone(ZoneInfo(p.tz)).date()).days,
        None if last_valid is None else (f.today - last_valid).days,
        by_severity, sum(n for (_, st), n in alerts.items() if st == "open"),
        sum(n for (_, st), n in alerts.items() if st == "snoozed"),
        f.today - timedelta(days=GRID_DAYS), tuple(DayState(int(s)) for s in states),
        never_sent=uploaded is None and p.last_sync_at is None and last_valid is None)
    return _with_reason(row)


def _with_reason(row: CohortRow) -> CohortRow:
    """The row with the one line that says why it is where it is in "needs attention"."""
    parts = []
    if row.unacknowledged:
        parts.append(f"{row.unacknowledged} new alert{'s' * (row.unacknowledged > 1)}")
    if row.never_sent:
        parts.append("never sent data")
    elif row.days_since_valid is None:
        parts.append("no valid wear day yet")
    elif row.days_since_valid >= STALE_DAYS:
        parts.append(f"no valid wear day for {row.days_since_valid} days")
    if row.median_steps is not None and row.steps_low and row.median_steps < row.steps_low:
        parts.append(f"median {row.median_steps / row.steps_low:.0%} of target")
    return replace(row, reason="; ".join(parts))


def _passes(row: CohortRow, f: Filters) -> bool:
    return ((f.team is None or row.team == f.team)
            and (f.procedure is None or row.procedure == f.procedure)
            and (f.phase is None or row.phase == f.phase)
            and (f.alert_state is None or row.alert_state == f.alert_state))


#: "Never" sorts as the stalest.
_NEVER = 10**6


def attention_key(row: CohortRow) -> tuple[Any, ...]:
    """Needs attention first: unacknowledged high, then warning alerts; then no valid wear
    day for :data:`STALE_DAYS` or more; then other active alerts; then the furthest below
    target (7-day median ÷ low bound; unknown first); then by patient."""
    stale = row.days_since_valid is None or row.days_since_valid >= STALE_DAYS
    ratio = (row.median_steps / row.steps_low
             if row.median_steps is not None and row.steps_low else 0.0)
    unacked_high = row.alerts["high"] if row.unacknowledged else 0
    return (-unacked_high, -row.unacknowledged, -stale, -sum(row.alerts.values()), ratio,
            row.patient_id)


_KEYS = {
    "attention": attention_key,
    "patient": lambda r: (r.patient_id,),
    "phase": lambda r: (r.phase, r.week, r.patient_id),
    "median": lambda r: (r.median_steps is not None, r.median_steps or 0.0, r.patient_id),
    "valid": lambda r: (r.valid_days, r.patient_id),
    "upload": lambda r: (_NEVER if r.days_since_upload is None else r.days_since_upload,
                         r.patient_id),
    "wear": lambda r: (_NEVER if r.days_since_valid is None else r.days_since_valid,
                       r.patient_id),
    "alerts": lambda r: (r.alerts["high"], r.alerts["warning"], r.alerts["info"],
                         r.patient_id),
}


def sort_rows(rows: list[CohortRow], sort: str, descending: bool = False) -> list[CohortRow]:
    """``rows`` in the order of column ``sort`` (one of :data:`SORTS`)."""
    return sorted(rows, key=_KEYS[sort], reverse=descending)
