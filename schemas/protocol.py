"""The protocol library: phase timelines and daily targets after lumbar spine surgery.

Protocols are versioned data files in ``schemas/protocols/*.json`` (loaded with
``importlib.resources``, so an installed package needs nothing beside it). Every default in
them is marked as needing clinician review and names its source (E/P, RULES.md).

A target is a piecewise-linear ramp over *weeks since start* (surgery or programme start), so
it is continuous in time and never jumps at a phase boundary. A knot marked ``baseline_cap``
is lowered to the patient's pre-surgery baseline when that is lower (RULES.md: week 12+
"7,000 or the pre-surgery baseline if lower"). A derived protocol (fusion) is its base
protocol stretched in time. Per-patient overrides in the :class:`CarePlan` win over both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import lru_cache
from importlib.resources import files
from statistics import median
from typing import Any, Iterable, Mapping

from schemas.errors import RehabwatchError
from schemas.records import DailySummary, DayTargets, Target

PROTOCOL_IDS = ("discectomy", "fusion", "conservative")
TARGET_NAMES = ("steps_low", "steps_high", "walking_bouts_min", "stationary_bout_max_min")
BASELINE_CAP = "baseline_cap"
DAYS_PER_WEEK = 7
PRE_START = "before start"
ORIGIN_OVERRIDE, ORIGIN_BASELINE = "override", "baseline"


class ProtocolError(RehabwatchError, ValueError):
    """A protocol file or a care plan that cannot be used as it stands."""


@dataclass(frozen=True)
class Ramp:
    """Piecewise-linear value over weeks: ``points`` are (week, value, capped by baseline).

    Outside the knots the value is held (``hold_before``/``hold_after``) or undefined (None).
    """

    points: tuple[tuple[float, float, bool], ...]
    hold_before: bool = False
    hold_after: bool = False

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Ramp:
        points = tuple((float(p[0]), float(p[1]), BASELINE_CAP in p[2:]) for p in doc["points"])
        if any(b[0] <= a[0] for a, b in zip(points, points[1:])):  # a repeated week = a jump
            raise ProtocolError(f"ramp weeks must increase: {doc['points']}")
        return cls(points, doc.get("before") == "hold", doc.get("after") == "hold")

    def stretched(self, factor: float) -> Ramp:
        return replace(self, points=tuple((w * factor, v, c) for w, v, c in self.points))

    def _knot(self, i: int, baseline: float | None) -> tuple[float, bool]:
        """Value of knot ``i`` and whether the baseline lowered it."""
        _, value, capped = self.points[i]
        if capped and baseline is not None and baseline < value:
            return float(baseline), True
        return value, False

    def at(self, week: float, baseline: float | None = None) -> tuple[float, bool] | None:
        """(value, lowered by baseline) at ``week``, or None where the ramp is undefined."""
        first, last = self.points[0][0], self.points[-1][0]
        if week < first:
            return self._knot(0, baseline) if self.hold_before else None
        if week >= last:
            # the last knot closes a ramp that does not hold: [first, last) is its domain
            return self._knot(len(self.points) - 1, baseline) if self.hold_after else None
        i = max(k for k, p in enumerate(self.points) if p[0] <= week)
        (w0, _, _), (w1, _, _) = self.points[i], self.points[i + 1]
        (v0, c0), (v1, c1) = self._knot(i, baseline), self._knot(i + 1, baseline)
        weight = (week - w0) / (w1 - w0)
        return v0 + (v1 - v0) * weight, c0 or (c1 and weight > 0)


@dataclass(frozen=True)
class Phase:
    name: str
    start_week: float


@dataclass(frozen=True)
class Protocol:
    """One versioned protocol: phases, target ramps and the personal-baseline rule."""

    id: str
    version: str
    procedures: tuple[str, ...]
    phases: tuple[Phase, ...]
    targets: Mapping[str, Ramp]
    baseline_window_days: tuple[int, int]
    baseline_min_days: int
    expected_fraction: Ramp | None = None
    reviewed: bool = False
    derived_from: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def phase_at(self, week: float) -> Phase:
        return [p for p in self.phases if p.start_week <= week][-1]

    def stretched(self, factor: float) -> Protocol:
        """This protocol with every week multiplied by ``factor`` (days before start kept)."""
        return replace(
            self, phases=tuple(replace(p, start_week=p.start_week * factor) for p in self.phases),
            targets={k: r.stretched(factor) for k, r in self.targets.items()},
            expected_fraction=self.expected_fraction and self.expected_fraction.stretched(factor))


def _read(protocol_id: str) -> dict[str, Any]:
    if protocol_id not in PROTOCOL_IDS:
        raise ProtocolError(f"unknown protocol {protocol_id!r}; known: {', '.join(PROTOCOL_IDS)}")
    text = files("schemas").joinpath("protocols", f"{protocol_id}.json").read_text("utf-8")
    return json.loads(text)


def _reviewed(doc: Mapping[str, Any]) -> bool:
    """A protocol file counts as clinician-reviewed once its ``review`` is no longer DRAFT."""
    return not doc["review"].upper().startswith("DRAFT")


def _from_doc(doc: Mapping[str, Any]) -> Protocol:
    baseline = doc["baseline"]
    fraction = baseline.get("expected_fraction")
    return Protocol(
        id=doc["id"], version=doc["version"], procedures=tuple(doc["procedures"]),
        phases=tuple(Phase(p["name"], float(p["start_week"])) for p in doc["phases"]),
        targets={k: Ramp.from_json(v) for k, v in doc["targets"].items()},
        baseline_window_days=tuple(baseline["window_days"]),
        baseline_min_days=int(baseline["min_valid_days"]),
        expected_fraction=Ramp.from_json(fraction) if fraction else None,
        reviewed=_reviewed(doc))


@lru_cache(maxsize=None)
def load_protocol(protocol_id: str) -> Protocol:
    """The protocol ``protocol_id`` from the packaged data files."""
    doc = _read(protocol_id)
    derived = doc.get("derived_from")
    if derived is None:
        return _from_doc(doc)
    base = load_protocol(derived["protocol"])
    return replace(base.stretched(float(derived["time_scale"])), id=doc["id"],
                   version=doc["version"], procedures=tuple(doc["procedures"]),
                   reviewed=_reviewed(doc),
                   derived_from=base.ref)


def procedures() -> dict[str, str]:
    """Procedure name -> protocol id, from the protocol files."""
    return {proc: pid for pid in PROTOCOL_IDS for proc in load_protocol(pid).procedures}


def protocol_for(procedure: str) -> Protocol:
    """The protocol a procedure follows (microdiscectomy, decompression -> discectomy...)."""
    known = procedures()
    if procedure not in known:
        raise ProtocolError(f"unknown procedure {procedure!r}; known: {', '.join(known)}")
    return load_protocol(known[procedure])


@dataclass(frozen=True)
class CarePlan:
    """A patient's plan. ``overrides`` (clinician-set, keys of :data:`TARGET_NAMES`) win over
    the protocol; ``baseline`` is the personal pre-surgery daily steps, if known."""

    patient_id: str
    procedure: str
    start_date: date
    tz: str
    overrides: Mapping[str, float] = field(default_factory=dict)
    baseline: float | None = None

    def __post_init__(self) -> None:
        unknown = set(self.overrides) - set(TARGET_NAMES)
        if unknown:
            raise ProtocolError(f"unknown override(s) {sorted(unknown)}; known: {TARGET_NAMES}")
        protocol_for(self.procedure)


def personal_baseline(summaries: Iterable[DailySummary], plan: CarePlan) -> float | None:
    """Median steps of valid days in the protocol's baseline window (days relative to the
    start), or None with fewer than the protocol's minimum valid days."""
    protocol = protocol_for(plan.procedure)
    lo, hi = (plan.start_date + timedelta(days=d) for d in protocol.baseline_window_days)
    steps = [s.steps for s in summaries
             if s.valid and s.steps is not None and lo <= s.local_date <= hi]
    return float(median(steps)) if len(steps) >= protocol.baseline_min_days else None


def _target(name: str, plan: CarePlan, protocol: Protocol, week: float) -> Target | None:
    if name in plan.overrides:
        return Target(float(plan.overrides[name]), ORIGIN_OVERRIDE)
    ramp = protocol.targets.get(name)
    found = ramp.at(week, plan.baseline) if ramp else None
    if found is None:
        return None
    value, lowered = found
    return Target(value, ORIGIN_BASELINE if lowered else f"protocol:{protocol.ref}")


def _expected(plan: CarePlan, protocol: Protocol, week: float) -> tuple[Target | None, ...]:
    """Expected fraction of baseline and the steps it means, when both are known."""
    found = protocol.expected_fraction.at(week) if protocol.expected_fraction else None
    if found is None or plan.baseline is None:
        return None, None
    origin = f"protocol:{protocol.ref}"
    return Target(found[0], origin), Target(found[0] * plan.baseline, ORIGIN_BASELINE)


def targets_for(plan: CarePlan, day: date) -> DayTargets:
    """The targets in force for ``plan``'s patient on local day ``day``."""
    return targets_between(plan, day, day)[0]


def targets_between(plan: CarePlan, first: date, last: date) -> list[DayTargets]:
    """:func:`targets_for` of every day from ``first`` to ``last`` (inclusive), in order."""
    key = _plan_key(plan)
    known = _plan_days(*key)
    if len(known) > _DAYS_PER_PLAN:
        known.clear()
    out = []
    for i in range((last - first).days + 1):
        day = first + timedelta(days=i)
        found = known.get(day)
        if found is None:
            template = _targets_at(*key[1:4], (day - plan.start_date).days)
            found = known[day] = replace(template, patient_id=plan.patient_id, local_date=day)
        out.append(found)
    return out


def _plan_key(plan: CarePlan) -> tuple[str, str, tuple[tuple[str, float], ...], float | None, date]:
    return (plan.patient_id, plan.procedure, tuple(sorted(plan.overrides.items())), plan.baseline,
            plan.start_date)


#: Days memoized per plan by :func:`targets_between` (every evaluation re-reads the patient's
#: recent days); past this the plan's memo starts over.
_DAYS_PER_PLAN = 400


@lru_cache(maxsize=4096)
def _plan_days(patient_id: str, procedure: str, overrides: tuple[tuple[str, float], ...],
               baseline: float | None, start: date) -> dict[date, DayTargets]:
    """The memo of one plan's targets by day (filled by :func:`targets_between`)."""
    return {}


@lru_cache(maxsize=65536)
def _targets_at(procedure: str, overrides: tuple[tuple[str, float], ...], baseline: float | None,
                days: int) -> DayTargets:
    """The targets ``days`` after the start, for any patient with this plan (memoized: a
    cohort shares a handful of plans, and a patient's days are re-read every evaluation)."""
    plan = CarePlan("", procedure, date.min, "UTC", dict(overrides), baseline)
    protocol = protocol_for(procedure)
    notes = () if protocol.reviewed else (f"{protocol.ref}: defaults pending clinician review",)
    if days < 0:
        return DayTargets("", date.min, protocol.ref, PRE_START, days // DAYS_PER_WEEK,
                          steps_low=None, notes=notes)
    week = days / DAYS_PER_WEEK
    fraction, expected = _expected(plan, protocol, week)
    return DayTargets(
        "", date.min, protocol.ref, protocol.phase_at(week).name, days // DAYS_PER_WEEK,
        **{name: _target(name, plan, protocol, week) for name in TARGET_NAMES},
        expected_fraction_of_baseline=fraction, expected_steps=expected, notes=notes)
