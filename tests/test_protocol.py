"""Protocol library and daily targets: RULES.md values, continuity, stretch, overrides."""

from __future__ import annotations

import json
from datetime import date, timedelta
from importlib.resources import files

import pytest
from hypothesis import given, settings, strategies as st

from schemas.protocol import (PRE_START, PROTOCOL_IDS, CarePlan, ProtocolError, load_protocol,
                              personal_baseline, procedures, targets_for)
from schemas.records import DailySummary

START = date(2025, 1, 6)
#: Steepest daily change the protocols allow (discectomy 3,500 -> 5,000 over weeks 6-8 is
#: ~107 steps/day; a baseline of 2,000 at week 16 makes 5,000 -> 2,000 over 4 weeks alike).
MAX_DAILY_CHANGE = 150


def plan(procedure: str = "microdiscectomy", **kw: object) -> CarePlan:
    return CarePlan("p1", procedure, START, "Europe/Berlin", **kw)  # type: ignore[arg-type]


def on(p: CarePlan, days: int):  # noqa: ANN201 - DayTargets
    return targets_for(p, START + timedelta(days=days))


def test_procedures_map_to_protocols() -> None:
    assert procedures() == {"microdiscectomy": "discectomy", "discectomy": "discectomy",
                            "decompression": "discectomy", "fusion": "fusion",
                            "conservative": "conservative"}
    with pytest.raises(ProtocolError):
        plan("laminoplasty")


@pytest.mark.parametrize("days, phase, low, high", [
    (0, "protected walking", 500, None), (7, "protected walking", 500, None),
    (14, "graded loading", 1000, 5000), (42, "strength and endurance", 3500, 5000),
    (56, "strength and endurance", 5000, 5000 + 2500 / 3), (84, "return to life", 5000, None),
    (112, "return to life", 7000, None), (400, "return to life", 7000, None)])
def test_discectomy_follows_rules(days: int, phase: str, low: float, high: float | None) -> None:
    t = on(plan(), days)
    assert (t.phase, t.week, t.steps_low.value) == (phase, days // 7, pytest.approx(low))
    assert (t.steps_high and t.steps_high.value) == (high and pytest.approx(high))
    assert t.steps_low.origin == "protocol:discectomy@2025.1"


def test_protected_walking_has_bout_minimum_and_sitting_limit() -> None:
    early, later = on(plan(), 10), on(plan(), 14)
    assert (early.walking_bouts_min.value, early.stationary_bout_max_min.value) == (6, 30)
    assert later.walking_bouts_min is None and later.stationary_bout_max_min is None


def test_conservative_ramps_from_programme_start() -> None:
    lows = [on(plan("conservative"), d).steps_low.value for d in (0, 14, 42, 84, 112, 300)]
    assert lows == pytest.approx([3000, 3000, 4000, 6000, 7000, 7000])
    assert on(plan("conservative"), 300).steps_high.value == 8000


@pytest.mark.parametrize("days", range(0, 200, 2))
def test_fusion_is_discectomy_stretched_by_one_and_a_half(days: int) -> None:
    fusion, disc = on(plan("fusion"), days * 3 // 2), on(plan(), days)
    assert fusion.phase == disc.phase
    assert fusion.steps_low.value == pytest.approx(disc.steps_low.value)
    assert load_protocol("fusion").derived_from == "discectomy@2025.1"


@settings(max_examples=30, deadline=None)
@given(procedure=st.sampled_from(["microdiscectomy", "fusion", "conservative"]),
       baseline=st.one_of(st.none(), st.floats(1000, 15000)))
def test_targets_are_continuous_in_time(procedure: str, baseline: float | None) -> None:
    p = plan(procedure, baseline=baseline)
    days = [on(p, d) for d in range(0, 220)]
    for a, b in zip(days, days[1:]):
        assert abs(b.steps_low.value - a.steps_low.value) <= MAX_DAILY_CHANGE
        if a.steps_high and b.steps_high:
            assert abs(b.steps_high.value - a.steps_high.value) <= MAX_DAILY_CHANGE


@pytest.mark.parametrize("baseline, value, origin", [
    (6000, 6000, "baseline"), (9000, 7000, "protocol:discectomy@2025.1"),
    (None, 7000, "protocol:discectomy@2025.1")])
def test_week_16_low_bound_is_capped_by_a_lower_baseline(
        baseline: float | None, value: float, origin: str) -> None:
    t = on(plan(baseline=baseline), 16 * 7)
    assert (t.steps_low.value, t.steps_low.origin) == (value, origin)
    assert on(plan(baseline=baseline), 12 * 7).steps_low.origin.startswith("protocol:")


def test_overrides_win() -> None:
    t = on(plan(overrides={"steps_low": 2500, "steps_high": 4000}), 3)
    assert (t.steps_low.value, t.steps_low.origin) == (2500, "override")
    assert (t.steps_high.value, t.steps_high.origin) == (4000, "override")
    assert t.walking_bouts_min.origin.startswith("protocol:")
    with pytest.raises(ProtocolError):
        plan(overrides={"steps_lo": 1})


def test_expected_fraction_of_baseline() -> None:
    disc, fusion = on(plan(baseline=8000), 14), on(plan("fusion", baseline=8000), 21)
    assert disc.expected_fraction_of_baseline.value == pytest.approx(0.6)
    assert disc.expected_steps.value == pytest.approx(4800)
    assert fusion.expected_steps.value == pytest.approx(4800)
    assert on(plan(), 14).expected_steps is None


def test_before_start_has_no_targets() -> None:
    t = on(plan(), -3)
    assert (t.phase, t.week, t.steps_low) == (PRE_START, -1, None)
    assert t.notes  # draft protocols say their defaults await review


def summary(days: int, steps: float, valid: bool = True) -> DailySummary:
    return DailySummary("p1", START + timedelta(days=days), steps, valid, True, 900, 900,
                        "device", 60)


def test_personal_baseline_is_the_median_of_valid_window_days() -> None:
    window = [summary(d, 1000.0 * d * d) for d in (-14, -10, -6, -4, -2)]
    noise = [summary(-1, 1e6), summary(-20, 1e6), summary(-3, 1e6, valid=False)]
    assert personal_baseline(window + noise, plan()) == 36000
    assert personal_baseline(window[1:] + noise, plan()) is None


def test_every_default_names_its_source_and_awaits_review() -> None:
    for pid in PROTOCOL_IDS:
        doc = json.loads(files("schemas").joinpath("protocols", f"{pid}.json").read_text())
        assert doc["review"].startswith("DRAFT") and doc["source"]
        for item in doc.get("phases", []):
            assert item["source"]
        items = [*doc.get("targets", {}).values()] + ([doc["baseline"]] if "baseline" in doc else [])
        for item in items:
            assert item["source"] and "clinician review" in item["review"]
