"""Daily summaries: hand-built minute days with exact expected values, and invariants."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from processors.merge import WEAR_MINUTES_HR, merge_day
from processors.summary import (WEAR_CHOI, WEAR_DEVICE, WEAR_HOURLY, WEAR_HR_DAILY, WEAR_NONE,
                                SummaryParams, summarize, summarize_days)
from schemas.daygrid import DAY, HOUR, MINUTE, NOT_WORN, WEAR_UNKNOWN, WORN, DayGrid, Source
from tests.conftest import device_file
from tests.test_merge import ACTIVPAL, FITBIT, GARMIN, PHONE, grid, random_minutes

SPRING, AUTUMN = date(2024, 3, 31), date(2024, 10, 27)  # Europe/Berlin: 1380 and 1500 slots


def worn_all(n: int = 1440) -> np.ndarray:
    return np.full(n, WORN, np.int8)


def day_of(steps: np.ndarray, **kw: object) -> object:
    return summarize(merge_day([grid(kw.pop("source", GARMIN), steps, **kw)]))


def test_walking_bouts_tolerate_one_minute_gaps_only() -> None:
    steps = np.zeros(1440)
    steps[600:602] = 70                 # bout of 2
    steps[700:703] = [70, 10, 70]       # bout spanning a 1-minute gap: 3 minutes
    steps[800:804] = [70, 10, 10, 70]   # 2-minute gap: two lone walking minutes, no bout
    steps[900:905] = 120                # bout of 5, all moderate
    s = day_of(steps, worn=worn_all())
    assert (s.walking_minutes, s.walking_bouts, s.walking_bout_minutes) == (11, 3, 10)
    assert (s.longest_walking_bout_min, s.moderate_minutes) == (5, 5)


def test_stationary_bouts_and_breaks() -> None:
    steps = np.zeros(1440)
    steps[[480, 540, 1000]] = [25, 5, 30]  # 540 ends a bout but is no break (< 20 steps)
    s = day_of(steps, worn=worn_all())
    assert (s.stationary_minutes, s.longest_stationary_bout_min) == (897, 459)
    assert (s.prolonged_stationary_bouts, s.sedentary_breaks) == (4, 2)
    assert s.sitting_minutes is None  # a watch senses no posture
    assert (s.wear_minutes, s.wear_minutes_daytime, s.valid, s.wear_method) == (
        1440, 900, True, WEAR_DEVICE)


def test_sitting_only_where_posture_is_sensed() -> None:
    steps, sed = np.zeros(1440), np.full(1440, 60.0)
    sed[600:660] = 0  # standing still: stationary, not sitting
    s = day_of(steps, source=ACTIVPAL, worn=worn_all(), sedentary_s=sed)
    assert (s.stationary_minutes, s.sitting_minutes) == (900, 840)


@pytest.mark.parametrize("spike, worn", [(2, 99), (3, 221)])
def test_choi_nonwear_allows_a_two_minute_spike(spike: int, worn: int) -> None:
    steps = np.zeros(1440)
    steps[480:540] = 70
    steps[600:600 + spike] = 5
    steps[600 + spike:662] = 0
    steps[662:701] = 70
    s = day_of(steps)
    assert (s.wear_minutes, s.wear_method, s.valid) == (worn, WEAR_CHOI, False)


@pytest.mark.parametrize("day, lo, hi", [(SPRING, 360, 1260), (AUTUMN, 480, 1380)])
def test_dst_daytime_window_uses_slot_times(day: date, lo: int, hi: int) -> None:
    n = {SPRING: 1380, AUTUMN: 1500}[day]
    flags = np.full(n, NOT_WORN, np.int8)
    flags[lo - 1:hi] = WORN  # one worn minute before 07:00 local
    s = day_of(np.full(n, 3.0), day=day, worn=flags)
    assert (s.wear_minutes_daytime, s.wear_minutes, s.valid) == (900, 901, True)


def test_valid_day_needs_ten_daytime_hours() -> None:
    params = SummaryParams()
    flags = np.full(1440, WEAR_UNKNOWN, np.int8)
    flags[params.daytime_start_min:params.daytime_start_min + params.valid_wear_min] = WORN
    assert day_of(np.full(1440, 3.0), worn=flags).valid
    flags[params.daytime_start_min] = WEAR_UNKNOWN
    assert not day_of(np.full(1440, np.nan), worn=flags).valid


def test_hourly_days_report_steps_and_validity_from_hours_with_steps() -> None:
    hours = np.zeros(24)
    hours[7:17] = 300
    s = summarize(merge_day([grid(FITBIT, hours, res=HOUR)]))
    assert (s.steps, s.valid, s.wear_method, s.wear_minutes_daytime) == (
        3000, True, WEAR_HOURLY, 600)
    assert s.walking_bouts is None and s.stationary_minutes is None
    hours[16] = 0
    assert not summarize(merge_day([grid(FITBIT, hours, res=HOUR)])).valid


def test_daily_days_use_heart_rate_wear_minutes_when_given() -> None:
    with_hr = grid(FITBIT, np.array([4000.0]), res=DAY, extra={WEAR_MINUTES_HR: "1300"})
    s = summarize(merge_day([with_hr]))
    assert (s.steps, s.valid, s.wear_method, s.wear_minutes_daytime) == (
        4000, True, WEAR_HR_DAILY, 900)
    bare = summarize(merge_day([grid(PHONE, np.array([4000.0]), res=DAY)]))
    assert (bare.steps, bare.valid, bare.data_day, bare.wear_method) == (
        4000, False, True, WEAR_NONE)


def test_day_without_steps_is_missing_not_zero() -> None:
    s = day_of(np.full(1440, np.nan))
    assert s.steps is None and not s.valid and not s.data_day and s.walking_bouts is None


seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=20, deadline=None)
@given(a=seeds, b=seeds, day=st.sampled_from([date(2024, 5, 6), SPRING, AUTUMN]))
def test_steps_preserved_and_duplicates_change_nothing(a: int, b: int, day: date) -> None:
    n = {SPRING: 1380, AUTUMN: 1500}.get(day, 1440)
    grids = [grid(GARMIN, random_minutes(a, n), day=day),
             grid(PHONE, random_minutes(b, n), day=day)]
    merged = merge_day(grids)
    s = summarize(merged)
    assert s.steps == pytest.approx(np.nansum(merged.steps)) or s.steps is None
    assert summarize(merge_day(grids + grids[:1])) == s
    twin = DayGrid(**{**grids[0].__dict__, "source": Source("garmin-fit", "fenix", "other")})
    assert replace(summarize(merge_day(grids + [twin])), sources=()) == replace(s, sources=())


def test_batch_equals_one_by_one_across_slot_counts_and_resolutions() -> None:
    days = [merge_day([grid(GARMIN, random_minutes(i, n), day=d)])
            for i, (d, n) in enumerate([(SPRING, 1380), (date(2024, 5, 6), 1440), (AUTUMN, 1500)])]
    days.insert(1, merge_day([grid(FITBIT, np.full(24, 100.0), res=HOUR)]))
    assert summarize_days(days) == [summarize(d) for d in days]


def test_real_fitbit_minute_steps_match_the_daily_totals() -> None:
    """Fitabase minute steps, merged with the same subject's daily totals, keep every step."""
    from ingest.base import ParseContext
    from ingest.fitbit_csv import PARSER
    from schemas.binning import bin_batch

    folder, tz = "fitbit/fitabase_export_actiwearcheck", "America/New_York"

    def grids(table: str) -> dict[date, DayGrid]:
        path = device_file(f"{folder}/name5_{table}_20190730_20230830.csv")
        result = PARSER.parse(io.BytesIO(path.read_bytes()),
                              ParseContext("p1", tz, filename=path.name))
        return {g.local_date: g for s in result.series for g in bin_batch(s.batch, "p1", tz)}

    minute, daily = grids("minuteStepsNarrow"), grids("dailySteps")
    summaries = summarize_days([merge_day([minute[d], daily[d]]) for d in sorted(minute)])
    assert all(s.resolution_s == MINUTE for s in summaries)
    assert [s.steps for s in summaries] == [minute[s.local_date].total_steps for s in summaries]
    # Fitbit's daily totals differ from its minute sums by a few steps on some days, and the
    # parser drops minutes stamped inside the spring-forward gap (2023-03-12: 174 steps).
    daily_totals = np.array([daily[s.local_date].total_steps for s in summaries])
    ours = np.array([s.steps for s in summaries])
    assert np.all(np.abs(ours - daily_totals) <= 0.025 * daily_totals)
    assert abs(ours.sum() - daily_totals.sum()) <= 0.001 * daily_totals.sum()


@settings(max_examples=15, deadline=None)
@given(seeds=st.lists(st.integers(0, 2**32 - 1), min_size=2, max_size=12))
def test_batch_of_mixed_wear_evidence_equals_one_by_one(seeds: list[int]) -> None:
    """Device-flag, Choi and mixed days in one batch (Choi then runs on some rows only) give
    the same summaries as each day alone."""
    days = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        steps = random_minutes(seed)
        kind = seed % 3
        flags = (np.full(1440, WEAR_UNKNOWN, np.int8) if kind == 0
                 else np.full(1440, WORN, np.int8) if kind == 1
                 else rng.integers(-1, 2, 1440).astype(np.int8))
        source = ACTIVPAL if kind == 1 else GARMIN
        sed = np.where(steps == 0, 60.0, 0.0) if kind == 1 else None
        days.append(merge_day([grid(source, steps, worn=flags, sedentary_s=sed)]))
    assert summarize_days(days) == [summarize(d) for d in days]


def test_real_fitbit_sedentary_minutes_are_what_the_files_report() -> None:
    """Minute intensities overlaid on minute steps (one source) give, per local day, the count
    of intensity-0 minutes in the file; Fitbit's daily SedentaryMinutes leaves sleep out, so it
    is never more; a day known only from the daily files reports SedentaryMinutes itself."""
    import pandas as pd

    from ingest.base import ParseContext
    from ingest.fitbit_csv import PARSER
    from schemas.binning import bin_batch

    folder, tz = "fitbit/fitabase_export_actiwearcheck", "America/New_York"

    def table(name: str) -> tuple[Path, dict[date, DayGrid]]:
        path = device_file(f"{folder}/name5_{name}_20190730_20230830.csv")
        result = PARSER.parse(io.BytesIO(path.read_bytes()),
                              ParseContext("p1", tz, filename=path.name))
        return path, {g.local_date: g for s in result.series for g in bin_batch(s.batch, "p1", tz)}

    _, steps = table("minuteStepsNarrow")
    minute_path, intensities = table("minuteIntensitiesNarrow")
    daily_path, daily = table("dailyIntensities")
    _, daily_steps = table("dailySteps")
    days = sorted(steps)
    summaries = summarize_days([merge_day([steps[d].overlay(intensities[d])]) for d in days])
    raw = pd.read_csv(minute_path)
    raw_day = pd.to_datetime(raw["ActivityMinute"], format="%m/%d/%Y %I:%M:%S %p").dt.date
    zero_minutes = (raw["Intensity"] == 0).groupby(raw_day).sum()
    reported = pd.read_csv(daily_path).set_index(
        pd.to_datetime(pd.read_csv(daily_path)["ActivityDay"], format="%m/%d/%Y").dt.date
    )["SedentaryMinutes"]
    spring_forward = date(2023, 3, 12)  # the parser drops minutes stamped in the DST gap
    for s in summaries:
        gap = 60 if s.local_date == spring_forward else 0
        assert zero_minutes[s.local_date] - gap <= s.sedentary_minutes <= zero_minutes[s.local_date]
        assert s.sedentary_minutes >= reported[s.local_date]
    only_daily = summarize_days([merge_day([daily_steps[d].overlay(daily[d])]) for d in days])
    assert [s.sedentary_minutes for s in only_daily] == [reported[d] for d in days]
    assert all(s.resolution_s == 86400 for s in only_daily)
