"""Writes realistic Apple Health ``export.xml`` files of a chosen size, for the benchmark.

One patient in Europe/London (offsets +0000/+0100 as in real exports) over consecutive days:
an iPhone throughout and, from the second month on, an Apple Watch worn from waking to bed
(about 1 day in 20 left off), both counting the same walks with their own interval
boundaries; a third-party app copying steps hourly on 1 day in 10; a manual Health-app entry
on 1 day in 50. Around them the mix that makes real exports big: heart rate every 4-8
minutes, active energy about every minute and basal energy every 1-5 minutes while the watch
is worn, distance beside each step sample, stand hours, exercise minutes, walking metrics,
audio exposure, walking workouts and daily activity summaries. Records are grouped by type
as the iPhone writes them, with Apple's device descriptions and metadata entries.
Deterministic for a given seed.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator, TextIO
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Europe/London")
START = date(2019, 3, 1)
WATCH_FROM = 30  # day index of the first watch day
PHONE = "Jane’s iPhone"
WATCH = "Jane’s Apple Watch"
APP = "Pedometer++"
PHONE_DEVICE = ("&lt;&lt;HKDevice: 0x28330a8f0&gt;, name:iPhone, manufacturer:Apple Inc., "
                "model:iPhone, hardware:iPhone12,1, software:15.4&gt;")
WATCH_DEVICE = ("&lt;&lt;HKDevice: 0x2833c4e60&gt;, name:Apple Watch, manufacturer:Apple Inc., "
                "model:Watch, hardware:Watch6,1, software:8.5&gt;")
HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!-- HealthKit Export Version: 11 -->
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary)*)>
<!ATTLIST HealthData locale CDATA #REQUIRED>
<!ELEMENT ExportDate EMPTY>
<!ATTLIST ExportDate value CDATA #REQUIRED>
<!ELEMENT Me EMPTY>
<!ELEMENT Record ((MetadataEntry|HeartRateVariabilityMetadataList)*)>
<!ATTLIST Record type CDATA #REQUIRED unit CDATA #IMPLIED value CDATA #IMPLIED
  sourceName CDATA #REQUIRED sourceVersion CDATA #IMPLIED device CDATA #IMPLIED
  creationDate CDATA #IMPLIED startDate CDATA #REQUIRED endDate CDATA #REQUIRED>
<!ELEMENT Workout ((MetadataEntry|WorkoutEvent|WorkoutRoute)*)>
<!ELEMENT MetadataEntry EMPTY>
<!ATTLIST MetadataEntry key CDATA #REQUIRED value CDATA #REQUIRED>
]>
<HealthData locale="en_GB">
 <ExportDate value="2024-01-01 09:00:00 +0000"/>
 <Me HKCharacteristicTypeIdentifierDateOfBirth="1961-05-04" \
HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale" \
HKCharacteristicTypeIdentifierBloodType="HKBloodTypeNotSet" \
HKCharacteristicTypeIdentifierFitzpatrickSkinType="HKFitzpatrickSkinTypeNotSet"/>
"""


@dataclass
class Day:
    """One day's plan (UTC epoch seconds): wear, carry and walking periods."""

    index: int
    start: int
    awake: tuple[int, int]
    worn: list[tuple[int, int]] = field(default_factory=list)
    carried: list[tuple[int, int]] = field(default_factory=list)
    walks: list[tuple[int, int, float]] = field(default_factory=list)  # start, end, steps/min
    app: bool = False
    manual: bool = False
    workout: tuple[int, int] | None = None


def plan(index: int, seed: int) -> Day:
    rnd = random.Random(seed * 100_003 + index)
    local = datetime.combine(START + timedelta(days=index), datetime.min.time(), TZ)
    start = int(local.timestamp())
    wake = start + 6 * 3600 + rnd.randint(0, 7200)
    bed = start + 22 * 3600 + rnd.randint(0, 5400)
    day = Day(index, start, (wake, bed), app=rnd.random() < 0.1, manual=rnd.random() < 0.02)
    if index >= WATCH_FROM and rnd.random() > 0.05:
        charge = rnd.randint(bed - 4 * 3600, bed - 3600)
        day.worn = [(wake, charge), (charge + rnd.randint(1800, 3600), bed)]
    t = wake
    while t < bed:
        span = rnd.randint(600, 5400)
        if rnd.random() < 0.55:
            day.carried.append((t, min(t + span, bed)))
        t += span
    t = wake + rnd.randint(0, 1800)
    while t < bed:
        length = rnd.randint(60, 1500)
        day.walks.append((t, min(t + length, bed), rnd.uniform(50, 120)))
        t += length + rnd.randint(300, 3600)
    if day.worn and rnd.random() < 0.3:
        w = rnd.choice(day.walks)
        day.workout = (w[0], w[1])
    return day


def _overlap(a: int, b: int, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(max(a, s), min(b, e)) for s, e in spans if min(b, e) > max(a, s)]


@lru_cache(maxsize=4096)
def _hour(utc_hour: int) -> tuple[str, str]:
    """Local "YYYY-MM-DD HH" and "+HHMM" of a UTC hour (London offsets are whole hours)."""
    local = datetime.fromtimestamp(utc_hour * 3600, timezone.utc).astimezone(TZ)
    return local.strftime("%Y-%m-%d %H"), local.strftime("%z")


class Writer:
    """Formats records; dates as Apple writes them (local time with the offset)."""

    def __init__(self, out: TextIO, rnd: random.Random) -> None:
        self.out, self.rnd = out, rnd

    @staticmethod
    def stamp(epoch: int) -> str:
        head, offset = _hour(epoch // 3600)
        minute, second = divmod(epoch % 3600, 60)
        return f"{head}:{minute:02d}:{second:02d} {offset}"

    def record(self, kind: str, source: str, unit: str, a: int, b: int, value: str,
               device: str = "", meta: tuple[tuple[str, str], ...] = ()) -> None:
        version = {PHONE: "15.4", WATCH: "8.5"}.get(source, "2")
        dev = f' device="{device}"' if device else ""
        created = self.stamp(b + self.rnd.randint(1, 600))
        head = (f' <Record type="{kind}" sourceName="{source}" sourceVersion="{version}"{dev} '
                f'unit="{unit}" creationDate="{created}" startDate="{self.stamp(a)}" '
                f'endDate="{self.stamp(b)}" value="{value}"')
        if not meta:
            self.out.write(head + "/>\n")
            return
        body = "".join(f'  <MetadataEntry key="{k}" value="{v}"/>\n' for k, v in meta)
        self.out.write(f"{head}>\n{body} </Record>\n")


def _chunks(a: int, b: int, rnd: random.Random, lo: int, hi: int) -> Iterator[tuple[int, int]]:
    while a < b:
        e = min(b, a + rnd.randint(lo, hi))
        yield a, e
        a = e


def steps(w: Writer, day: Day) -> None:
    for a, b, cadence in day.walks:
        for s, e in _overlap(a, b, day.worn):
            for x, y in _chunks(s, e, w.rnd, 60, 600):
                w.record("HKQuantityTypeIdentifierStepCount", WATCH, "count", x, y,
                         str(round(cadence * (y - x) / 60)), WATCH_DEVICE)
        for s, e in _overlap(a, b, day.carried):
            for x, y in _chunks(s, e, w.rnd, 30, 420):
                w.record("HKQuantityTypeIdentifierStepCount", PHONE, "count", x, y,
                         str(round(cadence * w.rnd.uniform(0.9, 1.1) * (y - x) / 60)),
                         PHONE_DEVICE)
    if day.app:
        for hour in range(7, 22):
            a = day.start + hour * 3600
            w.record("HKQuantityTypeIdentifierStepCount", APP, "count", a, a + 3600,
                     str(w.rnd.randint(0, 900)))
    if day.manual:
        a = day.start + 12 * 3600
        w.record("HKQuantityTypeIdentifierStepCount", "Health", "count", a, a + 1800,
                 str(w.rnd.randint(500, 3000)), meta=(("HKWasUserEntered", "1"),))


def distance(w: Writer, day: Day) -> None:
    for a, b, cadence in day.walks:
        for source, device, spans in ((WATCH, WATCH_DEVICE, day.worn),
                                      (PHONE, PHONE_DEVICE, day.carried)):
            for s, e in _overlap(a, b, spans):
                for x, y in _chunks(s, e, w.rnd, 60, 600):
                    w.record("HKQuantityTypeIdentifierDistanceWalkingRunning", source, "km",
                             x, y, f"{cadence * (y - x) / 60 * 0.00072:.5f}", device)


def heart_rate(w: Writer, day: Day) -> None:
    for a, b in day.worn:
        t = a
        while t < b:
            w.record("HKQuantityTypeIdentifierHeartRate", WATCH, "count/min", t, t,
                     str(w.rnd.randint(58, 110)), WATCH_DEVICE,
                     (("HKMetadataKeyHeartRateMotionContext", str(w.rnd.randint(0, 1))),))
            t += w.rnd.randint(240, 480)


def energy(kind: str, lo: int, hi: int) -> Callable[[Writer, Day], None]:
    def write(w: Writer, day: Day) -> None:
        for a, b in day.worn:
            for x, y in _chunks(a, b, w.rnd, lo, hi):
                w.record(kind, WATCH, "kcal", x, y, f"{w.rnd.uniform(0.05, 4):.3f}",
                         WATCH_DEVICE)
    return write


def stand_hours(w: Writer, day: Day) -> None:
    for a, b in day.worn:
        for hour in range(a - a % 3600 + 3600, b - 3600, 3600):
            value = "Stood" if w.rnd.random() < 0.7 else "Idle"
            w.record("HKCategoryTypeIdentifierAppleStandHour", WATCH, "", hour, hour + 3600,
                     f"HKCategoryValueAppleStandHour{value}", WATCH_DEVICE)


def exercise(w: Writer, day: Day) -> None:
    for a, b, cadence in day.walks:
        if cadence > 100:
            for s, e in _overlap(a, b, day.worn):
                for x in range(s, e - 60, 60):
                    w.record("HKQuantityTypeIdentifierAppleExerciseTime", WATCH, "min", x,
                             x + 60, "1", WATCH_DEVICE)


def walking_metrics(w: Writer, day: Day) -> None:
    for a, b, cadence in day.walks:
        for s, e in _overlap(a, b, day.carried):
            if e - s < 120:
                continue
            for kind, unit, value in (
                    ("HKQuantityTypeIdentifierWalkingSpeed", "km/hr", f"{cadence / 22:.3f}"),
                    ("HKQuantityTypeIdentifierWalkingStepLength", "cm", f"{cadence / 1.6:.1f}"),
                    ("HKQuantityTypeIdentifierWalkingDoubleSupportPercentage", "%", "0.29"),
                    ("HKQuantityTypeIdentifierWalkingAsymmetryPercentage", "%", "0.04")):
                w.record(kind, PHONE, unit, s, s + 40, value, PHONE_DEVICE)


def audio(w: Writer, day: Day) -> None:
    for a, b in day.carried[:6]:
        w.record("HKQuantityTypeIdentifierHeadphoneAudioExposure", PHONE, "dBASPL", a,
                 min(b, a + 1800), f"{w.rnd.uniform(55, 80):.2f}", PHONE_DEVICE)


def workouts(w: Writer, day: Day) -> None:
    if day.workout is None:
        return
    a, b = day.workout
    w.out.write(
        f' <Workout workoutActivityType="HKWorkoutActivityTypeWalking" '
        f'duration="{(b - a) / 60:.4f}" durationUnit="min" totalDistance="{(b - a) / 720:.3f}" '
        f'totalDistanceUnit="km" totalEnergyBurned="{(b - a) / 12:.1f}" '
        f'totalEnergyBurnedUnit="kcal" sourceName="{WATCH}" sourceVersion="8.5" '
        f'device="{WATCH_DEVICE}" creationDate="{w.stamp(b)}" startDate="{w.stamp(a)}" '
        f'endDate="{w.stamp(b)}">\n'
        '  <MetadataEntry key="HKIndoorWorkout" value="0"/>\n'
        '  <MetadataEntry key="HKTimeZone" value="Europe/London"/>\n'
        f'  <WorkoutRoute sourceName="{WATCH}" sourceVersion="8.5" creationDate="{w.stamp(b)}" '
        f'startDate="{w.stamp(a)}" endDate="{w.stamp(b)}">\n'
        f'   <FileReference path="/workout-routes/route_{day.index}.gpx"/>\n'
        '  </WorkoutRoute>\n </Workout>\n')


def summaries(w: Writer, day: Day) -> None:
    if day.worn:
        d = START + timedelta(days=day.index)
        w.out.write(f' <ActivitySummary dateComponents="{d}" activeEnergyBurned="412.3" '
                    'activeEnergyBurnedGoal="400" activeEnergyBurnedUnit="kcal" '
                    'appleMoveTime="0" appleMoveTimeGoal="0" appleExerciseTime="31" '
                    'appleExerciseTimeGoal="30" appleStandHours="11" appleStandHoursGoal="12"/>\n')


#: Sections in the order the iPhone writes them (records grouped by type, then workouts).
SECTIONS: tuple[Callable[[Writer, Day], None], ...] = (
    heart_rate, steps, distance,
    energy("HKQuantityTypeIdentifierBasalEnergyBurned", 60, 300),
    energy("HKQuantityTypeIdentifierActiveEnergyBurned", 30, 90),
    exercise, walking_metrics, audio, stand_hours, workouts, summaries)


def _write_days(out: TextIO, days: list[Day], seed: int) -> None:
    for number, section in enumerate(SECTIONS):
        w = Writer(out, random.Random(seed * 31 + number))
        for day in days:
            section(w, day)


def _bytes(days: range, seed: int) -> int:
    sample = io.StringIO()
    _write_days(sample, [plan(i, seed) for i in days], seed)
    return len(sample.getvalue().encode())


def day_count(size_mb: float, seed: int) -> int:
    """Days making about ``size_mb`` MB: the phone-only month, then watch-era days at the
    mean size of six sampled watch-era months."""
    phone_month = _bytes(range(WATCH_FROM), seed)
    if size_mb * 1e6 <= phone_month:
        return max(1, round(WATCH_FROM * size_mb * 1e6 / phone_month))
    per_day = _bytes(range(WATCH_FROM, WATCH_FROM + 180), seed) / 180
    return WATCH_FROM + round((size_mb * 1e6 - phone_month) / per_day)


def write_export(path: Path, size_mb: float, seed: int = 1) -> int:
    """Write an export of about ``size_mb`` MB at ``path``; returns the number of days."""
    n_days = day_count(size_mb, seed)
    days = [plan(i, seed) for i in range(n_days)]
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write(HEAD)
        _write_days(out, days, seed)
        out.write("</HealthData>\n")
    return n_days


if __name__ == "__main__":
    import sys

    print(write_export(Path(sys.argv[1]), float(sys.argv[2])), "days")
