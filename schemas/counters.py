"""Steps known only from a device's day counters: placed where they must have happened.

A Garmin monitoring file counts steps cumulatively from the device's local midnight, per
activity type. A file that starts in the middle of a day begins with counter values that
include steps taken before the file: their total is known, their time is not. A file of one
source for one day therefore says, per activity type, one :class:`CounterSpan`: the counter
read ``first_value`` at ``first_t`` and ``last_value`` at ``last_t``, and between the two the
file's own intervals hold the steps (real data, in the grid's slots).

Every span of a source's day, from any number of files, is a point on one non-decreasing
curve per activity type that starts at 0 at the device's midnight (``day_start``). Between two
consecutive points that no single span covers (a *gap*: before the first file, or between two
files), the counter's growth is steps no file has placed: they are spread evenly over the
gap's slots that hold no step data of the source. So:

* the day's total equals the last counter value of every type (the device's own count), however
  many files the day arrives in, in any order;
* a file that arrives later and covers part of a gap replaces the estimate there with its real
  intervals, and the rest of the gap is re-spread (the grid keeps which slots are estimates,
  :data:`ESTIMATED_KEY`, and all spans, :data:`SPANS_KEY`, in ``DayGrid.extra``);
* the same file twice adds no span (spans are a set), so changes nothing.

Growth with no slot to go to (every slot of its gap holds data: a counter that jumps between
two readings at one instant) and a counter that goes down (a device reset) are not placed:
totals then follow the files, not the counters.
This module works on arrays; :meth:`schemas.daygrid.DayGrid.with_counters` and
:meth:`~schemas.daygrid.DayGrid.overlay` apply it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

#: ``DayGrid.extra`` keys: the counter spans of the source's day, and the slots holding
#: estimates (slot ranges ``a-b``, inclusive, comma-separated).
SPANS_KEY = "counter_spans"
ESTIMATED_KEY = "counter_estimated"
EXTRA_KEYS = (SPANS_KEY, ESTIMATED_KEY)


@dataclass(frozen=True, order=True)
class CounterSpan:
    """One file's reading of one day counter: ``first_value`` at ``first_t`` and
    ``last_value`` at ``last_t`` (UTC epoch seconds); the counter is 0 at ``day_start``
    (the device's local midnight). ``counter`` names the counter (e.g. an activity type)."""

    counter: int
    day_start: int
    first_t: int
    first_value: int
    last_t: int
    last_value: int

    def shifted(self, seconds: int) -> CounterSpan:
        return CounterSpan(self.counter, self.day_start + seconds, self.first_t + seconds,
                           self.first_value, self.last_t + seconds, self.last_value)

    def covers(self, start: int, end: int) -> bool:
        return self.first_t <= start and end <= self.last_t


def encode(spans: Iterable[CounterSpan]) -> str:
    return ";".join(",".join(str(v) for v in (s.counter, s.day_start, s.first_t, s.first_value,
                                              s.last_t, s.last_value)) for s in sorted(set(spans)))


def decode(text: str) -> set[CounterSpan]:
    return {CounterSpan(*(int(v) for v in part.split(","))) for part in text.split(";") if part}


def spans_of(extra: Mapping[str, str]) -> set[CounterSpan]:
    return decode(extra.get(SPANS_KEY, ""))


def estimated_slots(extra: Mapping[str, str], n_slots: int) -> np.ndarray:
    """Boolean mask of the slots whose steps are estimates (:data:`ESTIMATED_KEY`)."""
    mask = np.zeros(n_slots, dtype=bool)
    for part in filter(None, extra.get(ESTIMATED_KEY, "").split(",")):
        a, b = (int(v) for v in part.split("-"))
        mask[a:b + 1] = True
    return mask


def encode_slots(mask: np.ndarray) -> str:
    """Runs of True in ``mask`` as ``a-b`` ranges (inclusive)."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return ",".join(f"{a}-{b - 1}" for a, b in zip(edges[::2].tolist(), edges[1::2].tolist()))


@dataclass(frozen=True)
class Gap:
    """Counter growth no span places: ``steps`` happened in [start, end) (UTC seconds)."""

    start: int
    end: int
    steps: int


def gaps(spans: Iterable[CounterSpan]) -> list[Gap]:
    """The gaps of each counter's curve: consecutive points (0 at the day start, then every
    span's first and last reading, in time order) that no span covers."""
    by_counter: dict[tuple[int, int], list[CounterSpan]] = {}
    for s in spans:
        by_counter.setdefault((s.counter, s.day_start), []).append(s)
    out = []
    for (_, day_start), mine in sorted(by_counter.items()):
        points = sorted({(day_start, 0)} | {(s.first_t, s.first_value) for s in mine}
                        | {(s.last_t, s.last_value) for s in mine})
        level = 0
        for (t0, _), (t1, v1) in zip(points, points[1:]):
            if v1 > level and not any(s.covers(t0, t1) for s in mine):
                out.append(Gap(t0, t1, v1 - level))
            level = max(level, v1)
    return out


def fill(steps: np.ndarray, grid_start: int, resolution_s: int, spans: Iterable[CounterSpan]
         ) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` (real data, NaN = none) with every gap's steps spread over the gap's slots
    without data, in proportion to the seconds of each slot inside the gap; and the mask of
    the slots that received an estimate. Slot i covers [grid_start + i*res, + res)."""
    n = steps.shape[0]
    edges = grid_start + np.arange(n + 1, dtype=np.int64) * resolution_s
    empty = np.isnan(steps)
    estimate = np.zeros(n)
    mask = np.zeros(n, dtype=bool)
    for gap in gaps(spans):
        seconds = np.clip(np.minimum(edges[1:], gap.end) - np.maximum(edges[:-1], gap.start),
                          0, None) * empty
        total = seconds.sum()
        if total > 0:
            estimate += gap.steps * seconds / total
            mask |= seconds > 0
    return np.where(mask, estimate, steps), mask
