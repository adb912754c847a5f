"""The demo cohort: who the patients are, what story each lives, and their minutes of steps.

Pure and seeded: the same call gives the same cohort and the same days. A story is planted
relative to the patient's own protocol targets (:func:`schemas.protocol.targets_for`), so an
"on track" patient walks about 1.35 times their low bound whatever the phase, and each story
names the alerts it must raise (:data:`EXPECTED`). Every day is planned between 06:30 and
22:30 local (:data:`WAKING_MIN` minutes); stationary stretches are broken within
:data:`MAX_STILL_MIN` minutes except in the ``sitting`` story, so only that story sits past
the 30-minute limit of protected walking.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from schemas.protocol import CarePlan, targets_for

SEED = 20261204
WAKE = time(6, 30)
WAKING_MIN = 16 * 60
MAX_STILL_MIN = 25
SILENT_DAYS = 5  # the last days without an upload (silent) or without wear (not_worn)
HISTORY_DAYS = 31  # days of an export: covers the 30-day RPM period the rules count
PRE_START_DAYS = 7  # days before the start in an export (the pre-surgery baseline week)
TEAMS = ("spine-north", "spine-south")
ZONES = ("Europe/London", "America/New_York", "Europe/Berlin", "Australia/Sydney",
         "America/Los_Angeles", "Asia/Tokyo")
PROCEDURES = ("microdiscectomy", "decompression", "fusion", "conservative")

#: (rule, audience) of the open alerts each story must raise, and no other.
EXPECTED: dict[str, frozenset[tuple[str, str]]] = {
    "on_track": frozenset(),
    "underactive": frozenset({("underactivity", "clinician")}),
    "spike": frozenset({("overload_spike", "clinician")}),
    "drop": frozenset({("sudden_drop", "clinician")}),
    "silent": frozenset({("missing_data", "clinician"), ("missing_data", "patient")}),
    "not_worn": frozenset({("missing_data", "clinician")}),
    "never": frozenset({("missing_data", "clinician")}),
    "sitting": frozenset({("sitting", "patient")}),
}


@dataclass(frozen=True)
class Casting:
    """How many patients live a story, which exports they send, and how many days before
    yesterday they started (each a choice the story needs: a spike needs two weeks of
    history, sitting needs the protected-walking phase, which has a bout limit)."""

    story: str
    count: int
    exports: tuple[str, ...]
    days_ago: tuple[int, ...]
    procedures: tuple[str, ...] = PROCEDURES


ALL_EXPORTS = ("fit", "fitbit", "csv", "apple-health", "activpal")
CASTING = (
    Casting("on_track", 18, ALL_EXPORTS, (3, 9, 13, 20, 27, 36, 45, 58, 75, 95, 130, 200)),
    Casting("underactive", 6, ALL_EXPORTS, (12, 24, 40, 55, 80, 120)),
    Casting("spike", 5, ALL_EXPORTS, (30, 44, 60, 90, 150)),
    Casting("drop", 3, ALL_EXPORTS, (35, 50, 100)),
    Casting("silent", 5, ALL_EXPORTS, (15, 30, 48, 70, 110)),
    Casting("not_worn", 5, ("fit", "fitbit", "csv", "activpal"), (14, 26, 42, 66, 100)),
    Casting("never", 3, ("",), (4, 7, 11)),
    Casting("sitting", 3, ("activpal",), (6, 8, 10), ("microdiscectomy", "decompression")),
)


@dataclass(frozen=True)
class DemoPatient:
    id: str
    procedure: str
    start_date: date
    tz: str
    team: str
    story: str
    export: str  # a format of ingest.registry, or "" (never sent data)


@dataclass(frozen=True)
class DemoDay:
    """One planned local day: steps per minute from 06:30 local (``start_utc``, epoch s),
    and whether the tracker was on (``worn`` False: a day of zeros, device off the body)."""

    local_date: date
    start_utc: int
    utc_offset_s: int
    steps: np.ndarray  # WAKING_MIN whole numbers
    worn: bool

    @property
    def total(self) -> int:
        return int(self.steps.sum())


def yesterday(tz: str, now: datetime) -> date:
    """The patient's last complete local day at ``now``."""
    return now.astimezone(ZoneInfo(tz)).date() - timedelta(days=1)


def cohort(now: datetime, seed: int = SEED) -> list[DemoPatient]:
    """The cohort at ``now``: every casting's patients, numbered DEMO-001..., their start
    dates counted back from their own yesterday; zones, teams and procedures rotated."""
    rnd = random.Random(seed)
    out: list[DemoPatient] = []
    for cast in CASTING:
        for i in range(cast.count):
            n = len(out)
            tz = ZONES[n % len(ZONES)]
            ago = cast.days_ago[i % len(cast.days_ago)] + rnd.randint(0, 2)
            out.append(DemoPatient(
                f"DEMO-{n + 1:03d}", cast.procedures[i % len(cast.procedures)],
                yesterday(tz, now) - timedelta(days=ago), tz, TEAMS[n % len(TEAMS)],
                cast.story, cast.exports[i % len(cast.exports)]))
    return out


def plan_days(patient: DemoPatient, now: datetime, seed: int = SEED,
              history_days: int = HISTORY_DAYS) -> list[DemoDay]:
    """The days the patient's exports hold, up to their yesterday: from a week before the
    start (at most ``history_days`` back), minus the days the story leaves out."""
    rng = np.random.default_rng([seed, zlib.crc32(patient.id.encode())])
    last = yesterday(patient.tz, now)
    first = max(patient.start_date - timedelta(days=PRE_START_DAYS),
                last - timedelta(days=history_days - 1))
    plan = CarePlan(patient.id, patient.procedure, patient.start_date, patient.tz)
    zone = ZoneInfo(patient.tz)
    days = []
    for i in range((last - first).days + 1):
        day = first + timedelta(days=i)
        left = (last - day).days  # 0 on yesterday
        if patient.story == "never" or (patient.story == "silent" and left < SILENT_DAYS):
            continue
        wake = datetime.combine(day, WAKE, zone)
        offset = wake.utcoffset()
        worn = not (patient.story == "not_worn" and left < SILENT_DAYS)
        steps = (day_minutes(day_steps(patient.story, plan, day, left, rng), rng,
                             sits=3 if patient.story == "sitting" else 0)
                 if worn else np.zeros(WAKING_MIN))
        days.append(DemoDay(day, int(wake.timestamp()),
                            int(offset.total_seconds()) if offset else 0, steps, worn))
    return days


def day_steps(story: str, plan: CarePlan, day: date, left: int,
              rng: np.random.Generator) -> float:
    """The day's total: a multiple of the protocol's low bound (pre-surgery: a steady 5,500),
    with day-to-day noise; ``left`` days remain until yesterday."""
    low = targets_for(plan, day).steps_low
    if low is None:
        return 5500 * rng.normal(1.0, 0.08)
    factor = 1.35
    if story == "underactive":
        factor = 0.55
    elif story == "drop" and left < 4:
        factor = 0.35
    total = low.value * factor * rng.normal(1.0, 0.08)
    if story == "spike" and left == 1:  # the day before yesterday
        total = max(2.6 * total, total + 3000)
    return total


def day_minutes(steps: float, rng: np.random.Generator, sits: int = 0) -> np.ndarray:
    """Minute steps over the waking window: walking bouts plus pottering (a fifth of the
    steps, at most 6% of the minutes), a step or two at least every :data:`MAX_STILL_MIN` + 1 minutes (breaks in stationary time), then ``sits``
    unbroken sittings of 40-60 minutes."""
    minutes = np.zeros(WAKING_MIN)
    pottering = rng.random(WAKING_MIN) < min(0.06, steps * 0.2 / 9 / WAKING_MIN)
    minutes[pottering] = rng.integers(3, 16, int(pottering.sum()))
    left = max(0.0, steps - minutes.sum())
    while left > 0:
        length = int(rng.integers(4, 20))
        start = int(rng.integers(30, WAKING_MIN - length))
        cadence = float(rng.uniform(75, 110))
        minutes[start:start + length] += np.minimum(cadence, left / length)
        left -= min(cadence * length, left)
    _break_still_runs(minutes, rng)
    for _ in range(sits):
        length = int(rng.integers(40, 61))
        start = int(rng.integers(60, WAKING_MIN - length - 60))
        minutes[start:start + length] = 0
    return np.round(minutes)


def _break_still_runs(minutes: np.ndarray, rng: np.random.Generator) -> None:
    """Put a few steps into every run of zero minutes longer than :data:`MAX_STILL_MIN`."""
    run = 0
    for i in range(WAKING_MIN):
        run = run + 1 if minutes[i] < 0.5 else 0
        if run > MAX_STILL_MIN:
            minutes[i] = int(rng.integers(1, 4))  # a shuffle ends a still stretch
            run = 0
