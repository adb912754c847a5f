"""Merging one patient's day grids: precedence, resolution, never adding two devices."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from processors.merge import WEAR_MINUTES_HR, merge_day
from schemas.daygrid import DAY, HOUR, MINUTE, WEAR_UNKNOWN, WORN, DayGrid, Source, slot_count

DAY0, TZ = date(2024, 5, 6), "Europe/Berlin"
GARMIN, FITBIT = Source("garmin-fit", "fenix"), Source("fitbit", "charge")
ACTIVPAL, PHONE = Source("activpal", "ap4"), Source("apple-health", "iphone")


def grid(source: Source, steps: np.ndarray, res: int = MINUTE, day: date = DAY0,
         **kw: object) -> DayGrid:
    worn = kw.pop("worn", np.full(len(steps), WEAR_UNKNOWN, np.int8))
    return DayGrid("p1", source, day, TZ, res, steps=np.asarray(steps, float), worn=worn, **kw)


def minutes(fill: float = np.nan, **spans: tuple[int, int, float]) -> np.ndarray:
    out = np.full(slot_count(DAY0, TZ, MINUTE), fill)
    for lo, hi, value in spans.values():
        out[lo:hi] = value
    return out


def test_higher_precedence_fills_each_minute_lower_fills_the_rest() -> None:
    watch = grid(GARMIN, minutes(a=(600, 660, 80.0)))
    phone = grid(PHONE, minutes(a=(630, 720, 50.0)))
    merged = merge_day([phone, watch])
    assert merged.resolution_s == MINUTE
    assert np.nansum(merged.steps) == 60 * 80 + 60 * 50  # 630-659 from the watch only
    assert merged.sources == (GARMIN.key, PHONE.key)


def test_custom_precedence_reverses_the_winner() -> None:
    watch, phone = grid(GARMIN, minutes(a=(0, 10, 80.0))), grid(PHONE, minutes(a=(0, 10, 5.0)))
    merged = merge_day([watch, phone], precedence=("apple-health", "garmin-fit"))
    assert np.nansum(merged.steps) == 50 and merged.sources == (PHONE.key,)


def test_coarse_sources_are_used_only_without_finer_data() -> None:
    hourly = grid(FITBIT, np.full(24, 500.0), res=HOUR)
    daily = grid(PHONE, np.array([9000.0]), res=DAY)
    minute = grid(GARMIN, minutes(a=(600, 610, 70.0)))
    assert merge_day([daily, hourly, minute]).resolution_s == MINUTE
    assert np.nansum(merge_day([daily, hourly, minute]).steps) == 700
    assert merge_day([daily, hourly]).resolution_s == HOUR
    assert merge_day([daily]).steps.tolist() == [9000.0]


def test_posture_is_sensed_only_from_posture_monitors() -> None:
    sed = minutes(a=(0, 1440, 60.0))
    ap = merge_day([grid(ACTIVPAL, minutes(0.0), sedentary_s=sed)])
    watch = merge_day([grid(GARMIN, minutes(0.0), sedentary_s=sed)])
    assert ap.posture_sensed.all() and not watch.posture_sensed.any()


def test_wear_evidence_from_extra_and_data_day_without_steps() -> None:
    wear_only = grid(FITBIT, np.array([np.nan]), res=DAY, worn=np.array([WORN], np.int8),
                     extra={WEAR_MINUTES_HR: "812"})
    merged = merge_day([wear_only, grid(GARMIN, minutes())])
    assert merged.wear_minutes_hr == 812.0 and merged.has_data and merged.sources == ()


def test_grids_of_different_days_are_refused() -> None:
    with pytest.raises(ValueError):
        merge_day([grid(GARMIN, minutes()), grid(GARMIN, np.full(24, 1.0), HOUR, date(2024, 5, 7))])


def random_minutes(seed: int, n: int = 1440) -> np.ndarray:
    """Minute steps with runs of no data, stillness and walking, from a seed (fast to draw)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 120, size=n)
    kinds = rng.integers(0, 4, size=n)
    values = np.repeat(kinds, lengths)[:n].astype(float)
    steps = np.where(values == 3, rng.integers(0, 140, size=n), 0.0)
    return np.where(values == 0, np.nan, np.where(values == 1, 0.0, steps))


step_minutes = st.integers(0, 2**32 - 1).map(random_minutes)


@settings(max_examples=25, deadline=None)
@given(a=step_minutes, b=step_minutes, c=step_minutes)
def test_merge_never_sums_and_ignores_order_and_duplicates(
        a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    grids = [grid(PHONE, a), grid(GARMIN, b), grid(FITBIT, c)]
    merged = merge_day(grids)
    stacked = np.stack([b, c, a])  # precedence order
    first = np.argmax(~np.isnan(stacked), axis=0)
    expected = stacked[first, np.arange(1440)]
    np.testing.assert_array_equal(merged.steps, expected)
    again = merge_day([grids[2], grids[0], grids[1], grids[1]])
    np.testing.assert_array_equal(again.steps, merged.steps)
    assert again.sources == merged.sources


def _merged_fields(day: object) -> dict[str, object]:
    return {k: (v.dtype.str, v.tolist()) if isinstance(v, np.ndarray) else v
            for k, v in day.__dict__.items()}


def _same_merged(a: object, b: object) -> None:
    fa, fb = _merged_fields(a), _merged_fields(b)
    assert fa.keys() == fb.keys()
    for k in fa:
        x, y = fa[k], fb[k]
        if isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], list):  # an array
            assert x[0] == y[0], k
            np.testing.assert_array_equal(np.array(x[1]), np.array(y[1]), err_msg=k)
        else:
            assert x == y, k


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1),
       source=st.sampled_from([GARMIN, FITBIT, ACTIVPAL, PHONE]),
       res=st.sampled_from([MINUTE, HOUR, DAY]),
       coverage=st.sampled_from(["full", "gaps", "none"]),
       posture=st.booleans(), flags=st.booleans(), wear_hr=st.booleans())
def test_single_grid_fast_path_equals_general_merge(
        seed: int, source: Source, res: int, coverage: str, posture: bool, flags: bool,
        wear_hr: bool) -> None:
    """merge_day([g]) takes a fast path; it must give exactly the general rule's MergedDay."""
    from processors.merge import DEFAULT_PRECEDENCE, _merge_general

    rng = np.random.default_rng(seed)
    n = slot_count(DAY0, TZ, res)
    steps = rng.integers(0, 140, n).astype(float)
    if coverage == "gaps":
        steps[rng.random(n) < 0.3] = np.nan
    elif coverage == "none":
        steps[:] = np.nan
    worn = (rng.integers(-1, 2, n).astype(np.int8) if flags
            else np.full(n, WEAR_UNKNOWN, np.int8))
    kw: dict[str, object] = {"worn": worn}
    if posture:
        sed = rng.uniform(0, 60, n)
        sed[rng.random(n) < 0.2] = np.nan
        kw.update(sedentary_s=sed, upright_s=60 - sed, stepping_s=rng.uniform(0, 60, n))
    if wear_hr:
        kw["extra"] = {WEAR_MINUTES_HR: str(int(rng.integers(0, 1440)))}
    g = grid(source, steps, res=res, **kw)
    fast = merge_day([g])
    _same_merged(fast, _merge_general([g], DEFAULT_PRECEDENCE))
    assert fast.steps is not g.steps and fast.worn is not g.worn  # never aliases the grid
