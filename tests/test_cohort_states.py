"""Day states of the cohort grid (alerts.day_states): each cell against the rule written out
for one day, and missing never drawn as a day of steps."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.day_states import DayState, day_states, overload_mask
from alerts.rule_activity import overload_spike
from alerts.rule_params import OverloadSpikeParams
from alerts.rule_series import DaySeries

P = OverloadSpikeParams()
NAN = float("nan")


def one_day(has_data: bool, covered: bool, worn: float, steps: float, low: float,
            high: float, prior: list[float]) -> DayState:
    """The documented rule for one day, written out plainly (``prior``: the valid steps of
    the 14 days before, NaN where not valid)."""
    if not has_data:
        return DayState.NOT_WORN if covered else DayState.NO_UPLOAD
    if np.isnan(steps):
        return DayState.NOT_WORN if worn <= 0 else DayState.SHORT_WEAR
    if np.isnan(low) and not steps > high:
        return DayState.NO_TARGET
    known = [v for v in prior if not np.isnan(v)]
    spike = (len(known) >= P.min_prior_valid_days and steps > P.ratio * max(known)
             and steps - max(known) >= P.min_increase_steps)
    if spike or steps > high:
        return DayState.OVERLOAD
    return DayState.BELOW if steps < low else DayState.WITHIN


steps_values = st.one_of(st.just(NAN), st.floats(0, 20000, allow_nan=False))
bounds = st.one_of(st.just(NAN), st.sampled_from([500.0, 1000.0, 3500.0, 5000.0]))


@st.composite
def cohorts(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    n, width = draw(st.integers(1, 4)), draw(st.integers(1, 40))
    cells = st.tuples(st.booleans(), st.booleans(), st.sampled_from([0.0, 30.0, 700.0]),
                      steps_values, bounds, bounds)
    table = draw(st.lists(st.lists(cells, min_size=width, max_size=width), min_size=n,
                          max_size=n))
    has_data, covered, worn, steps, low, high = _columns(table)
    steps = np.where(has_data, steps, np.nan)  # no summary, no steps
    return has_data, covered, worn, steps, low, np.maximum(high, low * 1.5)


def _columns(table: list[list[tuple[object, ...]]]) -> tuple[np.ndarray, ...]:
    """Rows of cells of six fields -> six matrices."""
    return tuple(np.array([[cell[k] for cell in row] for row in table]) for k in range(6))


@settings(max_examples=200, deadline=None)
@given(cohorts())
def test_every_cell_follows_the_rule_for_its_day(data: tuple[np.ndarray, ...]) -> None:
    has_data, covered, worn, steps, low, high = data
    found = day_states(has_data, covered, worn, steps, low, high, P)
    for i in range(steps.shape[0]):
        for j in range(steps.shape[1]):
            prior = [NAN] * max(0, P.prior_days - j) + list(steps[i, max(0, j - P.prior_days):j])
            assert found[i, j] == one_day(has_data[i, j], covered[i, j], worn[i, j],
                                          steps[i, j], low[i, j], high[i, j], prior)


@settings(max_examples=200, deadline=None)
@given(cohorts())
def test_missing_is_never_a_day_of_steps(data: tuple[np.ndarray, ...]) -> None:
    has_data, covered, worn, steps, low, high = data
    found = day_states(has_data, covered, worn, steps, low, high, P)
    step_states = np.isin(found, [DayState.BELOW, DayState.WITHIN, DayState.OVERLOAD,
                                  DayState.NO_TARGET])
    assert not (step_states & np.isnan(steps)).any()
    assert (found[~has_data & ~covered] == DayState.NO_UPLOAD).all()
    assert (found[~has_data & covered] == DayState.NOT_WORN).all()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.just(NAN), st.floats(0, 15000, allow_nan=False)),
                min_size=1, max_size=30))
def test_a_spike_cell_is_a_spike_to_the_overload_rule(values: list[float]) -> None:
    """The grid's overload test on the last day agrees with the overload_spike rule's."""
    steps = np.array(values)
    if np.isnan(steps[-1]):
        return
    n, start = len(steps), date(2025, 3, 1)
    series = DaySeries("P1", start, start + timedelta(days=n - 1), start, steps,
                       ~np.isnan(steps), ~np.isnan(steps), np.full(n, NAN), np.full(n, NAN),
                       np.full(n, NAN), {})
    finding = overload_spike(series, P)
    rule_says = finding is not None and getattr(finding, "stage", "") == "spike"
    grid_says = bool(overload_mask(steps[None, :], np.full((1, n), NAN), P)[0, -1])
    assert grid_says == rule_says
