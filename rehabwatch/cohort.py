"""The cohort overview: one row per patient of the caller's teams, the landing page's and
``GET /api/v1/cohort``'s read model.

Read with a handful of statements for the whole cohort (:mod:`storage.cohort`), then laid
into matrices (one row per patient, one column per local day) for the day states
(:mod:`alerts.day_states`). Every patient's days are their own local days: "yesterday" is the
last complete day where the patient lives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class CohortRow:
    """One patient's overview. Days are counted in the patient's zone; None is "never".
    ``alerts``: active care-team alerts by severity, snoozed ones apart (``snoozed``);
    ``unacknowledged`` of them nobody has looked at. ``cells``: the :class:`DayState` of the
    :data:`GRID_DAYS` days up to yesterday, oldest first (``first_day`` is the oldest), one
    digit per day (:attr:`states` reads them)."""

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
    cells: str
    never_sent: bool

    @property
    def reason(self) -> str:
        """The one line that says why the row is where it is in "needs attention"."""
        parts = []
        if self.unacknowledged:
            parts.append(f"{self.unacknowledged} new alert{'s' * (self.unacknowledged > 1)}")
        if self.never_sent:
            parts.append("never sent data")
        elif self.days_since_valid is None:
            parts.append("no valid wear day yet")
        elif self.days_since_valid >= STALE_DAYS:
            parts.append(f"no valid wear day for {self.days_since_valid} days")
        if self.median_steps is not None and self.steps_low and self.median_steps < self.steps_low:
            parts.append(f"median {self.median_steps / self.steps_low:.0%} of target")
        return "; ".join(parts)

    @property
    def states(self) -> tuple[DayState, ...]:
        return tuple(DayState(int(c)) for c in self.cells)

    @property
    def alert_state(self) -> str:
        if self.unacknowledged:
            return "open"
        if sum(self.alerts.values()):
            return "acknowledged"
        return "snoozed" if self.snoozed else "none"

    @property
    def within_yesterday(self) -> bool:
        return self.cells[-1] == str(int(DayState.WITHIN))


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
                 now: datetime, params: OverloadSpikeParams, memo: DaysMemo | None = None,
                 sort: str = "attention", descending: bool = False) -> Cohort:
    """The overview of the patients of ``teams`` (None: all) as of ``now``. ``memo``: what
    earlier calls made of each patient's days, reused while nothing of theirs changed."""
    patients = reads.cohort_patients(session, teams, None)
    rows = _rows(session, patients, now, params, memo if memo is not None else DaysMemo())
    options = (sorted({r.team for r in rows}), sorted({r.procedure for r in rows}),
               sorted({r.phase for r in rows}))
    kept = [r for r in rows if _passes(r, filters)]
    sent = sort_rows([r for r in kept if not r.never_sent], sort, descending)
    targeted = [r for r in sent if r.steps_low is not None]
    return Cohort(sent, [r for r in kept if r.never_sent],
                  sum(r.within_yesterday for r in targeted), len(targeted), *options)


@dataclass(frozen=True)
class DayFacts:
    """What one patient's days amount to as of their ``today``: the phase, week and target
    band of yesterday, the 7-day median and valid-day count, the newest valid day among the
    days read, and the grid's states as a string of :class:`DayState` digits."""

    phase: str
    week: int
    low: float | None
    high: float | None
    median_steps: float | None
    valid_days: int
    last_valid: date | None
    cells: str


class DaysMemo:
    """:class:`DayFacts` by patient, kept while what they are made of is unchanged: the
    patient's ``summaries_rev`` (bumped with every write of their summaries, in the same
    transaction), their plan, last sync day and today. An API process keeps one, so a
    dashboard reloaded every minute reads again only the patients whose data moved."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._facts: dict[str, tuple[tuple[Any, ...], DayFacts]] = {}
        #: Patients whose facts were computed anew since :meth:`settle` last said so.
        self.fresh = 0

    def settle(self, after: int) -> bool:
        """True (once) when ``after`` or more patients' facts were computed anew: the moment
        to move what the process holds for long out of the cyclic collector's reach."""
        if self.fresh < after:
            return False
        self.fresh = 0
        return True

    def get(self, pid: str, key: tuple[Any, ...]) -> DayFacts | None:
        found = self._facts.get(pid)
        return found[1] if found is not None and found[0] == key else None

    def put(self, pid: str, key: tuple[Any, ...], facts: DayFacts) -> None:
        if len(self._facts) >= self.size and pid not in self._facts:
            self._facts.clear()
        self._facts[pid] = (key, facts)
        self.fresh += 1


@dataclass
class _Facts:
    """One patient while the rows are built: the patient row, their today, the span read."""

    patient: Any
    today: date
    first: date  # first day read: GRID_DAYS + the overload test's prior days before today
    synced: date | None  # the local day of the last sync

    @property
    def yesterday(self) -> date:
        return self.today - timedelta(days=1)

    @property
    def key(self) -> tuple[Any, ...]:
        p = self.patient
        overrides = tuple(sorted(p.overrides.items())) if p.overrides else ()
        return (p.summaries_rev, self.today, self.synced, p.procedure, p.start_date, overrides)


def _facts(patient: Any, today: date, params: OverloadSpikeParams) -> _Facts:
    synced = (patient.last_sync_at.astimezone(ZoneInfo(patient.tz)).date()
              if patient.last_sync_at else None)
    return _Facts(patient, today, today - timedelta(days=GRID_DAYS + params.prior_days), synced)


def _rows(session: Session, patients: list[Any], now: datetime, params: OverloadSpikeParams,
          memo: DaysMemo) -> list[CohortRow]:
    todays = {tz: now.astimezone(ZoneInfo(tz)).date() for tz in {p.tz for p in patients}}
    everyone = [_facts(p, todays[p.tz], params) for p in patients]
    known: dict[str, DayFacts] = {}
    stale = []
    for f in everyone:
        found = memo.get(f.patient.id, f.key)
        if found is None:
            stale.append(f)
        else:
            known[f.patient.id] = found
    for f, facts in zip(stale, _day_facts(session, stale, params)):
        memo.put(f.patient.id, f.key, facts)
        known[f.patient.id] = facts
    ids = [f.patient.id for f in everyone]
    older = [pid for pid in ids if known[pid].last_valid is None]
    last_valid = reads.last_valid_days(session, older) if older else {}
    uploads = reads.last_uploads(session, ids) if ids else {}
    alerts = reads.staff_alert_counts(session, ids) if ids else {}
    return [_row(f, known[f.patient.id],
                 known[f.patient.id].last_valid or last_valid.get(f.patient.id),
                 uploads.get(f.patient.id), alerts.get(f.patient.id, {}))
            for f in everyone]


def _windows(f: _Facts) -> list[tuple[date, date]]:
    """The days read of a patient: the personal-baseline window and the grid's."""
    lo, hi = baseline_window(f.patient)
    if hi >= f.first - timedelta(days=1):
        return [(min(lo, f.first), f.yesterday)]
    return [(lo, hi), (f.first, f.yesterday)]


def _day_facts(session: Session, stale: list[_Facts], params: OverloadSpikeParams
               ) -> list[DayFacts]:
    """:class:`DayFacts` of ``stale``, from one read of their days."""
    if not stale:
        return []
    windows = [(i, f.patient.id, lo, hi) for i, f in enumerate(stale) for lo, hi in _windows(f)]
    days = reads.summary_days(session, [w[1:] for w in windows])
    owner = np.array([w[0] for w in windows], dtype=int)[days[:, reads.WINDOW].astype(int)]
    width = GRID_DAYS + params.prior_days
    col = days[:, reads.ORDINAL].astype(int) - np.array([f.first.toordinal() for f in stale])[owner]
    inside = (col >= 0) & (col < width)
    grid = _Grid(len(stale), width)
    grid.place(owner[inside], col[inside], days[inside])
    baseline = days[~inside & (days[:, reads.VALID] > 0)]
    baseline_owner = owner[~inside & (days[:, reads.VALID] > 0)]
    for i, f in enumerate(stale):
        grid.plan(i, f, [_baseline_day(f.patient.id, d)
                         for d in baseline[baseline_owner == i]] if len(baseline) else [])
    states = day_states(grid.has_data, grid.covered, grid.worn, grid.steps, grid.low,
                        grid.high, params)[:, params.prior_days:]
    digits = (states + ord("0")).astype(np.uint8)
    return [grid.facts(i, f, digits[i].tobytes().decode()) for i, f in enumerate(stale)]


class _Grid:
    """The stale patients' days as matrices (patients × days read)."""

    def __init__(self, n: int, width: int) -> None:
        self.width = width
        self.has_data = np.zeros((n, width), bool)
        self.covered = np.zeros((n, width), bool)
        self.worn = np.zeros((n, width))
        self.steps = np.full((n, width), np.nan)
        self.low = np.full((n, width), np.nan)
        self.high = np.full((n, width), np.nan)
        self.phase: list[tuple[str, int]] = []

    def place(self, rows: np.ndarray, cols: np.ndarray, days: np.ndarray) -> None:
        """Put the days read (rows of :func:`storage.cohort.summary_days`) in their cells."""
        self.has_data[rows, cols] = True
        self.worn[rows, cols] = days[:, reads.WORN]
        valid = days[:, reads.VALID] > 0
        self.steps[rows[valid], cols[valid]] = days[valid, reads.STEPS]

    def plan(self, i: int, f: _Facts, baseline_days: list[DailySummary]) -> None:
        """Row ``i``'s sync coverage and target band, from the patient's plan."""
        if f.synced is not None:
            self.covered[i, :max(0, min(f.synced.toordinal() - f.first.toordinal(),
                                        self.width))] = True
        plan = with_baseline(plan_of(f.patient), baseline_days)
        targets = targets_between(plan, f.first, f.yesterday)
        self.low[i] = [t.steps_low.value if t.steps_low else np.nan for t in targets]
        self.high[i] = [t.steps_high.value if t.steps_high else np.nan for t in targets]
        self.phase.append((targets[-1].phase, targets[-1].week))

    def facts(self, i: int, f: _Facts, cells: str) -> DayFacts:
        recent = self.steps[i, -RECENT_DAYS:]
        recent = recent[~np.isnan(recent)]
        valid_cols = np.flatnonzero(~np.isnan(self.steps[i]))
        low, high = self.low[i, -1], self.high[i, -1]
        return DayFacts(
            *self.phase[i], None if np.isnan(low) else float(low),
            None if np.isnan(high) else float(high),
            float(median(recent.tolist())) if len(recent) else None, len(recent),
            f.first + timedelta(days=int(valid_cols[-1])) if len(valid_cols) else None, cells)


def _baseline_day(patient_id: str, d: np.ndarray) -> DailySummary:
    """A valid day of the baseline window, as :func:`schemas.protocol.personal_baseline`
    reads it (its date, steps and validity are all it looks at)."""
    worn = int(d[reads.WORN])
    return DailySummary(patient_id, date.fromordinal(int(d[reads.ORDINAL])),
                        None if np.isnan(d[reads.STEPS]) else float(d[reads.STEPS]), True, True,
                        worn, worn, "", 60)


def _row(f: _Facts, facts: DayFacts, last_valid: date | None,
         upload: tuple[datetime | None, int] | None,
         alerts: dict[tuple[str, str], int]) -> CohortRow:
    p = f.patient
    uploaded = upload[0] if upload else None
    by_severity = {"high": 0, "warning": 0, "info": 0}
    for (severity, status), n in alerts.items():
        if status != "snoozed":
            by_severity[severity] = by_severity.get(severity, 0) + n
    return CohortRow(
        p.id, p.team, p.procedure, p.tz, facts.phase, facts.week, facts.median_steps,
        facts.low, facts.high, facts.valid_days,
        None if uploaded is None else (f.today - uploaded.astimezone(ZoneInfo(p.tz)).date()).days,
        None if last_valid is None else (f.today - last_valid).days,
        by_severity, sum(n for (_, st), n in alerts.items() if st == "open"),
        sum(n for (_, st), n in alerts.items() if st == "snoozed"),
        f.today - timedelta(days=GRID_DAYS), facts.cells,
        never_sent=uploaded is None and p.last_sync_at is None and last_valid is None)


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
