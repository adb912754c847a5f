"""What each of a patient's days amounted to, as the dashboards draw it (pure).

A day is in exactly one :class:`DayState`. The states keep apart what other dashboards mix up:
a day no upload has reached yet is not a day the tracker was left in a drawer, and neither is
a day of zero steps. Missing is never drawn as zero.

The functions work on matrices, one row per patient and one column per local day (NaN where
a value is unknown), so a cohort's 30-day grids are one pass of numpy, not one per patient.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from alerts.rule_params import OverloadSpikeParams


class DayState(IntEnum):
    """One local day of one patient, from "we know nothing yet" to "too much".

    ``NO_UPLOAD``: no upload covers the day yet (no data for it, and no sync after it).
    ``NOT_WORN``: an upload covers the day, but the tracker recorded no worn minute (or the
    day has no data although the tracker synced after it).
    ``SHORT_WEAR``: worn, but too little for a valid day (RULES.md: >= 10 h between 07:00 and
    22:00), so its steps mean nothing yet.
    ``BELOW``, ``WITHIN``: a valid day below, or inside, the phase's target band.
    ``OVERLOAD``: a valid day above the overload threshold (:func:`overload_mask`).
    ``NO_TARGET``: a valid day with no target to hold it against (before the programme's
    start: a baseline day).
    """

    NO_UPLOAD = 0
    NOT_WORN = 1
    SHORT_WEAR = 2
    BELOW = 3
    WITHIN = 4
    OVERLOAD = 5
    NO_TARGET = 6

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    DayState.NO_UPLOAD: "no upload covers this day yet",
    DayState.NOT_WORN: "not worn",
    DayState.SHORT_WEAR: "worn too little to count",
    DayState.BELOW: "below target",
    DayState.WITHIN: "within target",
    DayState.OVERLOAD: "above the overload threshold",
    DayState.NO_TARGET: "valid, no target yet",
}


def overload_mask(steps: np.ndarray, high: np.ndarray, p: OverloadSpikeParams) -> np.ndarray:
    """Where a valid day is above the overload threshold: above the phase's high bound (where
    the phase has one), or a spike by the ``overload_spike`` rule's day test (more than
    ``p.ratio`` × the highest valid day of the ``p.prior_days`` before it, with at least
    ``p.min_prior_valid_days`` of them valid, and ``p.min_increase_steps`` more).

    ``steps``: valid days' steps, NaN elsewhere, shape (patients, days); a day's prior window
    reaches only as far back as its row does. ``high``: the high bound, NaN where none."""
    w = p.prior_days
    padded = np.concatenate((np.full((steps.shape[0], w), np.nan), steps), axis=1)
    prior = sliding_window_view(padded, w, axis=1)[:, :steps.shape[1]]
    counts = (~np.isnan(prior)).sum(axis=2)
    with np.errstate(invalid="ignore"):
        prior_max = np.fmax.reduce(prior, axis=2)
        spike = ((counts >= p.min_prior_valid_days) & (steps > p.ratio * prior_max)
                 & (steps - prior_max >= p.min_increase_steps))
        return spike | (steps > high)


def day_states(has_data: np.ndarray, covered: np.ndarray, worn: np.ndarray,
               steps: np.ndarray, low: np.ndarray, high: np.ndarray,
               p: OverloadSpikeParams) -> np.ndarray:
    """The :class:`DayState` of every cell (int8), all arguments of one shape (patients, days).

    ``has_data``: the day has a stored summary. ``covered``: the patient's tracker synced
    after the day ended. ``worn``: worn minutes of the day (0 where none or no data).
    ``steps``: the steps of *valid* days, NaN on every other day. ``low``, ``high``: the
    day's target band (NaN where the phase has no such bound); a valid day without a low
    bound has no target. Columns are consecutive local days, oldest first; the overload test
    reads the days before each one that its row holds (give 14 days more than you draw)."""
    valid = ~np.isnan(steps)
    out = np.full(steps.shape, DayState.NO_UPLOAD, dtype=np.int8)
    out[covered & ~has_data] = DayState.NOT_WORN
    out[has_data & (worn <= 0)] = DayState.NOT_WORN
    out[has_data & (worn > 0) & ~valid] = DayState.SHORT_WEAR
    with np.errstate(invalid="ignore"):
        out[valid & (steps >= low)] = DayState.WITHIN
        out[valid & (steps < low)] = DayState.BELOW
    out[valid & overload_mask(steps, high, p)] = DayState.OVERLOAD
    out[valid & np.isnan(low) & ~(steps > high)] = DayState.NO_TARGET
    return out
