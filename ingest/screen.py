"""The one screen every parse passes through before and after binning: records outside the
:mod:`ingest.plausibility` bounds are left out and counted, never binned or stored.

:func:`screen` filters each series' intervals (dates, interval length, counts, cadence,
posture seconds) and the sync times; :func:`drop_crowded_days` removes, after binning, the
grids of days above the daily step bound. :func:`note` then makes the upload ``partial`` with
what was left out, or rejects it when nothing plausible is left.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from ingest.base import ParseContext, ParseResult, PatientSeries
from ingest.errors import CorruptFile
from ingest.plausibility import MAX_INTERVAL_S, Plausibility
from schemas.binning import IntervalBatch
from schemas.daygrid import MEASURES, MINUTE, DayGrid, day_bounds

#: Intervals screened at a time.
SCREEN_CHUNK = 1 << 20
#: Prefix of this screen's ``ParseResult.skipped`` reasons (the parsers' own are theirs).
IMPLAUSIBLE = "implausible: "
LONG = IMPLAUSIBLE + "an interval longer than two days, or without a valid time"
LATE = IMPLAUSIBLE + "dated after the patient's tomorrow"
COUNT = IMPLAUSIBLE + "a negative or non-finite value"
POSTURE = IMPLAUSIBLE + "more seconds in a posture than the interval lasts"
SYNC = IMPLAUSIBLE + "a sync time outside the plausible dates"
COUNTER = IMPLAUSIBLE + "a day counter outside the plausible dates or counts"


def _early(bounds: Plausibility) -> str:
    return f"{IMPLAUSIBLE}dated before {bounds.earliest}"


def _fast(bounds: Plausibility) -> str:
    return f"{IMPLAUSIBLE}above {bounds.max_steps_per_minute} steps a minute"


def _crowded(bounds: Plausibility) -> str:
    return f"{IMPLAUSIBLE}on a day above {bounds.max_steps_per_day:,} steps"

def date_window(patient_tz: str, bounds: Plausibility, now: datetime) -> tuple[int, int]:
    """UTC seconds of the plausible span: local midnight of ``bounds.earliest`` to the end of
    the patient's tomorrow (``now`` is aware)."""
    today = now.astimezone(ZoneInfo(patient_tz)).date()
    return day_bounds(bounds.earliest, patient_tz)[0], day_bounds(today + timedelta(days=1),
                                                                  patient_tz)[1]


def screen(result: ParseResult, ctx: ParseContext, bounds: Plausibility,
           now: datetime) -> None:
    """Leave out, in place, every interval and sync time of ``result`` outside ``bounds``."""
    kept: list[PatientSeries] = []
    for series in result.series:
        window = date_window(ctx.tz_for(series.patient_id), bounds, now)
        batch = _screen_counters(_screen_batch(series.batch, window, bounds, result), window,
                                 bounds, result)
        if len(batch) or batch.counters:
            kept.append(PatientSeries(series.patient_id, batch))
    result.series = kept
    syncs = []
    for patient_id, at in result.sync_times:
        low, high = date_window(ctx.tz_for(patient_id), bounds, now)
        if low <= at.timestamp() < high:
            syncs.append((patient_id, at))
        else:
            result.skip(SYNC)
    result.sync_times = syncs


def _screen_batch(batch: IntervalBatch, window: tuple[int, int], bounds: Plausibility,
                  result: ParseResult) -> IntervalBatch:
    """``batch`` without its implausible intervals, each counted under its first reason
    (checked a chunk of intervals at a time, so the screen's memory stays small)."""
    reasons = [LONG, _early(bounds), LATE, COUNT, _fast(bounds), POSTURE]
    first = np.concatenate([_first_reasons(batch, slice(at, at + SCREEN_CHUNK), window, bounds)
                            for at in range(0, len(batch), SCREEN_CHUNK)] or [np.zeros(0, np.int8)])
    counts = np.bincount(first, minlength=len(reasons) + 1)
    for reason, n in zip(reasons, counts[1:]):
        if n:
            result.skip(reason, int(n))
    return _take(batch, first == 0) if counts[1:].any() else batch


def _screen_counters(batch: IntervalBatch, window: tuple[int, int], bounds: Plausibility,
                     result: ParseResult) -> IntervalBatch:
    """``batch`` without the day-counter readings (:mod:`schemas.counters`) dated outside
    ``window`` or counting more than a day's plausible steps, each counted."""
    low, high = window
    kept = tuple(c for c in batch.counters
                 if low <= c.day_start and c.last_t < high
                 and 0 <= c.first_value <= bounds.max_steps_per_day
                 and 0 <= c.last_value <= bounds.max_steps_per_day)
    if len(kept) < len(batch.counters):
        result.skip(COUNTER, len(batch.counters) - len(kept))
        return replace(batch, counters=kept)
    return batch


def _first_reasons(batch: IntervalBatch, part: slice, window: tuple[int, int],
                   bounds: Plausibility) -> np.ndarray:
    """Per interval of ``part``: 0 if plausible, else 1 + the index of the first bound it
    breaks (in the order of :func:`_screen_batch`'s reasons)."""
    start = np.asarray(batch.start[part], dtype=np.float64)
    duration = np.asarray(batch.duration[part], dtype=np.float64)
    steps = np.asarray(batch.steps[part], dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        timed = np.isfinite(start) & np.isfinite(duration) & (duration >= 0)
        span = np.where(duration > 0, np.maximum(duration, MINUTE), batch.resolution_s)
        checks = [~timed | (duration > MAX_INTERVAL_S), start < window[0],
                  start + duration > window[1], _bad_values(batch, part),
                  steps > bounds.max_steps_per_minute * span / MINUTE,
                  _long_postures(batch, part, span)]
    first = np.zeros(start.shape[0], dtype=np.int8)
    for code, mask in reversed(list(enumerate(checks, start=1))):
        first[mask] = code
    return first


def _bad_values(batch: IntervalBatch, part: slice) -> np.ndarray:
    """Intervals with a measured value that is negative or infinite (NaN = not measured)."""
    bad = np.zeros(len(range(*part.indices(len(batch)))), dtype=bool)
    for name in MEASURES:
        values = getattr(batch, name)
        if values is not None:
            values = np.asarray(values[part], dtype=np.float64)
            bad |= np.isinf(values) | (values < 0)
    return bad


def _long_postures(batch: IntervalBatch, part: slice, span: np.ndarray) -> np.ndarray:
    """Intervals claiming more seconds in one posture than the interval lasts (1 s slack)."""
    long = np.zeros(span.shape[0], dtype=bool)
    for name in MEASURES[1:]:
        values = getattr(batch, name)
        if values is not None:
            long |= np.asarray(values[part], dtype=np.float64) > span + 1
    return long


def _take(batch: IntervalBatch, keep: np.ndarray) -> IntervalBatch:
    def cut(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else values[keep]

    return replace(batch, start=batch.start[keep], duration=batch.duration[keep],
                   steps=batch.steps[keep], sedentary_s=cut(batch.sedentary_s),
                   upright_s=cut(batch.upright_s), stepping_s=cut(batch.stepping_s),
                   worn=cut(batch.worn))


def drop_crowded_days(grids: list[DayGrid], batch: IntervalBatch, bounds: Plausibility,
                      result: ParseResult) -> list[DayGrid]:
    """``grids`` (binned from ``batch``) without days above ``bounds.max_steps_per_day``; the
    intervals starting on such a day are counted as left out."""
    kept = []
    for grid in grids:
        if grid.total_steps <= bounds.max_steps_per_day:
            kept.append(grid)
            continue
        low, high = day_bounds(grid.local_date, grid.tz)
        result.skip(_crowded(bounds), max(1, int(((batch.start >= low) & (batch.start < high)).sum())))
    return kept


def note(result: ParseResult, grids: list[DayGrid], filename: str) -> None:
    """Say what the screen left out (``partial``), or reject the file when nothing is left:
    no plausible record, or no activity data at all (a header without rows)."""
    left_out = {r.removeprefix(IMPLAUSIBLE): n for r, n in result.skipped.items()
                if r.startswith(IMPLAUSIBLE)}
    total = sum(left_out.values())
    detail = "; ".join(f"{reason}: {n:,}" for reason, n in left_out.items())
    if not grids and not result.sync_times:
        if total:
            raise CorruptFile(f"{filename}: nothing plausible in it: all {total:,} records are "
                              f"outside the plausibility bounds ({detail}; see "
                              "docs/plausibility.md)")
        others = "; ".join(f"{reason}: {n:,}" for reason, n in result.skipped.items())
        raise CorruptFile(f"{filename}: no activity data in it (no rows with a time and a "
                          f"value{'; left out: ' + others if others else ''})")
    if total:
        said = f"left out {total:,} implausible record(s): {detail}"
        result.partial = f"{result.partial}; {said}" if result.partial else said

