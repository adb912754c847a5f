"""Daily summaries (RULES.md "Daily summary definitions") from merged days, vectorized.

Minute days are summarized in batches: days with the same slot count (1440, or 1380/1500 on
DST change days) are stacked into one 2-D array and every measure is computed with run-length
encoding over the whole stack, so there is no per-minute (and almost no per-day) Python work.

Domain assumptions, each a :class:`SummaryParams` field:

- **Wear**, per minute, from the best evidence: a known device worn flag; otherwise the Choi
  rule on steps (a minute without step data is never worn). ``wear_method`` says which.
- **Awake** is not known from step data, so the daytime window (07:00-22:00 local, the
  valid-day window) doubles as the awake window: stationary time is only counted inside it,
  which keeps a night's sleep from being reported as one long sedentary bout.
- **Sitting** only where posture is sensed (:data:`processors.merge.POSTURE_KINDS`) and the
  minute is mostly sedentary; other devices report ``stationary`` only.
- **Bouts**: a walking bout may hold any number of tolerated gaps (each at most
  ``walking_bout_gap`` minutes); its minutes include those gaps. A stationary bout is a run of
  stationary minutes, ended by any other minute (steps, not worn, outside the window); a
  *break* is a minute with at least ``break_steps`` right after a stationary minute.
- **Clock times** come from the grid's real slot times, so on DST days 07:00 is not slot 420.
- **Hourly or daily days** report steps only (bouts and stationary None). Validity from the
  evidence available: daily heart-rate wear minutes if a source gave them (an upper bound
  on daytime wear, since a daily total has no time of day); else, for hourly data, hours with
  steps as worn hours, valid with ``hourly_valid_hours`` of the daytime hours (mirrors
  10 h of 15); else not valid (missing, never zero). Minute days use their per-minute
  evidence only: a daily heart-rate total cannot say which minutes were worn.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any, Iterable, Sequence, cast
from zoneinfo import ZoneInfo

import numpy as np

from processors.merge import MergedDay, merge_day
from schemas.daygrid import (HOUR, MEASURES, MINUTE, NOT_WORN, WEAR_UNKNOWN, WORN, DayGrid,
                             day_bounds, slot_count)
from schemas.records import DailySummary

WEAR_DEVICE, WEAR_CHOI, WEAR_MIXED = "device", "choi", "device+choi"
WEAR_HR_DAILY, WEAR_HOURLY, WEAR_NONE = "heart_rate_daily", "hourly_steps", "none"
#: Days stacked per numpy batch: bounds memory (512 x 1,441 float64 is ~6 MB); larger batches
#: measured no faster.
BATCH_ROWS = 512
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class SummaryParams:
    """Thresholds of the daily summary (RULES.md; E = evidence, P = our proposal)."""

    walking_cadence: float = 60.0
    """Steps/min of a walking minute (E: CADENCE-Adults)."""
    moderate_cadence: float = 100.0
    """Steps/min of a moderate-intensity minute (E: CADENCE-Adults)."""
    walking_bout_min: int = 2
    """Walking minutes a bout needs (E: RULES.md walking bout)."""
    walking_bout_gap: int = 1
    """Longest run of non-walking minutes tolerated inside a bout (E: RULES.md)."""
    break_steps: float = 20.0
    """Steps in the minute after a stationary minute that make a break (P)."""
    prolonged_bout: int = 30
    """Minutes of a prolonged stationary bout (E: sedentary-behaviour literature)."""
    choi_nonwear: int = 90
    """Consecutive zero-step minutes meaning non-wear (E: Choi 2011; 120 for older adults,
    Hutto 2013)."""
    choi_spike: int = 2
    """Longest run of non-zero minutes tolerated inside non-wear (E: Choi 2011)."""
    choi_spike_window: int = 30
    """Zero minutes needed on each side of a tolerated spike (E: Choi 2011 up/downstream
    window)."""
    daytime_start_min: int = 7 * 60
    """Local clock minute starting the valid-day and awake window (E: Troiano 2008)."""
    daytime_end_min: int = 22 * 60
    """Local clock minute ending that window, exclusive (E: Troiano 2008)."""
    valid_wear_min: int = 10 * 60
    """Worn minutes within the window for a valid day (E: NHANES/Troiano 2008)."""
    sitting_sedentary_s: float = 30.0
    """Sedentary seconds making a posture-sensed stationary minute "sitting" (P: most of
    the minute)."""
    hourly_valid_hours: int = 10
    """Daytime hours with steps making an hourly-resolution day valid (P: mirrors 10 h
    of 15)."""


@lru_cache(maxsize=65536)
def _window(local_date: date, tz: str, res: int, start_min: int, end_min: int) -> tuple[int, int]:
    """Slots [lo, hi) whose start falls in the local clock window, from real slot times."""
    day_start = day_bounds(local_date, tz)[0]
    zone = ZoneInfo(tz)

    def first_slot(minute: int) -> int:
        if minute >= MINUTES_PER_DAY:
            return slot_count(local_date, tz, res)
        clock = time(minute // 60, minute % 60)
        at = int(datetime.combine(local_date, clock, zone).timestamp())
        return -(-(at - day_start) // res)  # ceil: the first slot starting at or after it

    return first_slot(start_min), first_slot(end_min)


Runs = tuple[np.ndarray, np.ndarray, np.ndarray]


def _runs(mask: np.ndarray) -> Runs:
    """Runs of True in each row of a 2-D mask: (row, start column, length)."""
    rows, n = mask.shape[0], mask.shape[1] + 1
    # One flat buffer: a False pad column *before* each row (and one at the very end), so every
    # run starts after a False and ends before one: value changes alternate start, end.
    flat = np.zeros(rows * n + 1, dtype=bool)
    flat[:-1].reshape(rows, n)[:, 1:] = mask
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts, ends = change[0::2], change[1::2]
    return starts // n, starts % n - 1, ends - starts


def _join(runs: Runs, max_gap: int, min_side: int = 0) -> tuple[Runs, np.ndarray]:
    """Runs joined across gaps of at most ``max_gap`` between two runs of one row that are each
    at least ``min_side`` long; also the True count inside each joined run."""
    row, start, length = runs
    if row.size == 0:
        return runs, length
    end = start + length
    join = ((row[1:] == row[:-1]) & (start[1:] - end[:-1] <= max_gap)
            & (length[:-1] >= min_side) & (length[1:] >= min_side))
    heads = np.flatnonzero(np.concatenate(([True], ~join)))
    tails = np.append(heads[1:], row.size) - 1
    joined = (row[heads], start[heads], end[tails] - start[heads])
    return joined, np.add.reduceat(length, heads)


def _paint(shape: tuple[int, ...], runs: Runs) -> np.ndarray:
    """Mask with the given (disjoint, maximal) runs set."""
    row, start, length = runs
    n = shape[1] + 1
    # Runs are disjoint and each ends before a column outside it (or the pad column), so no two
    # marks share a position: plain assignment, no np.add.at; the running sum stays 0 or 1.
    marks = np.zeros(shape[0] * n + 1, dtype=np.int8)
    begin = row * n + start
    marks[begin] = 1
    marks[begin + length] = -1
    return np.cumsum(marks[:-1], dtype=np.int8).view(bool).reshape(shape[0], n)[:, :-1]


def _select(runs: Runs, keep: np.ndarray) -> Runs:
    return runs[0][keep], runs[1][keep], runs[2][keep]


def _per_row(n_rows: int, runs: Runs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, total length and longest length of runs, per row."""
    row, _, length = runs
    count = np.bincount(row, minlength=n_rows)
    total = np.bincount(row, weights=length, minlength=n_rows).astype(np.int64)
    longest = np.zeros(n_rows, dtype=np.int64)
    np.maximum.at(longest, row, length)
    return count, total, longest


def _choi_nonwear(still: np.ndarray, p: SummaryParams) -> np.ndarray:
    """Non-wear by the Choi rule: inside a long stretch of still minutes (no steps or no data)."""
    runs, _ = _join(_runs(still), p.choi_spike, p.choi_spike_window)
    return _paint(still.shape, _select(runs, runs[2] >= p.choi_nonwear))


#: Wear method by (any device flag) + 2 * (Choi used).
_METHODS = (WEAR_NONE, WEAR_DEVICE, WEAR_CHOI, WEAR_MIXED)


def _wear(steps: np.ndarray, has: np.ndarray, flags: np.ndarray,
          p: SummaryParams) -> tuple[np.ndarray, list[str]]:
    """Worn mask (device flag where known, Choi elsewhere) and each row's wear method.

    Where a flag is known it decides; elsewhere a minute is worn by Choi when it has data and
    is not in a Choi non-wear stretch, i.e. ``worn = flag_worn | (unflagged & has & ~nonwear)``.
    """
    unknown = flags == WEAR_UNKNOWN
    worn = flags == WORN
    need = has & unknown  # minutes with data but no flag: Choi decides these
    choi_used = need.any(axis=1)
    rows = np.flatnonzero(choi_used)  # Choi only where some minute lacks a flag
    if rows.size:
        # NaN counts as still: a device without data is not evidence of wear.
        still = ~(steps > 0)
        if rows.size < steps.shape[0]:
            still = still[rows]  # a bool copy, 8x smaller than indexing the steps
        wear_by_choi = ~_choi_nonwear(still, p)
        if rows.size == steps.shape[0]:
            worn |= need & wear_by_choi
        else:
            worn[rows] |= need[rows] & wear_by_choi
    code = ~unknown.all(axis=1) + 2 * choi_used
    return worn, [_METHODS[c] for c in code.tolist()]


def _walking(steps: np.ndarray, p: SummaryParams) -> dict[str, np.ndarray]:
    walk = steps >= p.walking_cadence
    runs, walking_in_run = _join(_runs(walk), p.walking_bout_gap)
    count, total, longest = _per_row(walk.shape[0],
                                     _select(runs, walking_in_run >= p.walking_bout_min))
    return {"walking_minutes": walk.sum(axis=1), "walking_bouts": count,
            "walking_bout_minutes": total, "longest_walking_bout_min": longest,
            "moderate_minutes": (steps >= p.moderate_cadence).sum(axis=1)}


def _count(mask: np.ndarray) -> np.ndarray:
    return np.count_nonzero(mask, axis=1)


def _stationary(steps: np.ndarray, still: np.ndarray, p: SummaryParams) -> dict[str, np.ndarray]:
    runs = _runs(still)
    _, _, longest = _per_row(still.shape[0], runs)
    prolonged = runs[0][runs[2] >= p.prolonged_bout]
    return {"stationary_minutes": _count(still), "longest_stationary_bout_min": longest,
            "prolonged_stationary_bouts": np.bincount(prolonged, minlength=still.shape[0]),
            "sedentary_breaks": _count(still[:, :-1] & (steps[:, 1:] >= p.break_steps))}


def _sitting(days: Sequence[MergedDay], still: np.ndarray, p: SummaryParams) -> list[int | None]:
    """Sitting minutes of the days with a posture sensor, None for the others."""
    rows = [i for i, d in enumerate(days) if d.sedentary_s is not None and d.posture_sensed.any()]
    out: list[int | None] = [None] * len(days)
    if rows:
        sensed = _stack([days[i].posture_sensed for i in rows])
        sedentary = _stack([cast(np.ndarray, days[i].sedentary_s) for i in rows])
        sitting = _count(still[rows] & sensed & (sedentary >= p.sitting_sedentary_s))
        for i, value in zip(rows, sitting.tolist()):
            out[i] = value
    return out


def _stack(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Equal-length 1-D arrays as the rows of a 2-D array (``np.stack`` without its per-array
    ``expand_dims``, ~4x faster for hundreds of rows)."""
    return np.concatenate(arrays).reshape(len(arrays), -1)


def _estimated(days: Sequence[MergedDay]) -> np.ndarray | None:
    """Slots whose steps are estimates from day counters (steps without a time: not wear
    evidence), per day; None when no day has any."""
    if all(d.estimated is None for d in days):
        return None
    return _stack([np.zeros(d.n_slots, dtype=bool) if d.estimated is None else d.estimated
                   for d in days])


def _daytime_mask(days: Sequence[MergedDay], p: SummaryParams) -> np.ndarray:
    """Daytime slots per day: a (days, slots) mask, or one (1, slots) row broadcast to all
    days when every day of the batch has the same window (the usual case)."""
    bounds = [_window(d.local_date, d.tz, d.resolution_s, p.daytime_start_min,
                      p.daytime_end_min) for d in days]
    cols = np.arange(days[0].n_slots)
    if len(set(bounds)) == 1:
        lo, hi = bounds[0]
        return ((cols >= lo) & (cols < hi))[np.newaxis, :]
    window = np.array(bounds)
    return (cols >= window[:, :1]) & (cols < window[:, 1:])


def _minute_columns(days: Sequence[MergedDay], p: SummaryParams) -> dict[str, list[Any]]:
    """Every per-day measure of minute days with one slot count, as lists by day."""
    steps = _stack([d.steps for d in days])
    has = ~np.isnan(steps)
    estimated = _estimated(days)
    timed = has if estimated is None else has & ~estimated
    worn, methods = _wear(steps, timed, _stack([d.worn for d in days]), p)
    daytime = _daytime_mask(days, p)
    still = worn & daytime & (steps == 0)
    arrays = {**_walking(steps, p), **_stationary(steps, still, p),
              "steps": np.nansum(steps, axis=1), "has_steps": has.any(axis=1),
              "wear_minutes": _count(worn), "wear_minutes_daytime": _count(worn & daytime)}
    return {**{k: v.tolist() for k, v in arrays.items()},
            "sitting_minutes": _sitting(days, still, p),
            "sedentary_minutes": [_reported_sedentary(d) for d in days], "wear_method": methods}


def _reported_sedentary(day: MergedDay) -> int | None:
    """Whole minutes of the sedentary seconds the devices reported, None if they reported none."""
    if day.sedentary_s is None or np.isnan(day.sedentary_s).all():
        return None
    return round(float(np.nansum(day.sedentary_s)) / 60)


PER_MINUTE = ("walking_minutes", "walking_bouts", "walking_bout_minutes",
              "longest_walking_bout_min", "moderate_minutes", "stationary_minutes",
              "sitting_minutes", "longest_stationary_bout_min", "prolonged_stationary_bouts",
              "sedentary_breaks", "sedentary_minutes")
_FIELDS = tuple(f.name for f in fields(DailySummary))
#: DailySummary's leading fields, which every day has; the per-minute measures follow them.
_HEAD = ("patient_id", "local_date", "steps", "valid", "data_day", "wear_minutes",
         "wear_minutes_daytime", "wear_method", "resolution_s", "sources")
#: The per-minute measures in DailySummary's field order, so summaries are built positionally.
_TAIL = _FIELDS[len(_HEAD):]
assert _FIELDS[:len(_HEAD)] == _HEAD and sorted(_TAIL) == sorted(PER_MINUTE), _FIELDS
_NO_MINUTES = (None,) * len(_TAIL)


def _minute_batch(days: Sequence[MergedDay], p: SummaryParams) -> list[DailySummary]:
    """Summaries of minute days that all have the same slot count."""
    cols = _minute_columns(days, p)
    valid = [w >= p.valid_wear_min for w in cols["wear_minutes_daytime"]]
    rows = zip(days, cols["has_steps"], cols["steps"], valid, cols["wear_minutes"],
               cols["wear_minutes_daytime"], cols["wear_method"], zip(*(cols[k] for k in _TAIL)))
    return [DailySummary(day.patient_id, day.local_date, steps if has else None, ok,
                         day.has_data, wear, wear_day, method, MINUTE, day.sources,
                         *(tail if has else _NO_MINUTES))
            for day, has, steps, ok, wear, wear_day, method, tail in rows]


def _coarse_wear(day: MergedDay, p: SummaryParams) -> tuple[int, int, bool, str]:
    """(wear minutes, daytime wear minutes, valid, method) of an hourly or daily day."""
    if day.wear_minutes_hr is not None:
        window = p.daytime_end_min - p.daytime_start_min
        daytime = int(min(day.wear_minutes_hr, window))
        return int(day.wear_minutes_hr), daytime, daytime >= p.valid_wear_min, WEAR_HR_DAILY
    if day.resolution_s != HOUR:
        return 0, 0, False, WEAR_NONE
    worn = (day.worn == WORN) | ((day.worn != NOT_WORN) & (day.steps > 0))
    lo, hi = _window(day.local_date, day.tz, HOUR, p.daytime_start_min, p.daytime_end_min)
    hours_day = int(worn[lo:hi].sum())
    per_hour = HOUR // MINUTE
    return (int(worn.sum()) * per_hour, hours_day * per_hour,
            hours_day >= p.hourly_valid_hours, WEAR_HOURLY)


def _coarse(day: MergedDay, p: SummaryParams) -> DailySummary:
    """Summary of an hourly or daily day: steps and wear only."""
    has_steps = bool((~np.isnan(day.steps)).any())
    wear, wear_day, valid, method = _coarse_wear(day, p)
    return DailySummary(
        day.patient_id, day.local_date, float(np.nansum(day.steps)) if has_steps else None,
        valid=valid, data_day=day.has_data, wear_minutes=wear, wear_minutes_daytime=wear_day,
        wear_method=method, resolution_s=day.resolution_s, sources=day.sources,
        sedentary_minutes=_reported_sedentary(day))


def summarize_days(days: Sequence[MergedDay],
                   params: SummaryParams = SummaryParams()) -> list[DailySummary]:
    """Summaries of many merged days (any patients), in input order; minute days are batched
    by slot count, ``BATCH_ROWS`` at a time."""
    out: list[DailySummary | None] = [None] * len(days)
    groups: dict[int, list[int]] = {}
    for i, day in enumerate(days):
        if day.resolution_s == MINUTE:
            groups.setdefault(day.n_slots, []).append(i)
        else:
            out[i] = _coarse(day, params)
    for index in groups.values():
        for at in range(0, len(index), BATCH_ROWS):
            chunk = index[at:at + BATCH_ROWS]
            for i, summary in zip(chunk, _minute_batch([days[i] for i in chunk], params)):
                out[i] = summary
    return out  # type: ignore[return-value]  # every slot was filled above


def summarize(merged: MergedDay, params: SummaryParams = SummaryParams()) -> DailySummary:
    """The daily summary of one merged day."""
    return summarize_days([merged], params)[0]


def summarize_grids(grids: Iterable[DayGrid],
                    params: SummaryParams = SummaryParams()) -> list[DailySummary]:
    """One summary per (patient, local day) present in ``grids`` (any order), each from the
    merge of that day's grids, by patient and date."""
    by_day: dict[tuple[str, date], list[DayGrid]] = {}
    for grid in grids:
        by_day.setdefault((grid.patient_id, grid.local_date), []).append(_measured(grid))
    return summarize_days([merge_day(by_day[key]) for key in sorted(by_day)], params)


def _measured(grid: DayGrid) -> DayGrid:
    """``grid`` with negative or infinite slot values as missing. Ingest never stores such a
    value (:mod:`ingest.screen`); a grid from before that screen, or a message on the stream
    from another producer, must not put ``inf`` in a summary all the same."""
    values = {name: getattr(grid, name) for name in MEASURES}
    bad = {name: v for name, v in values.items()
           if v is not None and (np.isinf(v).any() or (v < 0).any())}
    if not bad:
        return grid
    cleaned: dict[str, Any] = {name: np.where(np.isinf(v) | (v < 0), np.nan, v)
                               for name, v in bad.items()}
    return replace(grid, **cleaned)
