"""The pages' pure parts: the patient page's days (gaps, never zeros) and the patient's own
words for their week."""

from __future__ import annotations

from datetime import date, timedelta

from alerts.day_states import DayState
from alerts.rule_params import OverloadSpikeParams
from rehabwatch.patient_view import days_to_read, patient_days, phase_marks
from rehabwatch.web.own import Week, progress_words
from schemas.protocol import CarePlan, targets_between
from schemas.records import DailySummary

P = OverloadSpikeParams()
PLAN = CarePlan("P1", "microdiscectomy", date(2025, 1, 1), "Europe/London")


def day(d: date, steps: float | None, worn: int) -> DailySummary:
    return DailySummary("P1", d, steps, worn >= 600 and steps is not None, True, worn, worn,
                        "device", 60)


def test_missing_and_invalid_days_are_gaps_and_each_day_has_its_state() -> None:
    first, last = date(2025, 1, 10), date(2025, 1, 23)
    start = days_to_read(first, P)
    stored = [day(start + timedelta(days=i), 800.0, 800) for i in range((first - start).days)]
    stored += [day(first, 900.0, 800), day(first + timedelta(days=1), 3000.0, 200),
               day(first + timedelta(days=2), 0.0, 0)]
    points = patient_days(stored, targets_between(PLAN, start, last), first, last,
                          first + timedelta(days=5), [], P)
    assert [p.day for p in points] == [first + timedelta(days=i) for i in range(14)]
    assert points[0].steps == 900.0 and points[0].state is DayState.WITHIN
    assert points[1].steps is None and points[1].reported_steps == 3000.0
    assert points[1].state is DayState.SHORT_WEAR
    assert points[2].steps is None and points[2].state is DayState.NOT_WORN
    assert points[3].state is DayState.NOT_WORN  # synced after it, no data: not worn
    assert {p.state for p in points[5:]} == {DayState.NO_UPLOAD}
    assert all(p.steps is None for p in points[1:])
    assert points[0].median_7d == 800.0 and 500.0 < points[0].low < 1000.0  # ramped
    assert phase_marks(points) == [(0, "protected walking"), (5, "graded loading")]


def test_the_patients_words_encourage_and_never_judge() -> None:
    assert "not received a full day" in progress_words(Week(0, None, 3500.0, None))
    assert progress_words(Week(5, 4000.0, 3500.0, 5000.0)).startswith("Well done")
    assert "getting close" in progress_words(Week(5, 3000.0, 3500.0, None))
    assert "Every walk counts" in progress_words(Week(5, 1000.0, 3500.0, None))
    assert "Pacing matters" in progress_words(Week(3, 6000.0, 3500.0, 5000.0))
    assert "1 day" in progress_words(Week(1, 4000.0, 3500.0, None))
    for words in (progress_words(Week(n, s, 3500.0, 5000.0))
                  for n, s in ((0, None), (4, 800.0), (6, 9000.0))):
        assert "alert" not in words and "underactiv" not in words
