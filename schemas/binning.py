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


#: Intervals binned at a time: about 100 MB of working arrays.
BIN_CHUNK = 1 << 20
#: Local days given slots at a time (128 days of minutes: 184,320 slots).
GROUP_DAYS = 128


def _days_touched(start: np.ndarray, end: np.ndarray) -> list[date]:
    """Candidate local days of the intervals: every UTC day each one spans, one either side
    (a zone is at most 14 h off UTC). Only these days get slots, so one far-off timestamp
    costs a day, never every day between it and the rest of the file."""
    lo = np.floor_divide(start, DAY).astype(np.int64) - 1
    hi = np.floor_divide(end, DAY).astype(np.int64) + 1
    spans = np.unique(np.stack([lo, hi], axis=1), axis=0)
    days = np.unique(np.concatenate([np.arange(a, b + 1) for a, b in spans]))
    epoch = date(1970, 1, 1)
    return [epoch + timedelta(days=int(d)) for d in days]


def _edges(wanted: list[date], tz: str, res: int
           ) -> tuple[np.ndarray, list[tuple[date, int, int]]]:
    """Slot edges (UTC seconds) for the local days ``wanted`` (ascending), and each day's
    slot range. Between days that do not follow each other lies one gap slot of no day."""
    parts: list[np.ndarray] = []
    days: list[tuple[date, int, int]] = []
    offset, previous = 0, None
    for d in wanted:
        start, end = day_bounds(d, tz)
        if previous is not None and d != previous + timedelta(days=1):
            parts.append(np.array([day_bounds(previous, tz)[1]], dtype=np.int64))
            offset += 1
        n = slot_count(d, tz, res)
        step = end - start if res == DAY else res
        parts.append(start + np.arange(n, dtype=np.int64) * step)
        days.append((d, offset, offset + n))
        offset += n
        previous = d
    parts.append(np.array([day_bounds(wanted[-1], tz)[1]], dtype=np.int64))
    return np.concatenate(parts), days


def bin_batch(batch: IntervalBatch, patient_id: str, tz: str, origin: str = "") -> list[DayGrid]:
    """Day grids (one per local day touched) holding ``batch``'s values, in date order.

    The intervals are binned :data:`BIN_CHUNK` at a time and the grids of a day binned from
    several chunks are added up (exactly what binning them at once gives), so the working
    memory of binning is bounded however long the batch is."""
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
    by_day: dict[date, DayGrid] = {}
    for at in range(0, len(batch), BIN_CHUNK):
        for grid in _bin_slice(batch, slice(at, at + BIN_CHUNK), patient_id, tz, origin):
            day = grid.local_date
            by_day[day] = _add(by_day[day], grid) if day in by_day else grid
    return [by_day[d] for d in sorted(by_day)]


def _add(a: DayGrid, b: DayGrid) -> DayGrid:
    """Two grids of one day binned from disjoint intervals, added: measures summed where
    either knows them, wear the strongest evidence (worn > not worn > unknown)."""
    def plus(x: np.ndarray | None, y: np.ndarray | None) -> np.ndarray | None:
        if x is None or y is None:
            return y if x is None else x
        return np.where(np.isnan(x), y, np.where(np.isnan(y), x, x + y))

    steps = np.where(np.isnan(a.steps), b.steps, np.where(np.isnan(b.steps), a.steps,
                                                           a.steps + b.steps))
    return DayGrid(a.patient_id, a.source, a.local_date, a.tz, a.resolution_s,
                   steps=steps, worn=np.maximum(a.worn, b.worn),
                   sedentary_s=plus(a.sedentary_s, b.sedentary_s),
                   upright_s=plus(a.upright_s, b.upright_s),
                   stepping_s=plus(a.stepping_s, b.stepping_s), origin=a.origin)


def _bin_slice(batch: IntervalBatch, part: slice, patient_id: str, tz: str,
               origin: str) -> list[DayGrid]:
    """Day grids of the intervals ``part`` of ``batch``, :data:`GROUP_DAYS` days at a time
    (sparse data over decades would otherwise need slots for all its days at once)."""
    start = np.asarray(batch.start[part], dtype=np.float64)
    dur = np.maximum(np.asarray(batch.duration[part], dtype=np.float64), 0.0)
    end = start + dur
    days = _days_touched(start, end)
    grids: list[DayGrid] = []
    for at in range(0, len(days), GROUP_DAYS):
        group = days[at:at + GROUP_DAYS]
        low, high = day_bounds(group[0], tz)[0], day_bounds(group[-1], tz)[1]
        inside = np.flatnonzero(np.where(dur > 0, (end > low) & (start < high),
                                         (start >= low) & (start < high)))
        if inside.shape[0]:
            rows = inside + (part.start or 0)
            grids += _bin_days(batch, rows, group, patient_id, tz, origin)
    return grids


def _bin_days(batch: IntervalBatch, rows: np.ndarray, wanted: list[date], patient_id: str,
              tz: str, origin: str) -> list[DayGrid]:
    """Day grids of the days ``wanted`` from the intervals ``rows`` of ``batch`` (each
    overlaps them; parts outside them are cut off)."""
    start = np.asarray(batch.start[rows], dtype=np.float64)
    dur = np.maximum(np.asarray(batch.duration[rows], dtype=np.float64), 0.0)
    end = start + dur
    edges, days = _edges(wanted, tz, batch.resolution_s)
    n_slots = edges.shape[0] - 1

    k0 = np.maximum(np.searchsorted(edges, start, side="right") - 1, 0)
    k1 = np.where(dur > 0, np.minimum(np.searchsorted(edges, end, side="left") - 1,
                                      n_slots - 1), k0)
    pieces = k1 - k0 + 1
    row = np.repeat(np.arange(start.shape[0]), pieces)
    slot = k0[row] + (np.arange(row.shape[0]) - np.repeat(np.cumsum(pieces) - pieces, pieces))
    lo = np.maximum(edges[slot], start[row])
    hi = np.minimum(edges[slot + 1], end[row])
    share = np.where(dur[row] > 0, (hi - lo) / np.where(dur[row] > 0, dur[row], 1.0), 1.0)

    def spread(values: np.ndarray | None) -> np.ndarray | None:
        if values is None:
            return None
        v = np.asarray(values[rows], dtype=np.float64)[row]
        known = ~np.isnan(v)
        sums = np.bincount(slot[known], weights=(v * share)[known], minlength=n_slots)
        counts = np.bincount(slot[known], minlength=n_slots)
        return np.where(counts > 0, sums, np.nan)

    binned = {name: spread(getattr(batch, name)) for name in MEASURES}
    worn = np.full(n_slots, WEAR_UNKNOWN, np.int8)
    if batch.worn is not None:
        w = batch.worn[rows][row]
        worn[np.bincount(slot[w == NOT_WORN], minlength=n_slots) > 0] = NOT_WORN
        worn[np.bincount(slot[w == WORN], minlength=n_slots) > 0] = WORN
    touched = np.bincount(slot, minlength=n_slots) > 0

    grids = []
    for d, a, b in days:
        if not touched[a:b].any():
            continue
        cut: dict[str, Any] = {k: (None if v is None else v[a:b].copy())
                               for k, v in binned.items()}
        grids.append(DayGrid(patient_id, batch.source, d, tz, batch.resolution_s,
                             steps=cut["steps"], worn=worn[a:b].copy(),
                             sedentary_s=cut["sedentary_s"], upright_s=cut["upright_s"],
                             stepping_s=cut["stepping_s"], origin=origin))
    return grids
