"""Interval rows collected from FIT messages, turned into one :class:`IntervalBatch`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from schemas.binning import IntervalBatch
from schemas.counters import CounterSpan
from schemas.daygrid import MINUTE, Source

NAN = float("nan")


@dataclass
class Rows:
    """Parallel lists of intervals: UTC start, seconds, steps, posture seconds, wear; and the
    day-counter readings whose steps no interval holds (:mod:`schemas.counters`)."""

    start: list[float] = field(default_factory=list)
    duration: list[float] = field(default_factory=list)
    steps: list[float] = field(default_factory=list)
    sedentary_s: list[float] = field(default_factory=list)
    upright_s: list[float] = field(default_factory=list)
    stepping_s: list[float] = field(default_factory=list)
    worn: list[int] = field(default_factory=list)
    counters: list[CounterSpan] = field(default_factory=list)

    def add(self, start: float, duration: float, steps: float, worn: int,
            posture: tuple[float, float, float] = (NAN, NAN, NAN)) -> None:
        """One interval; ``posture`` is (sedentary, upright, stepping) seconds, NaN if unknown."""
        self.start.append(start)
        self.duration.append(duration)
        self.steps.append(steps)
        self.sedentary_s.append(posture[0])
        self.upright_s.append(posture[1])
        self.stepping_s.append(posture[2])
        self.worn.append(worn)

    def extend(self, other: Rows) -> None:
        for name in self.__dataclass_fields__:
            getattr(self, name).extend(getattr(other, name))

    def batch(self, source: Source, shift_s: int) -> IntervalBatch:
        """The rows as a minute-resolution batch, starts moved by ``shift_s`` (to the Unix
        epoch); a measure never known becomes None."""
        def column(values: list[float]) -> np.ndarray | None:
            arr = np.asarray(values, dtype=np.float64)
            return None if np.isnan(arr).all() else arr

        return IntervalBatch(source, MINUTE, np.asarray(self.start, dtype=np.float64) + shift_s,
                             np.asarray(self.duration, dtype=np.float64),
                             np.asarray(self.steps, dtype=np.float64),
                             sedentary_s=column(self.sedentary_s), upright_s=column(self.upright_s),
                             stepping_s=column(self.stepping_s),
                             worn=np.asarray(self.worn, dtype=np.int8),
                             counters=tuple(c.shifted(shift_s) for c in self.counters))
