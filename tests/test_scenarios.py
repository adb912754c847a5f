"""Synthetic patients replayed day by day through rules and lifecycle: each plants one story
and must raise exactly the alerts expected, and no others."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np

from tests.cohort import STEADY, Patient, make_patient, plant, replay

START = date(2025, 3, 3)  # a Monday; 30 March 2025 (UK clocks forward) falls in week 3
DAYS = 84


def steady(pid: str = "s1") -> Patient:
    return make_patient(pid, START, DAYS, np.random.default_rng(0), STEADY, level=1.5)


def planted(problem: str) -> Patient:
    p = steady()
    plant(p, problem, np.random.default_rng(1))
    return p


def episodes(p: Patient) -> list[tuple[str, str]]:
    return sorted((a.rule, a.audience) for a in replay(p).opened)


def test_steady_patient_raises_nothing() -> None:
    log = replay(steady())
    assert log.opened == [] and log.notifications == []


def test_underactive_fortnight_raises_one_underactivity_episode_then_resolves() -> None:
    p = planted("underactivity")
    log = replay(p)
    assert [(a.rule, a.audience) for a in log.opened] == [("underactivity", "clinician")]
    first = p.planted[0].first
    assert first + timedelta(days=2) <= log.opened[0].opened_on <= first + timedelta(days=6)
    assert [a.rule for a in log.resolved] == ["underactivity"]  # after recovery
    assert log.resolved[0].resolved_at.date() > p.planted[0].last


def test_spike_raises_one_alert_that_settles() -> None:
    p = planted("overload_spike")
    log = replay(p)
    assert [(a.rule, a.stage, a.opened_on) for a in log.opened] == [("overload_spike", "spike", p.planted[0].first)]
    assert [a.rule for a in log.resolved] == ["overload_spike"]


def test_two_spikes_in_a_week_notify_once() -> None:
    p = planted("overload_spike")
    first = p.planted[0].first
    plant_spike_again = first + timedelta(days=4)
    p.days[plant_spike_again] = replace(p.days[plant_spike_again], steps=p.days[first].steps * 1.6)
    log = replay(p)
    assert [(n.rule, n.kind) for n in log.notifications] == [("overload_spike", "new")]
    assert any(a.last_evidence["day"] == plant_spike_again.isoformat() for a in log.refreshed)


def test_boom_bust_escalates_the_spike_episode() -> None:
    log = replay(planted("boom_bust"))
    assert [a.rule for a in log.opened] == ["overload_spike"]
    kinds = [(n.rule, n.kind) for n in log.notifications]
    assert kinds == [("overload_spike", "new"), ("overload_spike", "escalation")]
    assert "consider deload" in [n for n in log.notifications if n.kind == "escalation"][0].message


def test_silent_device_nudges_patient_then_alerts_clinician_then_resolves() -> None:
    p = planted("silent_device")
    log = replay(p)
    assert sorted((a.rule, a.audience, a.opened_on) for a in log.opened) == [
        ("missing_data", "clinician", p.planted[0].first + timedelta(days=2)),
        ("missing_data", "patient", p.planted[0].first + timedelta(days=1))]
    assert sorted(a.audience for a in log.resolved) == ["clinician", "patient"]
    assert log.active == []


def test_late_upload_fills_the_gap_and_resolves_missing_data() -> None:
    p = planted("late_upload")
    gap = p.planted[0]
    log = replay(p)
    clinician = [a for a in log.resolved if a.audience == "clinician"]
    assert episodes(p) == [("missing_data", "clinician"), ("missing_data", "patient")]
    assert clinician[0].opened_on == gap.first + timedelta(days=2)
    # Resolved on the day the late data arrived, before any new day could have cleared it.
    assert clinician[0].resolved_at.date() == gap.last + timedelta(days=1)
    assert clinician[0].transitions[-1].reason == "auto: a valid day arrived"


def test_two_devices_merged_upstream_are_steady_data() -> None:
    p = steady()
    for d, s in p.days.items():
        p.days[d] = replace(s, sources=("garmin-fit:watch", "apple-health:phone"))
    assert episodes(p) == []


def test_dst_change_day_is_an_ordinary_valid_day() -> None:
    p = steady()
    dst = date(2025, 3, 30)  # 23-hour local day in Europe/London
    p.days[dst] = replace(p.days[dst], wear_minutes=1380 - 480, wear_minutes_daytime=840)
    assert episodes(p) == []
    assert p.days[dst].valid


def test_sitting_in_protected_phase_nudges_patient_only() -> None:
    log = replay(planted("sitting"))
    assert [(a.rule, a.audience) for a in log.opened] == [("sitting", "patient")]
    assert sorted(n.route for n in log.notifications if n.kind == "new") == ["digest", "patient"]
    assert {n.route for n in log.notifications} == {"digest", "patient"}  # never a clinician page


def test_sparse_wear_warns_the_monitoring_team() -> None:
    log = replay(planted("sparse_wear"))
    assert episodes_of(log) == [("missing_data", "patient"), ("rpm_days_at_risk", "monitoring")]


def episodes_of(log) -> list[tuple[str, str]]:
    return sorted({(a.rule, a.audience) for a in log.opened})
