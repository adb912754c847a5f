"""Day grid and binning: lengths on DST days, totals preserved, overlay never adds."""

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.binning import IntervalBatch, bin_batch
from schemas.daygrid import DAY, HOUR, MINUTE, DayGrid, Source, slot_count
from tests.factories import empty_grid

SRC = Source("csv", "test")
ZONES = ["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]


@pytest.mark.parametrize("tz, day, minutes", [
    ("Europe/London", date(2024, 3, 31), 1380),
    ("Europe/London", date(2024, 10, 27), 1500),
    ("America/New_York", date(2024, 3, 10), 1380),
    ("America/New_York", date(2024, 11, 3), 1500),
    ("Australia/Lord_Howe", date(2024, 4, 7), 1470),  # a 30-minute DST shift
    ("Asia/Kathmandu", date(2024, 6, 1), 1440),
])
def test_slot_counts_follow_the_local_day(tz: str, day: date, minutes: int) -> None:
    assert slot_count(day, tz, MINUTE) == minutes
    assert slot_count(day, tz, HOUR) == -(-minutes // 60)
    assert slot_count(day, tz, DAY) == 1


@given(st.dates(date(2000, 1, 1), date(2035, 12, 31)), st.sampled_from(ZONES))
def test_every_day_is_a_whole_number_of_minutes(day: date, tz: str) -> None:
    n = slot_count(day, tz, MINUTE)
    assert n in (1380, 1410, 1440, 1470, 1500)


intervals = st.lists(st.tuples(
    st.integers(0, 10 * 86400),            # start offset, s
    st.integers(0, 5 * 3600),              # duration, s
    st.floats(0, 5000, allow_nan=False),   # steps
), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(intervals, st.sampled_from(ZONES), st.sampled_from([MINUTE, HOUR, DAY]))
def test_binning_preserves_totals(rows: list[tuple[int, int, float]], tz: str, res: int) -> None:
    base = datetime(2024, 3, 28, tzinfo=timezone.utc).timestamp()  # spans a DST change
    start = np.array([base + r[0] for r in rows])
    batch = IntervalBatch(SRC, res, start, np.array([float(r[1]) for r in rows]),
                          np.array([r[2] for r in rows]))
    grids = bin_batch(batch, "p1", tz)
    assert sum(g.total_steps for g in grids) == pytest.approx(batch.total_steps, rel=1e-9, abs=1e-6)
    assert [g.local_date for g in grids] == sorted({g.local_date for g in grids})
    for g in grids:
        assert g.n_slots == slot_count(g.local_date, tz, res)


@settings(max_examples=60, deadline=None)
@given(intervals, st.sampled_from(ZONES), st.sampled_from([MINUTE, HOUR, DAY]),
       st.integers(1, 5), st.lists(st.sampled_from([1, 0, -1]), min_size=40, max_size=40))
def test_binning_in_chunks_equals_binning_at_once(rows: list[tuple[int, int, float]], tz: str,
                                                  res: int, chunk: int, wear: list[int]) -> None:
    """Grids of a day binned from several chunks (of intervals, of days) are added up: the
    same grids as one pass, days far apart included (only days with data get slots)."""
    import schemas.binning as binning

    base = datetime(2024, 3, 28, tzinfo=timezone.utc).timestamp()
    start = np.array([base + r[0] * (1 + 300 * (i % 2)) for i, r in enumerate(rows)])
    batch = IntervalBatch(SRC, res, start, np.array([float(r[1]) for r in rows]),
                          np.array([r[2] for r in rows]), sedentary_s=np.zeros(len(rows)),
                          worn=np.array(wear[:len(rows)], dtype=np.int8))
    whole = bin_batch(batch, "p1", tz)
    saved = binning.BIN_CHUNK, binning.GROUP_DAYS
    binning.BIN_CHUNK, binning.GROUP_DAYS = chunk, chunk  # also days binned 1-5 at a time
    try:
        pieces = bin_batch(batch, "p1", tz)
    finally:
        binning.BIN_CHUNK, binning.GROUP_DAYS = saved
    assert [g.local_date for g in pieces] == [g.local_date for g in whole]
    for a, b in zip(whole, pieces):
        assert np.allclose(a.steps, b.steps, equal_nan=True, rtol=1e-9, atol=1e-6)
        assert np.array_equal(a.worn, b.worn)
        assert a.sedentary_s is not None and b.sedentary_s is not None
        assert np.allclose(a.sedentary_s, b.sedentary_s, equal_nan=True)


def test_interval_across_midnight_is_split_by_local_day() -> None:
    start = datetime(2024, 6, 1, 22, 59, tzinfo=timezone.utc).timestamp()  # 23:59 in London
    batch = IntervalBatch(SRC, MINUTE, np.array([start]), np.array([120.0]), np.array([100.0]))
    first, second = bin_batch(batch, "p1", "Europe/London")
    assert (first.local_date, second.local_date) == (date(2024, 6, 1), date(2024, 6, 2))
    assert first.steps[1439] == 50 and second.steps[0] == 50
    assert np.isnan(first.steps[:1439]).all() and np.isnan(second.steps[1:]).all()


def test_unmeasured_slots_are_missing_not_zero() -> None:
    start = datetime(2024, 6, 1, 12, tzinfo=timezone.utc).timestamp()
    batch = IntervalBatch(SRC, MINUTE, np.array([start]), np.array([60.0]), np.array([0.0]))
    (grid,) = bin_batch(batch, "p1", "UTC")
    assert grid.covered.sum() == 1 and grid.steps[720] == 0


def _grid(values: dict[int, float]) -> DayGrid:
    g = empty_grid("p1", SRC, date(2024, 6, 1), "UTC", MINUTE)
    for i, v in values.items():
        g.steps[i] = v
    return g


def test_overlay_replaces_known_slots_and_keeps_the_rest() -> None:
    old, new = _grid({0: 10, 1: 20}), _grid({1: 25, 2: 30})
    merged = old.overlay(new)
    assert merged.steps[:3].tolist() == [10, 25, 30]
    assert merged.overlay(new).same_data(merged)  # re-sync changes nothing


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.integers(0, 1439), st.floats(0, 300, allow_nan=False), max_size=50))
def test_overlaying_the_same_grid_twice_is_idempotent(values: dict[int, float]) -> None:
    g = _grid(values)
    assert g.overlay(g).same_data(g)


def test_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        DayGrid("p1", SRC, date(2024, 3, 31), "Europe/London", MINUTE,
                steps=np.zeros(1440), worn=np.zeros(1440, np.int8))
