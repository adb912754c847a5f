"""FIT monitoring (daily wellness) files -> intervals.

What the device writes (SOURCES.md §1, verified on the FR35 and SDK files):

* Interval rows carry ``current_activity_type_intensity`` (low 5 bits: activity type) and,
  for walking/running, ``cycles`` = **steps** counted since device-local midnight for that
  activity type (the profile's ``steps`` sub-field; we read raw values, so no /2 trap) and
  ``active_time`` (ms) on the same cumulative basis. We take a row to *close* the interval
  since the previous interval row: its counters include everything up to its timestamp.
* Summary rows carry a real ``activity_type`` field plus counters: at local midnight with
  ``duration_min = 1440`` (the day's totals: evidence for tests, never data), at file start
  (a snapshot: the counters of a file that starts in the middle of the day; a step type it
  does not list is at zero — in the FR35 files a walking-only snapshot at 08:15 is followed
  by 26 running steps that the day's end snapshot counts as the day's running) and at file end
  (a snapshot whose counters may be ahead of the last interval row: that difference is real
  steps taken since it).
* ``timestamp_16`` is resolved against the last monitoring/monitoring_info time only, since
  other messages can carry later timestamps ("time-travel" in SOURCES.md).

Files that start in the middle of a day (docs/fit-monitoring-counters.md): their first
counter values hold steps of unknown time. They are not dropped: each day's readings of each
step counter (first and last) leave the parser as :class:`schemas.counters.CounterSpan`, and
the interval that a counter's first unknown value closes has no steps (NaN). The day grid
spreads the growth no file covers — since local midnight, or since the last reading of
another file of the same device that day — over the minutes without data, and every overlay
with the stored grid of the same source places it again (:meth:`DayGrid.overlay`), so the
day totals the device's counters whatever files arrive, in whatever order, as often as they
arrive. A row at the time of the row before (zero seconds) has no step value: there is no
minute in which it saw no steps.

Wear (an honest reading): a monitoring file proves the device was recording, not that it was
on a wrist; a watch on a nightstand logs "sedentary". An interval is ``WORN`` when the device
shows evidence of a wearer (steps, a walking/running classification, or an optical
heart-rate sample inside it), otherwise ``WEAR_UNKNOWN``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Iterable

from ingest.fit_rows import NAN, Rows
from schemas.counters import CounterSpan
from schemas.daygrid import DAY, WEAR_UNKNOWN, WORN

MONITORING, MONITORING_INFO = 55, 103
#: Activity types whose ``cycles`` counter is steps.
STEP_TYPES = {1: "running", 6: "walking"}
SEDENTARY = 8
DAY_TOTAL_MIN = 1440

FIELDS = {
    MONITORING_INFO: {253: "timestamp", 0: "local_timestamp"},
    MONITORING: {253: "timestamp", 3: "cycles", 4: "active_time", 5: "activity_type",
                 24: "current_activity_type_intensity", 26: "timestamp_16",
                 27: "heart_rate", 29: "duration_min"},
}


@dataclass
class _Counters:
    """Per-activity-type cumulative counters of one local day (key: field, activity type).

    Every counter is known from zero when its day began inside the file, or from the file's
    start snapshot (a step type the snapshot does not list is at zero: the device lists the
    types it counted that day). Otherwise a counter's first value holds steps of unknown time:
    the interval it closes gets no steps (NaN), and the value is the first reading of the
    day's :class:`CounterSpan`, whose steps the grids place (:mod:`schemas.counters`)."""

    day: int | None = None
    day_start: int = 0
    last: dict[tuple[str, int], int] = field(default_factory=dict)
    known: bool = False  # every counter's value known (from zero, or from a start snapshot)
    first: dict[int, tuple[int, int]] = field(default_factory=dict)  # step type -> (t, value)
    begin: int = 0  # time of the day's first row
    end: int = 0  # time of the day's last row

    def start_day(self, day: int, day_start: int, from_zero: bool, t: int) -> None:
        self.day, self.day_start, self.last, self.begin, self.end = day, day_start, {}, t, t
        self.known, self.first = False, {}
        if from_zero:
            self.know_all(day_start)

    def know_all(self, t: int) -> None:
        """Every counter is known at ``t``; those not read yet are at zero."""
        if not self.known:
            self.known, self.first = True, {a: (t, 0) for a in STEP_TYPES}

    def snapshot(self, activity: int, msg: dict[str, Any], t: int) -> None:
        """A row of the file's start snapshot: the counters the file starts from."""
        self.know_all(t)
        for name in ("cycles", "active_time"):
            if name in msg:
                self.last[(name, activity)] = msg[name]
        if activity in STEP_TYPES and "cycles" in msg:
            self.first[activity] = (t, msg["cycles"])

    def delta(self, name: str, activity: int, value: int, t: int) -> int | None:
        """Growth of a counter since its last value (a drop means the device reset it); None
        for the first value of a counter not known from zero."""
        before = self.last.get((name, activity), 0 if self.known else None)
        self.last[(name, activity)] = value
        if before is None:
            if name == "cycles":
                self.first[activity] = (t, value)
            return None
        return value - before if value >= before else value

    def spans(self) -> list[CounterSpan]:
        """The day's step counters as read by this file, first reading to its last row (none
        for a day the file only touches at its closing midnight: it read nothing of it)."""
        if self.begin >= self.day_start + DAY:
            return []
        return [CounterSpan(a, self.day_start, t, v, self.end, self.last.get(("cycles", a), v))
                for a, (t, v) in sorted(self.first.items())]


@dataclass
class MonitoringParse:
    """State of one monitoring file's decode: clock, counters, rows out."""

    offset_s: int  # device-local minus UTC, seconds (from monitoring_info)
    file_start: int | None = None  # UTC time the file starts (monitoring_info)
    rows: Rows = field(default_factory=Rows)
    counters: _Counters = field(default_factory=_Counters)
    anchor: int | None = None  # last monitoring/monitoring_info UTC time
    prev_end: int | None = None  # where the next interval row starts
    heart_rate_times: list[int] = field(default_factory=list)
    untimed: int = 0

    def local_day(self, t: int) -> int:
        """Local day number of a row at UTC ``t``; a row at midnight closes the day before."""
        return (t + self.offset_s - 1) // DAY

    def day_start_utc(self, day: int) -> int:
        return day * DAY - self.offset_s

    def resolve(self, msg: dict[str, Any]) -> int | None:
        """UTC time of a monitoring row; ``timestamp_16`` counts forward from the anchor."""
        if "timestamp" in msg:
            self.anchor = msg["timestamp"]
        elif "timestamp_16" in msg and self.anchor is not None:
            self.anchor += (msg["timestamp_16"] - self.anchor) & 0xFFFF
        else:
            return None
        return self.anchor

    def enter(self, t: int) -> None:
        """Reset the counters when ``t`` falls on a new local day (they restart at midnight)."""
        day = self.local_day(t)
        if self.counters.day is None:
            self.counters.start_day(day, self.day_start_utc(day),
                                    self.prev_end == self.day_start_utc(day), t)
        elif day != self.counters.day:
            self.end_day()
            self.counters.start_day(day, self.day_start_utc(day), True, t)
            self.prev_end = max(self.prev_end or t, self.day_start_utc(day))
        self.counters.end = t

    def end_day(self) -> None:
        """Keep the counter spans of the day being read."""
        if self.counters.day is not None:
            self.rows.counters.extend(self.counters.spans())

    def worn(self, start: int, end: int, evidence: bool) -> int:
        """WORN with evidence of a wearer: steps/activity, or a heart-rate sample in (start, end]."""
        i = bisect.bisect_right(self.heart_rate_times, start)
        hr = i < len(self.heart_rate_times) and self.heart_rate_times[i] <= end
        return WORN if evidence or hr else WEAR_UNKNOWN


def read_monitoring(messages: Iterable[tuple[int, dict[str, Any]]], offset_s: int,
                    start_utc: int | None) -> MonitoringParse:
    """Intervals of a monitoring file; ``start_utc`` is when the file starts (monitoring_info)."""
    state = MonitoringParse(offset_s, start_utc, prev_end=start_utc)
    pending: list[tuple[int, dict[str, Any]]] = []
    for global_num, msg in messages:
        if global_num == MONITORING_INFO:
            state.resolve(msg)
            continue
        t = state.resolve(msg)
        if t is None:
            state.untimed += 1
        elif "heart_rate" in msg:
            state.heart_rate_times.append(t)
        if t is not None and ("activity_type" in msg or "current_activity_type_intensity" in msg):
            pending.append((t, msg))
    for t, msg in pending:  # after all heart-rate samples are known
        _row(state, t, msg)
    state.end_day()
    return state


def _row(state: MonitoringParse, t: int, msg: dict[str, Any]) -> None:
    if "activity_type" in msg:
        _summary_row(state, t, msg)
    else:
        _interval_row(state, t, msg)


def _summary_row(state: MonitoringParse, t: int, msg: dict[str, Any]) -> None:
    """A counter snapshot: the counters the file starts from, else steps since the last row."""
    if msg.get("duration_min") == DAY_TOTAL_MIN:
        return  # the day's totals, already counted by the interval rows
    activity = msg["activity_type"]
    first = state.counters.day is None
    state.enter(t)
    if "duration_min" in msg and (first or t == state.file_start):
        state.counters.snapshot(activity, msg, t)
        return
    if activity not in STEP_TYPES or "cycles" not in msg:
        return
    steps = state.counters.delta("cycles", activity, msg["cycles"], t)
    if first or state.prev_end is None or not steps:
        return
    state.rows.add(state.prev_end, t - state.prev_end, steps, WORN)


def _interval_row(state: MonitoringParse, t: int, msg: dict[str, Any]) -> None:
    """One interval (previous row, t] classified by the row's activity type."""
    activity = msg["current_activity_type_intensity"] & 0x1F
    state.enter(t)
    start = t if state.prev_end is None else state.prev_end
    state.prev_end = t
    duration = t - start
    steps: float = 0
    stepping = NAN
    if activity in STEP_TYPES:
        if "cycles" in msg:
            delta = state.counters.delta("cycles", activity, msg["cycles"], t)
            steps = NAN if delta is None else delta  # unknown: the counter spans place them
        if "active_time" in msg:  # ms, cumulative like the steps
            active = state.counters.delta("active_time", activity, msg["active_time"], t)
            stepping = NAN if active is None else min(active / 1000, duration)
    worn = state.worn(start, t, steps > 0 or activity in STEP_TYPES)
    if duration == 0 and not steps:
        steps = NAN  # a row at the time of the one before: no time in which to see no steps
    state.rows.add(start, duration, steps, worn, _posture(activity, duration, stepping))


def _posture(activity: int, duration: float, stepping: float) -> tuple[float, float, float]:
    """(sedentary, upright, stepping) seconds of an interval the device classified.

    Walking/running: stepping = the device's active time, the rest upright. Types that are
    neither sedentary nor stepping (generic, cycling, undocumented values) stay unknown."""
    if activity == SEDENTARY:
        return duration, 0.0, 0.0
    if activity in STEP_TYPES:
        stepped = duration if stepping != stepping else stepping
        return 0.0, duration - stepped, stepped
    return NAN, NAN, NAN
