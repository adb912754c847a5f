"""FIT activity (workout) files -> intervals.

Steps come only from sports whose ``record.cadence`` is strides per minute (running, walking,
hiking): steps = 2 x (cadence + fractional_cadence/128) x seconds/60 over the time between
consecutive records. That gives *when* the steps were taken; when the session also reports
``total_cycles`` (= total strides for these sports, counted by the device at every stride,
not sampled) the record steps are scaled to 2 x that total, so the device's own count wins.
Cycling ``total_cycles`` are pedal revolutions and swimming ones strokes: never steps; those
sessions give worn time only. A recorded workout is taken as worn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ingest.fit_rows import NAN, Rows
from ingest.plausibility import DEFAULT_BOUNDS
from schemas.daygrid import WORN

RECORD, SESSION = 20, 18
#: FIT ``sport`` values whose cadence counts strides.
STEP_SPORTS = {1: "running", 11: "walking", 17: "hiking"}
#: Longer gaps between records are pauses (auto-pause, smart recording never waits this long).
MAX_RECORD_GAP_S = 60
#: A session stride total implying more steps a second than a person takes is damaged.
MAX_STEPS_PER_S = DEFAULT_BOUNDS.max_steps_per_minute / 60
#: FIT date_time values below this count seconds since device power-on, not since 1989.
FIT_MIN_ABSOLUTE = 0x10000000

FIELDS = {
    RECORD: {253: "timestamp", 4: "cadence", 53: "fractional_cadence"},
    SESSION: {253: "timestamp", 2: "start_time", 5: "sport", 7: "total_elapsed_time",
              10: "total_cycles"},
}


@dataclass(frozen=True)
class Window:
    """One session: its UTC span, sport and device stride total (None when absent)."""

    start: int
    end: int
    sport: int | None
    total_strides: int | None

    @classmethod
    def of(cls, session: dict[str, Any]) -> Window:
        start = session.get("start_time", session.get("timestamp", 0))
        end = start + session.get("total_elapsed_time", 0) // 1000  # ms
        sport = session.get("sport")
        strides = session.get("total_cycles") if sport in STEP_SPORTS else None
        end = max(end, session.get("timestamp", end))
        if strides is not None and 2 * strides > MAX_STEPS_PER_S * max(end - start, 1):
            strides = None  # a damaged total (0xFFFFFFF0 is 8.6e9 steps): cadence decides
        return cls(start, end, sport, strides)


def read_activity(records: list[dict[str, Any]], sessions: list[dict[str, Any]],
                  skipped: dict[str, int]) -> Rows:
    """Intervals of an activity file's sessions; left-out records are counted in ``skipped``."""
    times, cadence = _record_arrays(records, skipped)
    windows = sorted({Window.of(s) for s in sessions if _absolute(s)}, key=lambda w: w.start)
    if not windows and times.size:  # no session (file cut short): sport unknown, no steps
        windows = [Window(int(times[0]), int(times[-1]), None, None)]
    rows, used = Rows(), np.zeros(times.shape, dtype=bool)
    for window in windows:
        inside = (times >= window.start) & (times <= window.end) & ~used
        used |= inside
        rows.extend(_window_rows(window, times[inside], cadence[inside]))
    if (~used).any():
        skipped["record outside any session"] = skipped.get("record outside any session", 0) \
            + int((~used).sum())
    return rows


def _absolute(msg: dict[str, Any]) -> bool:
    return msg.get("start_time", msg.get("timestamp", 0)) >= FIT_MIN_ABSOLUTE


def _record_arrays(records: list[dict[str, Any]],
                   skipped: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique record times and cadence in strides/min (NaN where absent)."""
    timed = [r for r in records if r.get("timestamp", 0) >= FIT_MIN_ABSOLUTE]
    if len(timed) < len(records):
        skipped["record without a UTC timestamp"] = len(records) - len(timed)
    times = np.array([r["timestamp"] for r in timed], dtype=np.int64)
    cadence = np.array([r.get("cadence", NAN) + r.get("fractional_cadence", 0) / 128
                        for r in timed], dtype=np.float64)
    # Chained copies of one activity repeat its records: keep each time once.
    times, first = np.unique(times, return_index=True)
    return times, cadence[first]


def _window_rows(window: Window, times: np.ndarray, cadence: np.ndarray) -> Rows:
    rows = Rows()
    if times.size < 2:
        return rows
    start, dt = times[:-1], np.diff(times).astype(np.float64)
    keep = dt <= MAX_RECORD_GAP_S
    if window.sport not in STEP_SPORTS:
        for s, d in zip(start[keep], dt[keep]):
            rows.add(float(s), float(d), NAN, WORN)
        return rows
    steps = stride_steps(cadence[1:], dt, keep, window.total_strides)
    for s, d, n, c in zip(start[keep], dt[keep], steps[keep], cadence[1:][keep]):
        stepping = d if c > 0 else 0.0
        rows.add(float(s), float(d), float(n), WORN, (0.0, d - stepping, stepping))
    return rows


def stride_steps(cadence: np.ndarray, dt: np.ndarray, keep: np.ndarray,
                 total_strides: int | None) -> np.ndarray:
    """Steps per record interval from cadence (strides/min), scaled to the session total.

    A record's cadence describes the interval that ends at it."""
    steps = np.where(keep, 2 * np.nan_to_num(cadence) * dt / 60, 0.0)
    counted = steps.sum()
    if total_strides is not None and counted > 0:
        steps *= 2 * total_strides / counted
    return np.where(np.isnan(cadence), NAN, steps)
