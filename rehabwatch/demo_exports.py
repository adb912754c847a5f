"""The demo cohort's planned days written as the files each tracker's export really holds.

One writer per format, each taking a patient's :class:`DemoDay` list and a folder:

* ``fit``: Garmin FIT monitoring files, one per week, encoded by Garmin's own FIT SDK
  (``garmin-fit-sdk``'s ``Encoder``): a ``monitoring_info`` with the device's offset, then a
  row per minute of the waking window (walking with cumulative steps, or sedentary) and a
  heart-rate sample every 10 minutes while worn;
* ``fitbit``: a Fitabase per-subject export, minute steps (every minute of the day, local
  wall clock, in the wide layout) and the tracker's sync events;
* ``csv``: the rehabwatch CSV (docs/csv-format.md), minute rows with offsets and ``worn``;
* ``apple-health``: an ``export.xml`` of Apple Watch step and heart-rate samples;
* ``activpal``: an activPAL events CSV (sitting, standing, one event per stride, lying at
  night, non-wear), times in Excel serial days on the device's local clock.

A day that is not worn is written as the device would: zeros (FIT sedentary rows without
heart rate, Fitbit zero minutes, ``worn=0`` CSV rows), or activPAL non-wear events; the Apple
export leaves it out (no watch sample at all).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
from garmin_fit_sdk import Encoder
from garmin_fit_sdk.profile import Profile

from rehabwatch.demo_cohort import WAKING_MIN, DemoDay, DemoPatient

MINUTE = 60
FIT_WALKING, FIT_SEDENTARY = 6, 8  # FIT activity types
FIT_PRODUCT = 2700  # Garmin vivoactive 3
HR_EVERY_MIN = 10
_MESG = Profile["mesg_num"]

Writer = Callable[[DemoPatient, Sequence[DemoDay], Path], list[Path]]


def write_exports(patient: DemoPatient, days: Sequence[DemoDay], folder: Path) -> list[Path]:
    """The patient's export files in ``folder`` (none for a patient who never sent data)."""
    if not patient.export:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    return WRITERS[patient.export](patient, days, folder)


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


# -- FIT -------------------------------------------------------------------------------------

def write_fit(patient: DemoPatient, days: Sequence[DemoDay], folder: Path) -> list[Path]:
    """One monitoring file per 7 days, each starting at the local midnight of its first day
    (so the device's daily counters are known from zero)."""
    paths = []
    for i in range(0, len(days), 7):
        week = days[i:i + 7]
        path = folder / f"{patient.id}_{week[0].local_date:%Y%m%d}.fit"
        path.write_bytes(fit_monitoring(week, zlib.crc32(patient.id.encode()) % 10**8))
        paths.append(path)
    return paths


def fit_monitoring(days: Sequence[DemoDay], serial: int) -> bytes:
    """A FIT monitoring file of ``days``: a row closing each stretch of walking (the day's
    cumulative walking steps in the profile's ``cycles`` field, which the SDK scales by 2,
    hence steps / 2, and cumulative active time) or of sitting still, with heart-rate
    samples every :data:`HR_EVERY_MIN` minutes while the watch is worn."""
    first = days[0]
    midnight = first.start_utc - (6 * 60 + 30) * MINUTE  # no clock change before 06:30
    encoder = Encoder()
    encoder.write_mesg({"mesg_num": _MESG["FILE_ID"], "type": "monitoring_b",
                        "manufacturer": "garmin", "product": FIT_PRODUCT,
                        "serial_number": 3_900_000_000 + serial, "time_created": _utc(midnight)})
    encoder.write_mesg({"mesg_num": _MESG["MONITORING_INFO"], "timestamp": _utc(midnight),
                        "local_timestamp": _fit_local(midnight, first.utc_offset_s)})
    for day in days:
        _fit_day(encoder, day)
    return bytes(encoder.close())


def _fit_day(encoder: Encoder, day: DemoDay) -> None:
    def row(minute: int, **fields: object) -> None:
        encoder.write_mesg({"mesg_num": _MESG["MONITORING"],
                            "timestamp": _utc(day.start_utc + minute * MINUTE), **fields})

    row(0, current_activity_type_intensity=FIT_SEDENTARY)  # closes the night
    steps = day.steps.astype(int)
    moving = steps > 0
    edges = [0, *(np.flatnonzero(np.diff(moving.astype(np.int8))) + 1).tolist(), WAKING_MIN]
    counted = active_s = 0
    for a, b in zip(edges, edges[1:]):
        for minute in range(a, b) if day.worn else ():
            if minute % HR_EVERY_MIN == HR_EVERY_MIN // 2:
                row(minute + 1, heart_rate=62 + int(steps[minute]) // 4)
        if moving[a]:
            counted += int(steps[a:b].sum())
            active_s += int(np.minimum(MINUTE, steps[a:b]).sum())
            row(b, current_activity_type_intensity=FIT_WALKING, cycles=counted / 2,
                active_time=float(active_s))
        else:
            row(b, current_activity_type_intensity=FIT_SEDENTARY)


def _fit_local(utc_epoch: int, offset_s: int) -> int:
    """FIT ``local_date_time``: device-local seconds since the FIT epoch (1989-12-31)."""
    return utc_epoch + offset_s - 631065600


# -- Fitbit (Fitabase per-subject files) -----------------------------------------------------

def write_fitbit(patient: DemoPatient, days: Sequence[DemoDay], folder: Path) -> list[Path]:
    """Minute steps in Fitabase's wide layout (a row per local hour, a column per minute)
    and the tracker's daily sync events."""
    span = f"{days[0].local_date:%Y%m%d}_{days[-1].local_date:%Y%m%d}"
    steps_path = folder / f"{patient.id}_minuteStepsWide_{span}.csv"
    sync_path = folder / f"{patient.id}_syncEvents_{span}.csv"
    lines = ["ActivityHour," + ",".join(f"Steps{m:02d}" for m in range(60))]
    syncs = ["DateTime,SyncDateUTC,Provider,DeviceName"]
    hours = [f"{(h + 11) % 12 + 1}:00:00 {'AM' if h < 12 else 'PM'}" for h in range(24)]
    for day in days:
        full = np.zeros(24 * 60, dtype=int)
        full[6 * 60 + 30:6 * 60 + 30 + WAKING_MIN] = day.steps
        date_text = f"{day.local_date.month}/{day.local_date.day}/{day.local_date.year}"
        lines += [f"{date_text} {hours[h]}," + ",".join(map(str, full[h * 60:h * 60 + 60]))
                  for h in range(24)]
        synced = day.start_utc + (13 * 60 + 30) * MINUTE  # 20:00 local
        local = _utc(synced + day.utc_offset_s).replace(tzinfo=None)
        syncs.append(f"{_fitabase(local)},{_fitabase(_utc(synced).replace(tzinfo=None))},"
                     "Fitbit,Inspire 3")
    steps_path.write_text("\n".join(lines) + "\n")
    sync_path.write_text("\n".join(syncs) + "\n")
    return [steps_path, sync_path]


def _fitabase(stamp: datetime) -> str:
    """Fitabase's US date-time: ``M/D/YYYY h:mm:ss AM``."""
    return f"{stamp.month}/{stamp.day}/{stamp.year} {stamp:%I:%M:%S %p}".replace(" 0", " ", 1)


# -- the rehabwatch CSV ----------------------------------------------------------------------

def write_csv(patient: DemoPatient, days: Sequence[DemoDay], folder: Path) -> list[Path]:
    path = folder / f"{patient.id}.csv"
    lines = ["timestamp,steps,worn"]
    clock = [f"{m // 60:02d}:{m % 60:02d}:00" for m in range(6 * 60 + 30, 24 * 60)]
    for day in days:
        zone = _offset(day.utc_offset_s)
        worn = "1" if day.worn else "0"
        lines += [f"{day.local_date}T{at}{zone},{int(s)},{worn}"
                  for at, s in zip(clock, day.steps.tolist())]
    path.write_text("\n".join(lines) + "\n")
    return [path]


def _offset(seconds: int, colon: bool = True) -> str:
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}{':' if colon else ''}{minutes:02d}"


# -- Apple Health ----------------------------------------------------------------------------

WATCH = "Apple Watch"
APPLE_HR_EVERY_S = 300  # background heart rate while worn (within the parser's 15-min bridge)
WATCH_DEVICE = ("&lt;&lt;HKDevice: 0x2833c4e60&gt;, name:Apple Watch, manufacturer:Apple Inc., "
                "model:Watch, hardware:Watch6,1, software:10.1&gt;")


def write_apple_health(patient: DemoPatient, days: Sequence[DemoDay],
                       folder: Path) -> list[Path]:
    """``export.xml`` as the Health app writes it: step samples of each walking stretch
    (at most 10 minutes each) and heart rate every 5 minutes while worn, dates in local time
    with the offset."""
    out = folder / "export.xml"
    last = days[-1]
    exported = _apple(last.start_utc + 17 * 3600, last.utc_offset_s)
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<HealthData locale="en_GB">\n',
             f' <ExportDate value="{exported}"/>\n <Me/>\n']
    for day in days:
        if day.worn:
            parts += _apple_steps(day) + _apple_heart(day)
    parts.append("</HealthData>\n")
    out.write_text("".join(parts), encoding="utf-8")
    return [out]


def _apple(epoch: int, offset_s: int) -> str:
    return f"{_utc(epoch + offset_s):%Y-%m-%d %H:%M:%S} {_offset(offset_s, colon=False)}"


def _apple_record(kind: str, unit: str, a: int, b: int, value: str, offset_s: int) -> str:
    return (f' <Record type="{kind}" sourceName={quoteattr(WATCH)} sourceVersion="10.1" '
            f'device="{WATCH_DEVICE}" unit="{unit}" creationDate="{_apple(b + 30, offset_s)}" '
            f'startDate="{_apple(a, offset_s)}" endDate="{_apple(b, offset_s)}" '
            f'value="{value}"/>\n')


def _apple_steps(day: DemoDay) -> list[str]:
    moving = np.flatnonzero(day.steps > 0)
    out = []
    for run in np.split(moving, np.flatnonzero(np.diff(moving) > 1) + 1):
        for chunk in np.array_split(run, -(-len(run) // 10)) if len(run) else ():
            a = day.start_utc + int(chunk[0]) * MINUTE
            b = day.start_utc + (int(chunk[-1]) + 1) * MINUTE
            out.append(_apple_record("HKQuantityTypeIdentifierStepCount", "count", a, b,
                                     str(int(day.steps[chunk].sum())), day.utc_offset_s))
    return out


def _apple_heart(day: DemoDay) -> list[str]:
    return [_apple_record("HKQuantityTypeIdentifierHeartRate", "count/min", t, t,
                          str(64 + int(day.steps[(t - day.start_utc) // MINUTE]) // 4),
                          day.utc_offset_s)
            for t in range(day.start_utc, day.start_utc + WAKING_MIN * MINUTE, APPLE_HR_EVERY_S)]


# -- activPAL --------------------------------------------------------------------------------

ACTIVPAL_HEADER = ('"Time","DataCount (samples)","Interval (s)","ActivityCode (0=sedentary '
                   '1=standing 2=stepping 3.1=primary lying, 3.2=secondary lying 4=non-wear)",'
                   '"CumulativeStepCount","Activity Score (MET.h)","Sum(Abs(DiffX)",'
                   '"Sum(Abs(DiffY)","Sum(Abs(DiffZ)"')
EXCEL_EPOCH_DAYS = 25569  # 1899-12-30 to 1970-01-01
STRIDE_S = 1.1
SAMPLES_PER_S = 10


class _Events:
    """activPAL events in time order on the device's local clock (seconds since 1970)."""

    def __init__(self) -> None:
        self.lines = [ACTIVPAL_HEADER]
        self.strides = 0

    def add(self, local_s: float, seconds: float, code: str) -> None:
        self.strides += code == "2"
        serial = local_s / 86400 + EXCEL_EPOCH_DAYS
        self.lines.append(f"{serial:.10f},{int(local_s * SAMPLES_PER_S) % 10**7},"
                          f"{seconds:.1f},{code},{self.strides},0,0,0,0")


def write_activpal(patient: DemoPatient, days: Sequence[DemoDay], folder: Path) -> list[Path]:
    """Events from the first waking minute to the last: each waking minute with steps is a
    stride event per two steps and standing for the rest of it; a still stretch is one
    sitting event (standing when a minute long); nights are lying; an unworn day non-wear."""
    events = _Events()
    for i, day in enumerate(days):
        t = float(day.start_utc + day.utc_offset_s)
        if not day.worn:
            events.add(t, WAKING_MIN * MINUTE, "4")
        else:
            _activpal_day(events, t, day.steps)
        end = t + WAKING_MIN * MINUTE
        following = (days[i + 1].start_utc + days[i + 1].utc_offset_s
                     if i + 1 < len(days) else end + 8 * 3600)
        events.add(end, following - end, "3.1")
    path = folder / f"{patient.id}-AP971234 {days[0].local_date:%d%b%y}Events.csv"
    path.write_text("\n".join(events.lines) + "\n")
    return [path]


def _activpal_day(events: _Events, t: float, steps: np.ndarray) -> None:
    still = 0
    for minute, value in enumerate(steps.tolist()):
        at = t + minute * MINUTE
        if value <= 0:
            still += 1
            continue
        if still:
            events.add(at - still * MINUTE, still * MINUTE, "0" if still > 1 else "1")
            still = 0
        strides = max(1, round(value / 2))
        length = min(STRIDE_S, int(MINUTE / strides * 10) / 10)  # the file's 0.1 s
        for k in range(strides):
            events.add(at + k * length, length, "2")
        stepped = strides * length
        if stepped < MINUTE - 0.05:
            events.add(at + stepped, MINUTE - stepped, "1")
    if still:
        events.add(t + (WAKING_MIN - still) * MINUTE, still * MINUTE, "0")


WRITERS: dict[str, Writer] = {"fit": write_fit, "fitbit": write_fitbit, "csv": write_csv,
                              "apple-health": write_apple_health, "activpal": write_activpal}
