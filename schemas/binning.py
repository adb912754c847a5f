"""Reduce timed intervals to day grids (vectorized).

Every export format is first turned into an :class:`IntervalBatch`: parallel arrays of
intervals ``[start, start + duration)`` in UTC epoch seconds, each with the steps and posture
seconds measured in it. :func:`bin_batch` splits each interval at slot edges of the patient's
local days and shares its values in proportion to the overlap, so totals are preserved
exactly (up to float rounding). Zero-length intervals (point samples) land in one slot.
A batch may also carry day counters whose steps no interval holds (:mod:`schemas.counters`):
each day grid gets the spans of its day and the steps they place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from schemas.counters import CounterSpan
from schemas.daygrid import (DAY, MEASURES, WEAR_UNKNOWN, WORN, NOT_WORN, DayGrid, Source,
                             day_bounds, local_date_of, slot_count)


@dataclass(frozen=True, eq=False)
class IntervalBatch:
    """Intervals from one source at one grid resolution.

    ``start`` and ``duration`` are seconds (UTC epoch / elapsed). Measure arrays are float64
    with NaN for "not measured in this interval"; a measure the source never reports is
    ``None``. ``worn`` is int8 (1, 0, -1) or ``None`` when unknown throughout.
    ``counters``: day-counter readings (UTC epoch seconds) whose unplaced steps the grids fill.
    """

    source: Source
    resolution_s: int
    start: np.ndarray
    duration: np.ndarray
    steps: np.ndarray
    sedentary_s: np.ndarray | None = None
    upright_s: np.ndarray | None = None
    stepping_s: np.ndarray | None = None
    worn: np.ndarray | None = None
    counters: tuple[CounterSpan, ...] = ()

    def __len__(self) -> int:
        return int(self.start.shape[0])

    @property
    def total_steps(self) -> float:
        return float(np.nansum(self.steps))


def _edges(first: date, last: date, tz: str, res: int) -> tuple[np.ndarray, list[tuple[date, int]]]:
    """Slot edges (UTC seconds) for consecutive local days, and each day's first slot index."""
    parts, days, offset = [], [], 0
    d = first
    while d <= last:
        start, end = day_bounds(d, tz)
        n = slot_count(d, tz, res)
        step = end - start if res == DAY else res
        parts.append(start + np.arange(n, dtype=np.int64) * step)
        days.append((d, offset))
        offset += n
        d += timedelta(days=1)
    parts.append(np.array([day_bounds(last, tz)[1]], dtype=np.int64))
    return np.concatenate(parts), days


def bin_batch(batch: IntervalBatch, patient_id: str, tz: str, origin: str = "") -> list[DayGrid]:
    """Day grids (one per local day touched) holding ``batch``'s values, in date order."""
    grids = _bin_intervals(batch, patient_id, tz, origin)
    return _with_counters(grids, batch, patient_id, tz, origin) if batch.counters else grids


def _with_counters(grids: list[DayGrid], batch: IntervalBatch, patient_id: str, tz: str,
                   origin: str) -> list[DayGrid]:
    """Each grid with the counter spans of its day (the local day holding the middle of the
    device's day); a day with spans but no interval gets a grid of its own."""
    by_day: dict[date, list[CounterSpan]] = {}
    for span in batch.counters:
        by_day.setdefault(local_date_of(span.day_start + DAY // 2, tz), []).append(span)
    have = {g.local_date: g for g in grids}
    for d in by_day.keys() - have.keys():
        n = slot_count(d, tz, batch.resolution_s)
        have[d] = DayGrid(patient_id, batch.source, d, tz, batch.resolution_s,
                          steps=np.full(n, np.nan), worn=np.full(n, WEAR_UNKNOWN, np.int8),
                          origin=origin)
    return [have[d].with_counters(by_day[d]) if d in by_day else have[d] for d in sorted(have)]


def _bin_intervals(batch: IntervalBatch, patient_id: str, tz: str, origin: str
                   ) -> list[DayGrid]:
    if len(batch) == 0:
        return []
    start = batch.start.astype(np.float64)
    dur = np.maximum(batch.duration.astype(np.float64), 0.0)
    end = start + dur
    first = local_date_of(float(start.min()), tz)
    last = local_date_of(float(np.max(np.where(dur > 0, end - 1e-6, end))), tz)
    edges, days = _edges(first, last, tz, batch.resolution_s)
    n_slots = edges.shape[0] - 1

    k0 = np.searchsorted(edges, start, side="right") - 1
    k1 = np.where(dur > 0, np.searchsorted(edges, end, side="left") - 1, k0)
    pieces = k1 - k0 + 1
    row = np.repeat(np.arange(len(batch)), pieces)
    slot = k0[row] + (np.arange(row.shape[0]) - np.repeat(np.cumsum(pieces) - pieces, pieces))
    lo = np.maximum(edges[slot], start[row])
    hi = np.minimum(edges[slot + 1], end[row])
    share = np.where(dur[row] > 0, (hi - lo) / np.where(dur[row] > 0, dur[row], 1.0), 1.0)

    def spread(values: np.ndarray | None) -> np.ndarray | None:
        if values is None:
            return None
        v = values.astype(np.float64)[row]
        known = ~np.isnan(v)
        sums = np.bincount(slot[known], weights=(v * share)[known], minlength=n_slots)
        counts = np.bincount(slot[known], minlength=n_slots)
        return np.where(counts > 0, sums, np.nan)

    binned = {name: spread(getattr(batch, name)) for name in MEASURES}
    worn = np.full(n_slots, WEAR_UNKNOWN, np.int8)
    if batch.worn is not None:
        w = batch.worn[row]
        worn[np.bincount(slot[w == NOT_WORN], minlength=n_slots) > 0] = NOT_WORN
        worn[np.bincount(slot[w == WORN], minlength=n_slots) > 0] = WORN
    touched = np.bincount(slot, minlength=n_slots) > 0

    grids = []
    bounds = [o for _, o in days] + [n_slots]
    for (d, a), b in zip(days, bounds[1:]):
        if not touched[a:b].any():
            continue
        cut: dict[str, Any] = {k: (None if v is None else v[a:b].copy())
                               for k, v in binned.items()}
        grids.append(DayGrid(patient_id, batch.source, d, tz, batch.resolution_s,
                             steps=cut["steps"], worn=worn[a:b].copy(),
                             sedentary_s=cut["sedentary_s"], upright_s=cut["upright_s"],
                             stepping_s=cut["stepping_s"], origin=origin))
    return grids
