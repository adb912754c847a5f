"""The day grid: one patient's data from one source for one local calendar day.

A grid has one slot per ``resolution_s`` seconds of the patient's *local* calendar day, so a
minute grid has 1440 slots (1380 or 1500 on DST change days), an hourly grid 24 (23/25) and a
daily grid 1. Values are float64 with NaN meaning "no data for this slot" (never zero: a
missing minute is not a still minute). ``worn`` is int8: 1 worn, 0 not worn, -1 unknown.

Slots are real elapsed time: slot *i* covers ``[day_start + i*res, day_start + (i+1)*res)`` in
UTC seconds, where ``day_start`` is local midnight. On a spring-forward day the local clock
skips an hour and the grid simply has one hour fewer; nothing is interpolated.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Iterable
from zoneinfo import ZoneInfo

import numpy as np

from schemas import counters

MINUTE, HOUR, DAY = 60, 3600, 86400
RESOLUTIONS = (MINUTE, HOUR, DAY)
WORN, NOT_WORN, WEAR_UNKNOWN = 1, 0, -1
MEASURES = ("steps", "sedentary_s", "upright_s", "stepping_s")
#: ``DayGrid.extra`` key: minutes with heart rate that day (a daily wear figure, e.g. Fitbit).
WEAR_MINUTES_HR = "wear_minutes_hr"


@dataclass(frozen=True)
class Source:
    """Where data came from: a device or app, identified as precisely as the export allows.

    ``kind`` is the export family (``garmin-fit``, ``garmin-connect``, ``fitbit``,
    ``apple-health``, ``google-fit``, ``activpal``, ``actigraph``, ``csv``); ``device`` the
    model or app; ``serial`` a stable device id when known.
    """

    kind: str
    device: str = ""
    serial: str = ""

    @property
    def key(self) -> str:
        """Stable text key used in the database and on the stream."""
        return f"{self.kind}:{self.device}:{self.serial}"

    @classmethod
    def from_key(cls, key: str) -> Source:
        kind, device, serial = (key.split(":", 2) + ["", ""])[:3]
        return cls(kind, device, serial)


@lru_cache(maxsize=4096)
def day_bounds(local_date: date, tz: str) -> tuple[int, int]:
    """UTC epoch seconds of local midnight at the start and end of ``local_date`` in ``tz``."""
    zone = ZoneInfo(tz)
    start = datetime.combine(local_date, time(0), zone)
    end = datetime.combine(local_date + timedelta(days=1), time(0), zone)
    return int(start.timestamp()), int(end.timestamp())


def slot_count(local_date: date, tz: str, resolution_s: int) -> int:
    """Number of slots of ``resolution_s`` in the local day (1440/1380/1500 for minutes)."""
    if resolution_s not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, not {resolution_s}")
    start, end = day_bounds(local_date, tz)
    return 1 if resolution_s == DAY else -(-(end - start) // resolution_s)


def local_date_of(epoch_s: float, tz: str) -> date:
    """Local calendar date in ``tz`` of a UTC epoch second."""
    return datetime.fromtimestamp(epoch_s, ZoneInfo(tz)).date()


@dataclass(frozen=True, eq=False)
class DayGrid:
    """One (patient, source, local day) of activity, in slots of ``resolution_s`` seconds.

    Arrays: ``steps`` (steps in the slot), ``sedentary_s``/``upright_s``/``stepping_s``
    (seconds in that posture or state; ``None`` when the device never reports it), and
    ``worn`` (int8). ``origin`` is the content hash of the upload that produced it.
    """

    patient_id: str
    source: Source
    local_date: date
    tz: str
    resolution_s: int
    steps: np.ndarray
    worn: np.ndarray
    sedentary_s: np.ndarray | None = None
    upright_s: np.ndarray | None = None
    stepping_s: np.ndarray | None = None
    origin: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = slot_count(self.local_date, self.tz, self.resolution_s)
        for name in ("steps", "worn", *MEASURES[1:]):
            arr = getattr(self, name)
            if arr is not None and arr.shape != (n,):
                raise ValueError(f"{name} has shape {arr.shape}, expected ({n},) for {self}")

    def __repr__(self) -> str:
        return (f"DayGrid({self.source.key} {self.local_date} {self.tz} "
                f"res={self.resolution_s}s steps={self.total_steps:g})")

    @property
    def n_slots(self) -> int:
        return int(self.steps.shape[0])

    @property
    def total_steps(self) -> float:
        """Steps in the slots that have data (0.0 when none do)."""
        return float(np.nansum(self.steps))

    @property
    def covered(self) -> np.ndarray:
        """Boolean mask of slots with step data."""
        return ~np.isnan(self.steps)

    def same_data(self, other: DayGrid) -> bool:
        """True when both grids hold exactly the same values (NaN equal to NaN), day-counter
        readings and estimated slots included (they decide where later files' steps go)."""
        if (self.patient_id, self.source, self.local_date, self.tz, self.resolution_s) != (
            other.patient_id, other.source, other.local_date, other.tz, other.resolution_s
        ) or any(self.extra.get(k) != other.extra.get(k) for k in counters.EXTRA_KEYS):
            return False
        for name in ("steps", "worn", *MEASURES[1:]):
            a, b = getattr(self, name), getattr(other, name)
            if (a is None) != (b is None):
                return False
            if a is not None and not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
                return False
        return True

    def overlay(self, newer: DayGrid) -> DayGrid:
        """This grid updated by ``newer`` of the same source and day: slots that ``newer`` knows
        replace ours, slots it does not know keep ours. Re-syncs and overlapping exports
        therefore replace, never add. Steps known only from day counters
        (:mod:`schemas.counters`) are set aside first and placed again from both grids' spans
        around the real slots of both."""
        if (newer.source, newer.local_date, newer.resolution_s) != (
            self.source, self.local_date, self.resolution_s
        ):
            raise ValueError("overlay needs the same source, day and resolution")
        spans = counters.spans_of(self.extra) | counters.spans_of(newer.extra)
        if not spans:
            return self._overlay(newer)
        return self.real_steps()._overlay(newer.real_steps()).with_counters(spans)

    def real_steps(self) -> DayGrid:
        """This grid without the steps estimated from day counters (their slots: no data)."""
        if counters.ESTIMATED_KEY not in self.extra:
            return self
        estimated = counters.estimated_slots(self.extra, self.n_slots)
        extra = {k: v for k, v in self.extra.items() if k != counters.ESTIMATED_KEY}
        return replace(self, steps=np.where(estimated, np.nan, self.steps), extra=extra)

    def with_counters(self, spans: Iterable[counters.CounterSpan]) -> DayGrid:
        """This grid, whose steps are all real, with the steps of the day counters ``spans``
        that no real slot holds spread over the slots they must have happened in."""
        spans = set(spans)
        steps, estimated = counters.fill(self.steps, day_bounds(self.local_date, self.tz)[0],
                                         self.resolution_s, spans)
        extra = {**self.extra, counters.SPANS_KEY: counters.encode(spans)}
        if estimated.any():
            extra[counters.ESTIMATED_KEY] = counters.encode_slots(estimated)
        return replace(self, steps=steps, extra=extra)

    def _overlay(self, newer: DayGrid) -> DayGrid:

        def pick(old: np.ndarray | None, new: np.ndarray | None) -> np.ndarray | None:
            if old is None or new is None:
                return new if old is None else old
            return np.where(np.isnan(new), old, new)

        worn = np.where(newer.worn != WEAR_UNKNOWN, newer.worn, self.worn).astype(np.int8)
        return DayGrid(
            self.patient_id, self.source, self.local_date, self.tz, self.resolution_s,
            steps=np.where(np.isnan(newer.steps), self.steps, newer.steps), worn=worn,
            sedentary_s=pick(self.sedentary_s, newer.sedentary_s),
            upright_s=pick(self.upright_s, newer.upright_s),
            stepping_s=pick(self.stepping_s, newer.stepping_s),
            origin=newer.origin or self.origin, extra={**self.extra, **newer.extra},
        )


def utc(dt: datetime) -> datetime:
    """``dt`` as an aware UTC datetime; a naive ``dt`` is rejected, never guessed."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: say which zone it is in")
    return dt.astimezone(timezone.utc)
