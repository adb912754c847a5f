"""Plausibility bounds: what no tracker export can truthfully hold.

Exports come from phones, apps and devices we do not control; a flipped byte, a counter read
as the wrong type or a clock that was never set gives values no person produced, and the
clinicians' alerts would believe them. Every interval a parser yields is held against these
bounds by :func:`ingest.screen.screen` before it is binned; the defaults (P = our proposal,
E = evidence) are settings (``RW_PLAUSIBLE_*``, see README.md and docs/plausibility.md):

* ``max_steps_per_minute`` = 300 (E): a sprinter's top cadence is about 4.5-5 steps a second
  (270-300 a minute); brisk walking is 100-130, running 160-190 (CADENCE-Adults; Tudor-Locke
  2011). An interval shorter than a minute is held against a whole minute (it lies inside
  one or two), a point sample against its grid slot.
* ``max_steps_per_day`` = 200,000 (P): above the busiest days recorded by the devices we read
  (ultramarathon days are 100,000-150,000 steps); a day above it is an accumulation of
  damaged values, so the whole local day of that source is left out.
* ``earliest`` = 2000-01-01 (P): before every device and app we read (Fitbit 2009, Garmin FIT
  monitoring 2012, activPAL 2004, ActiGraph GT1M 2005); an unset clock gives 1970 (Unix),
  1989 (FIT) or 0001, not a plausible recording date.
* latest: the end of the patient's tomorrow, local: a device a zone ahead is tolerated, data
  further ahead has not happened yet (a clock set years ahead would pin alerts there).
* an interval longer than :data:`MAX_INTERVAL_S` (two days): no format we read measures a span
  longer than a (25-hour) day, and one such interval would spread over every day it spans.
* more than :data:`MAX_GRIDS_PER_UPLOAD` day grids in one upload: the file is refused as too
  large (split it), since one sparse row per day and device costs a whole day grid.
* a count or posture value that is negative or not finite (``inf``, ``1e400``), and posture
  seconds longer than their interval; NaN stays "not measured".

A record outside them is never data: it is left out and counted by reason in
``ParseResult.skipped``, the upload is ``partial`` saying how many and why, and a file with
nothing plausible left is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

#: Day grids (source-days) one upload may hold: 27 years of one device, a month of 300
#: subjects. Each is 1,440 slots; sparse rows over many devices could otherwise make
#: millions of them from a file within the size limit.
MAX_GRIDS_PER_UPLOAD = 10_000
#: Longest interval any format measures (a 25-hour DST day, with room): two days, in seconds.
MAX_INTERVAL_S = 2 * 86400


@dataclass(frozen=True)
class Plausibility:
    """The configurable bounds (the module docstring gives the reason for each default)."""

    max_steps_per_minute: int = 300
    max_steps_per_day: int = 200_000
    earliest: date = date(2000, 1, 1)

    def __post_init__(self) -> None:
        if self.max_steps_per_minute < 1 or self.max_steps_per_day < 1:
            raise ValueError("step bounds must be at least 1")


DEFAULT_BOUNDS = Plausibility()
