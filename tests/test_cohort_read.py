"""The cohort overview read from a stored cohort (SQLite and PostgreSQL): the states a
clinician sees per profile, "needs attention" first, and a number of statements that does
not grow with the cohort."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import event

from alerts.day_states import DayState
from alerts.rule_params import OverloadSpikeParams
from rehabwatch.cohort import DaysMemo, Filters, build_cohort, sort_rows
from storage import database
from tests.cohort_db import fill_cohort

NOW = datetime.now(UTC)
P = OverloadSpikeParams()


@contextmanager
def counted(url: str) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    engine = database.engine(url)
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_each_profile_reads_as_a_clinician_would_see_it(database_url: str) -> None:
    enrolled = {e.patient_id: e.profile for e in fill_cohort(database_url, 24, 60, NOW)}
    with database.session_scope(database_url) as session:
        cohort = build_cohort(session, ["north"], Filters(), NOW, P)
    assert {r.patient_id for r in cohort.never_sent} == {
        p for p, prof in enrolled.items() if prof == "never_sent"}
    rows = {r.patient_id: r for r in cohort.rows}
    assert len(rows) == 20
    for pid, row in rows.items():
        profile = enrolled[pid]
        assert len(row.cells) == 30
        if profile == "not_syncing":
            assert row.states[-10:] == (DayState.NO_UPLOAD,) * 10
            assert row.days_since_upload == 10 and row.days_since_valid >= 11
        elif profile == "not_wearing":
            assert row.states[-6:] == (DayState.NOT_WORN,) * 6
            assert row.days_since_upload == 0 and row.days_since_valid >= 7
        elif profile == "spike":
            assert row.states[-1] is DayState.OVERLOAD and row.unacknowledged == 1
        elif profile == "underactive":
            assert row.alerts["high"] == 1 and row.median_steps < 1200
    first = cohort.rows[0]
    assert enrolled[first.patient_id] == "underactive" and "1 new alert" in first.reason
    assert cohort.with_target >= cohort.within
    assert cohort.within == sum(r.states[-1] is DayState.WITHIN for r in cohort.rows
                                if r.steps_low is not None)


def test_filters_and_sorts(database_url: str) -> None:
    fill_cohort(database_url, 24, 40, NOW, teams=2)
    with database.session_scope(database_url) as session:
        mine = build_cohort(session, ["north"], Filters(), NOW, P)
        fusion = build_cohort(session, None, Filters(procedure="fusion"), NOW, P)
        snoozed = build_cohort(session, None, Filters(alert_state="open"), NOW, P)
    assert {r.team for r in mine.rows} == {"north"} and mine.teams == ["north"]
    assert fusion.rows and {r.procedure for r in fusion.rows} == {"fusion"}
    assert snoozed.rows and all(r.unacknowledged for r in snoozed.rows)
    stale = sort_rows(mine.rows, "wear", descending=True)
    days = [r.days_since_valid if r.days_since_valid is not None else 10**6 for r in stale]
    assert days == sorted(days, reverse=True)


def test_statements_do_not_grow_with_the_cohort(database_url: str) -> None:
    fill_cohort(database_url, 12, 30, NOW)
    with database.session_scope(database_url, write=False) as session, counted(database_url) as small:
        build_cohort(session, None, Filters(), NOW, P)
    fill_cohort(database_url, 60, 30, NOW, team="south", seed=8, prefix="S")
    with database.session_scope(database_url, write=False) as session, counted(database_url) as large:
        cohort = build_cohort(session, None, Filters(), NOW, P)
    assert len(cohort.rows) + len(cohort.never_sent) == 72
    assert len(large) == len(small) <= 6


def test_the_memo_reads_again_only_patients_whose_data_moved(database_url: str) -> None:
    from schemas.records import DailySummary
    from storage import summaries

    fill_cohort(database_url, 12, 30, NOW)
    memo = DaysMemo()
    with database.session_scope(database_url) as session:
        before = {r.patient_id: r
                  for r in build_cohort(session, None, Filters(), NOW, P, memo).rows}
    yesterday = NOW.date() - timedelta(days=1)
    with database.session_scope(database_url) as session:
        summaries.upsert_summaries(session, [DailySummary("P00001", yesterday, 30000.0, True,
                                                          True, 900, 900, "device", 60)])
    with database.session_scope(database_url) as session, counted(database_url) as seen:
        after = {r.patient_id: r
                 for r in build_cohort(session, None, Filters(), NOW, P, memo).rows}
    read_days = [s for s in seen if " AS w" in s]  # the windowed read of days
    assert len(read_days) == 1  # the one patient whose summaries moved
    assert after["P00001"].states[-1] is DayState.OVERLOAD
    assert {p: r.cells for p, r in after.items() if p != "P00001"} == {
        p: r.cells for p, r in before.items() if p != "P00001"}


def test_the_memo_says_once_when_many_patients_were_computed_anew() -> None:
    from rehabwatch.cohort import DayFacts

    memo = DaysMemo()
    facts = DayFacts("graded loading", 3, 1000.0, 5000.0, 1200.0, 5, None, "4" * 30)
    for k in range(3):
        memo.put(f"P{k}", (k,), facts)
    assert not memo.settle(4)
    memo.put("P3", (3,), facts)
    assert memo.settle(4) and not memo.settle(4)
    assert memo.get("P3", (3,)) is facts and memo.get("P3", (4,)) is None
