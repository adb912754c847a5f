"""The alert lifecycle: episodes, notifications, snoozes, manual transitions, idempotency."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.lifecycle import (
    InvalidSnooze,
    InvalidTransition,
    Reconciliation,
    acknowledge,
    reconcile,
    resolve,
    snooze,
)
from schemas.alert_records import Alert, AlertCandidate, AlertStatus, Clearance, Severity

DAY0 = date(2025, 3, 10)
T0 = datetime(2025, 3, 11, 6, 0, tzinfo=UTC)


def cand(rule: str = "underactivity", day: int = 0, severity: Severity = Severity.WARNING,
         audience: str = "clinician", stage: str = "", patient: str = "p1") -> AlertCandidate:
    return AlertCandidate(patient, rule, DAY0 + timedelta(days=day), severity, f"{rule} day {day}",
                          audience, {"day": day}, stage)


def clear(rule: str = "underactivity", audience: str = "clinician") -> Clearance:
    return Clearance("p1", rule, DAY0, "2 valid days at least 10% above the threshold", audience)


def at(days: int) -> datetime:
    return T0 + timedelta(days=days)


def step(alerts: list[Alert], cands: list[AlertCandidate], clears: list[Clearance], now: datetime) -> tuple[list[Alert], Reconciliation]:
    r = reconcile(alerts, cands, clears, now)
    return r.apply(alerts), r


def opened(c: AlertCandidate | None = None) -> Alert:
    return reconcile([], [c or cand()], [], T0).create[0]


def test_candidate_opens_one_alert_and_notifies() -> None:
    alerts, r = step([], [cand()], [], T0)
    assert len(r.create) == 1 and alerts == list(r.create)
    a = alerts[0]
    assert (a.status, a.opened_on, a.notified_at) == (AlertStatus.OPEN, DAY0, T0)
    assert [(n.route, n.kind) for n in r.notifications] == [("clinician", "new")]
    assert a.transitions[0].actor == "rehabwatch"


def test_persisting_condition_refreshes_evidence_without_duplicate() -> None:
    alerts, _ = step([], [cand(day=0)], [], at(0))
    alerts, r = step(alerts, [cand(day=1)], [], at(1))
    assert not r.create and not r.notifications
    assert len(alerts) == 1 and alerts[0].last_evidence == {"day": 1}
    assert alerts[0].opened_on == DAY0


def test_renotify_after_seven_days_if_still_open() -> None:
    alerts, _ = step([], [cand()], [], at(0))
    for d in range(1, 7):
        alerts, r = step(alerts, [cand(day=d)], [], at(d))
        assert not r.notifications
    alerts, r = step(alerts, [cand(day=7)], [], at(7))
    assert [n.kind for n in r.notifications] == ["renotify"] and r.renotify == (alerts[0].id,)


def test_acknowledged_alert_is_not_renotified_but_escalation_is() -> None:
    a = acknowledge(opened(), "dr.k", "will call", at(0))
    _, r = step([a], [cand(day=8)], [], at(8))
    assert not r.notifications
    _, r = step([a], [cand(day=8, severity=Severity.HIGH)], [], at(8))
    assert [n.kind for n in r.notifications] == ["escalation"]


def test_new_stage_notifies() -> None:
    alerts, _ = step([], [cand("overload_spike", stage="spike")], [], at(0))
    alerts, r = step(alerts, [cand("overload_spike", 2, stage="boom_bust")], [], at(2))
    assert [n.kind for n in r.notifications] == ["escalation"] and alerts[0].stage == "boom_bust"


def test_clearance_auto_resolves_with_reason() -> None:
    alerts, _ = step([], [cand()], [], at(0))
    alerts, r = step(alerts, [], [clear()], at(3))
    assert alerts == [] and r.resolve[0].status is AlertStatus.RESOLVED
    assert r.resolve[0].transitions[-1].reason.startswith("auto: 2 valid days")
    assert r.resolve[0].resolved_at == at(3)


def test_no_candidate_and_no_clearance_keeps_the_alert() -> None:
    alerts, _ = step([], [cand()], [], at(0))
    after, r = step(alerts, [], [], at(1))
    assert after == alerts and r == Reconciliation()


def test_candidate_wins_over_clearance_and_unrelated_clearances_do_nothing() -> None:
    alerts, _ = step([], [cand()], [], at(0))
    _, r = step(alerts, [cand(day=1)], [clear(), clear("sitting", "patient")], at(1))
    assert not r.resolve


def test_new_episode_after_resolution() -> None:
    alerts, _ = step([], [cand()], [], at(0))
    alerts, _ = step(alerts, [], [clear()], at(3))
    alerts, r = step(alerts, [cand(day=5)], [], at(5))
    assert len(r.create) == 1 and r.create[0].opened_on == DAY0 + timedelta(days=5)


def test_audiences_are_separate_episodes_with_their_routes() -> None:
    _, r = step([], [cand("missing_data"), cand("missing_data", audience="patient"),
                     cand("rpm_days_at_risk", severity=Severity.INFO, audience="monitoring"),
                     cand("sitting", severity=Severity.INFO, audience="patient")], [], at(0))
    assert len(r.create) == 4
    assert sorted((n.rule, n.route) for n in r.notifications) == [
        ("missing_data", "clinician"), ("missing_data", "patient"), ("rpm_days_at_risk", "monitoring"),
        ("sitting", "digest"), ("sitting", "patient")]


def test_snooze_mutes_then_wakes_if_condition_persists() -> None:
    a = snooze(opened(), DAY0 + timedelta(days=4), "dr.k", "patient on holiday", datetime(2025, 3, 11, 9, tzinfo=UTC))
    assert (a.status, a.snoozed_until) == (AlertStatus.SNOOZED, date(2025, 3, 14))
    alerts = [a]
    for d in range(1, 10):
        alerts, r = step(alerts, [cand(day=d)], [], at(d))
        if at(d).date() < date(2025, 3, 14):
            assert not r.notifications and alerts[0].status is AlertStatus.SNOOZED
        else:
            break
    assert [n.kind for n in r.notifications] == ["snooze_ended"]
    assert alerts[0].status is AlertStatus.OPEN and alerts[0].transitions[-1].reason.startswith("snooze ended")


@pytest.mark.parametrize("days", [0, 2, 14])
def test_snooze_lengths_are_1_3_or_7_days(days: int) -> None:
    with pytest.raises(InvalidSnooze, match="1, 3, 7"):
        snooze(opened(), T0.date() + timedelta(days=days), "dr.k", "why", T0)


def test_snooze_needs_a_reason() -> None:
    with pytest.raises(InvalidSnooze, match="reason"):
        snooze(opened(), T0.date() + timedelta(days=1), "dr.k", " ", T0)


def test_manual_transitions_are_recorded_and_invalid_ones_rejected() -> None:
    a = acknowledge(opened(), "dr.k", "seen", at(1))
    b = resolve(a, "dr.k", "spoke to patient: fine", at(2))
    assert [(t.status, t.actor) for t in b.transitions] == [
        (AlertStatus.OPEN, "rehabwatch"), (AlertStatus.ACKNOWLEDGED, "dr.k"), (AlertStatus.RESOLVED, "dr.k")]
    with pytest.raises(InvalidTransition, match="acknowledged"):
        acknowledge(a, "dr.k", "again", at(1))
    for action in (lambda x: acknowledge(x, "u", "r", at(3)), lambda x: resolve(x, "u", "r", at(3)),
                   lambda x: snooze(x, at(4).date(), "u", "r", at(3))):
        with pytest.raises(InvalidTransition, match="resolved"):
            action(b)


def test_naive_times_are_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        reconcile([], [cand()], [], datetime(2025, 3, 11))


rules = st.sampled_from(["underactivity", "sudden_drop", "missing_data", "sitting"])
candidates = st.builds(cand, rules, st.integers(0, 3), st.sampled_from(list(Severity)),
                       st.sampled_from(["clinician", "patient"]), st.sampled_from(["", "spike"]),
                       st.sampled_from(["p1", "p2"]))
clearances = st.builds(clear, rules, st.sampled_from(["clinician", "patient"]))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.lists(candidates, max_size=5), st.lists(clearances, max_size=3)), max_size=5),
       st.lists(candidates, max_size=5), st.lists(clearances, max_size=3))
def test_reconciling_twice_creates_and_sends_nothing_new(history, cands, clears) -> None:
    alerts: list[Alert] = []
    for d, (cs, cl) in enumerate(history):
        alerts, _ = step(alerts, cs, cl, at(d))
    now = at(len(history))
    once, first = step(alerts, cands, clears, now)
    twice, second = step(once, cands, clears, now)
    assert second == Reconciliation() and twice == once
    assert len({a.key for a in once}) == len(once)  # one active alert per episode
    assert reconcile(alerts, cands, clears, now) == first  # deterministic: same ids for a retry
