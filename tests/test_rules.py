"""Unit tests of the alert rules over hand-built days, and their invariants."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.rule_params import RuleParams, RpmParams
from alerts.rules import Assessment, assess
from schemas.alert_records import Severity
from schemas.records import DailySummary, DayTargets, Target
from tests.cohort import summary

START = date(2025, 3, 3)  # a Monday
INVALID = -1.0  # marker in step lists: the day was worn too little


def days_from(steps: list[float | None], start: date = START, bouts: list[int] | None = None) -> list[DailySummary]:
    """Summaries for consecutive days; None = no data, INVALID = invalid day (with 200 steps)."""
    out = []
    for i, v in enumerate(steps):
        if v is None:
            continue
        bout = bouts[i] if bouts else 20
        d = start + timedelta(days=i)
        out.append(summary("p1", d, 200.0 if v == INVALID else v, v != INVALID, bout))
    return out


def flat_targets(n: int, low: float = 3500.0, week0: int = 6, limit: float | None = None) -> list[DayTargets]:
    """Targets with a constant low bound, the first day in week ``week0`` of the plan."""
    return [DayTargets("p1", START + timedelta(days=i), "discectomy@2025.1", "loading",
                       week0 + i // 7, Target(low, "protocol:discectomy@2025.1"),
                       stationary_bout_max_min=Target(limit, "p") if limit else None)
            for i in range(n)]


def run(steps: list[float | None], targets: list[DayTargets] | None = None, **kw) -> dict[str, object]:
    hist = days_from(steps, bouts=kw.pop("bouts", None))
    as_of = START + timedelta(days=len(steps) - 1)
    targets = targets or flat_targets(len(steps))
    sync = kw.pop("last_sync", datetime.combine(as_of, datetime.min.time(), UTC))
    a = assess(hist, targets, as_of, sync, kw.pop("params", RuleParams()), **kw)
    return {"candidates": {c.rule: c for c in a.candidates}, "clearances": {c.rule: c for c in a.clearances}}


def fired(steps: list[float | None], **kw) -> dict:
    return run(steps, **kw)["candidates"]


# --- underactivity -------------------------------------------------------------------------

def test_underactivity_fires_with_exact_evidence() -> None:
    steps = [4000.0] * 4 + [1800, 1850, 1900, 1700, 2000, 1850, 1800]
    c = fired(steps)["underactivity"]
    assert c.severity is Severity.WARNING and c.audience == "clinician"
    assert c.evidence["median_steps"] == 1850.0
    assert c.evidence["days"] == [(START + timedelta(days=i)).isoformat() for i in range(4, 11)]
    assert c.evidence["median_ratios"] == [round(1900 / 3500, 3), round(1850 / 3500, 3), round(1850 / 3500, 3)]
    assert c.message == ("7-day median 1,850 steps, below the 3,500 target for week 7 after "
                         "discectomy (53% of target), on 3 consecutive valid days")
    json.dumps(c.evidence)


def test_underactivity_needs_three_low_medians() -> None:
    # Medians go below 1.0 only on the last two valid days: not persistent yet.
    assert "underactivity" not in fired([4000.0] * 4 + [1000] * 5)
    assert "underactivity" in fired([4000.0] * 4 + [1000] * 6)


def test_underactivity_high_below_half() -> None:
    assert fired([1000.0] * 9)["underactivity"].severity is Severity.HIGH


def test_each_day_held_against_its_own_target() -> None:
    # A ramping target: 2,000 steps meets 1,500 but not 3,000.
    ramp = [replace(t, steps_low=Target(1500 + 150 * i, "p")) for i, t in enumerate(flat_targets(11))]
    assert "underactivity" not in fired([2000.0] * 5, targets=ramp[:5])
    assert "underactivity" in fired([2000.0] * 11, targets=ramp)


def test_missing_as_of_day_suppresses_activity_rules() -> None:
    out = run([1000.0] * 9 + [None])
    assert "underactivity" not in out["candidates"] and "underactivity" not in out["clearances"]


def test_underactivity_clears_after_two_days_ten_percent_over() -> None:
    assert "underactivity" in run([4000.0] * 7 + [3900, 3860])["clearances"]
    assert "underactivity" not in run([4000.0] * 7 + [3900, 3800])["clearances"]  # 3,850 needed


# --- sudden_drop ---------------------------------------------------------------------------

def test_sudden_drop_fires_from_week_3() -> None:
    steps = [4000.0] * 14 + [1500, 1200, 1900]
    c = fired(steps)["sudden_drop"]
    assert c.severity is Severity.HIGH and c.evidence["median_14d"] == 4000.0
    assert c.evidence["steps"] == [1500.0, 1200.0, 1900.0]
    assert "symptom check-in" in c.message
    assert "sudden_drop" not in fired(steps, targets=flat_targets(17, week0=0))


def test_sudden_drop_skips_missing_days_between() -> None:
    assert "sudden_drop" in fired([4000.0] * 14 + [1500, None, INVALID, 1200, 1900])
    assert "sudden_drop" not in fired([4000.0] * 14 + [1500, 2100, 1900])


# --- overload_spike ------------------------------------------------------------------------

def test_spike_episode_lasts_seven_days() -> None:
    base = [3000.0] * 14
    c = fired(base + [6000])["overload_spike"]
    assert (c.stage, c.evidence["prior_max_14d"], c.evidence["ratio"]) == ("spike", 3000.0, 2.0)
    # A second spike inside the episode refreshes it (the lifecycle sends nothing new) ...
    assert fired(base + [6000, 3000, 3000, 9500])["overload_spike"].evidence["day"] == (
        START + timedelta(days=17)).isoformat()
    # ... and the episode clears only once no spike is 7 days recent.
    assert "overload_spike" not in run(base + [6000] + [3000] * 6)["clearances"]
    assert "overload_spike" in run(base + [6000] + [3000] * 7)["clearances"]


def test_spike_needs_1500_more_steps() -> None:
    assert "overload_spike" not in fired([1000.0] * 14 + [2400])  # 2.4× but only +1,400
    assert "overload_spike" in fired([1000.0] * 14 + [2600])


def test_boom_bust_follows_a_spike() -> None:
    base = [3000.0] * 14 + [6000]
    c = fired(base + [1500, 1600])["overload_spike"]
    assert c.stage == "boom_bust" and c.evidence["pre_spike_median"] == 3000.0
    assert c.evidence["days"] == [(START + timedelta(days=i)).isoformat() for i in (15, 16)]
    assert "consider deload" in c.message
    assert "overload_spike" not in fired(base + [1500, 1900])  # 1,900 is not below 60%
    assert "overload_spike" not in fired(base + [1500])  # one follow-up day is not enough


# --- missing_data --------------------------------------------------------------------------

def test_missing_valid_days_alerts_clinician_and_lists_days() -> None:
    c = fired([3000.0] * 5 + [INVALID, None, INVALID])["missing_data"]
    assert c.audience == "clinician" and c.severity is Severity.WARNING
    assert c.evidence["missing_days"] == [(START + timedelta(days=i)).isoformat() for i in (5, 6, 7)]
    assert "missing_data" not in fired([3000.0] * 5 + [INVALID, None])


def test_no_sync_for_48h_nudges_the_patient() -> None:
    as_of = START + timedelta(days=9)
    now = datetime.combine(as_of, datetime.min.time(), UTC) + timedelta(hours=23)
    late = run([4000.0] * 10, last_sync=now - timedelta(hours=49), now=now)
    nudge = [c for c in late["candidates"].values() if c.audience == "patient"]
    assert [c.rule for c in nudge] == ["missing_data"] and "not monitored around the clock" in nudge[0].message
    fresh = run([4000.0] * 10, last_sync=now - timedelta(hours=47), now=now)
    assert not fresh["candidates"]


# --- rpm_days_at_risk ----------------------------------------------------------------------

def test_rpm_at_risk_when_16_days_unreachable() -> None:
    # 20 days in: 5 data days and 10 left = 15 < 16.
    steps = ([3000.0] + [None] * 3) * 5
    c = fired(steps)["rpm_days_at_risk"]
    assert (c.audience, c.severity) == ("monitoring", Severity.INFO)
    assert c.evidence == {"period": [START.isoformat(), (START + timedelta(days=29)).isoformat()],
                          "data_days": 5, "days_left": 10, "required": 16}
    assert "rpm_days_at_risk" not in fired(([3000.0] + [None] * 3) * 4 + [3000.0])  # 5 + 13


def test_lookback_must_cover_rpm_period() -> None:
    with pytest.raises(ValueError):
        RuleParams(lookback_days=20, rpm=RpmParams())


# --- sitting -------------------------------------------------------------------------------

def test_sitting_three_of_seven_valid_days() -> None:
    targets = flat_targets(7, week0=0, limit=30)
    c = fired([3000.0] * 7, targets=targets, bouts=[20, 45, 20, 50, 20, 31, 20])["sitting"]
    assert (c.audience, c.severity) == ("patient", Severity.INFO)
    assert c.evidence["longest_bout_min"] == [45.0, 50.0, 31.0]
    assert "sitting" not in fired([3000.0] * 7, targets=targets, bouts=[20, 45, 20, 50, 20, 30, 20])
    assert "sitting" not in fired([3000.0] * 7, bouts=[60] * 7)  # no limit in this phase


# --- entry point and invariants ------------------------------------------------------------

def test_assess_finds_the_candidates_and_nothing_without_data() -> None:
    hist, targets = days_from([1000.0] * 9), flat_targets(9)
    got = assess(hist, targets, START + timedelta(days=8), None)
    assert [c.rule for c in got.candidates] == ["underactivity"]
    assert assess([], [], START, None) == Assessment()


day_steps = st.floats(min_value=0, max_value=20000)


@settings(max_examples=60, deadline=None)
@given(st.lists(day_steps, min_size=10, max_size=30), st.data())
def test_invalid_days_never_count_as_zero(steps: list[float], data: st.DataObject) -> None:
    """Making a day invalid gives the same result as removing it: it is never read as 0."""
    i = data.draw(st.integers(0, len(steps) - 2))  # keep the as-of day, so rules still decide
    as_invalid = run(steps[:i] + [INVALID] + steps[i + 1:])
    as_missing = run(steps[:i] + [None] + steps[i + 1:])
    assert _decisions(as_invalid) == _decisions(as_missing)


def _decisions(out: dict) -> dict:
    # The RPM rule counts data days, and an invalid day is a data day (RULES.md): leave it out.
    return {kind: {r: getattr(f, "evidence") for r, f in found.items() if r != "rpm_days_at_risk"}
            for kind, found in out.items()}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=1.0, max_value=1.45), min_size=21, max_size=35),
       st.floats(min_value=500, max_value=7000))
def test_stable_patient_within_targets_raises_no_activity_alert(levels: list[float], low: float) -> None:
    """Between the low bound and 1.45 × it, no day can spike (< 1.5 × max) or drop (> ½ median)."""
    out = fired([low * x for x in levels], targets=flat_targets(len(levels), low=low))
    assert not set(out) & {"underactivity", "sudden_drop", "overload_spike", "sitting"}
