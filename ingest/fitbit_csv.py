"""Fitbit data exported by Fitabase: merged multi-subject CSVs and per-subject CSVs.

Tables are recognised by their header. Merged files start with an ``Id`` column (mapped to
patients by ``ParseContext.id_map``); per-subject files have none, their subject is the file
name prefix (``<subject>_<table>_<start>_<end>.csv``).

Subject rule: rows of an ``Id`` that the map does not name are skipped and counted; when no
``Id`` of the file is mapped the upload is refused (UnknownSubject), except that a file holding
a single ``Id`` uploaded without an id map belongs to the uploading patient. A per-subject file
belongs to ``id_map[prefix]`` when the map names the prefix, else to the uploading patient.

What each table becomes (all times are the tracker's local wall clock, see
:func:`ingest.timestamps.patient_local_to_utc`):

* minute steps, narrow or wide -> 60 s intervals with steps;
* minute intensities, narrow or wide -> 60 s intervals, steps NaN, ``sedentary_s`` 60 for
  intensity 0 (Fitbit "sedentary") and 0 for 1-3 (light to very active). Upright and stepping
  seconds stay unknown: Fitbit senses no posture, and "light" minutes include arm movement
  while seated. Non-worn minutes are also intensity 0, so wear must come from elsewhere;
* hourly steps -> 3600 s intervals (never spread into minutes);
* daily steps, daily activity, daily intensities -> whole local days, with steps and/or
  ``sedentary_s`` = SedentaryMinutes x 60 (Fitbit leaves sleep out of sedentary minutes);
* ``fitbitWearTimeViaHR`` -> whole local days, steps NaN, ``worn`` 1 when heart rate was seen
  on any minute of the day, 0 when on none. The minute count itself has no place in a grid
  slot; days before the tracker was issued are all zeros and so read "not worn";
* ``syncEvents`` -> ``ParseResult.sync_times`` (SyncDateUTC is UTC); device names in notes.

Calories, METs, hourly intensities, sleep, weight and heart-rate tables are recognised and
refused: they carry no activity data we use. Exact duplicate rows are dropped and counted;
two different rows for the same subject and time reject the file, as does any bad row (a file
is stored whole or not at all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np
import pandas as pd

from ingest.base import ParseContext, ParseResult, PatientSeries
from ingest.csv_table import (batches, compact, concatenate, drop_cut_last_line,
                              drop_exact_duplicates, head_lines, numbers, read_chunks,
                              reject_repeated_times, repeats, tail_text)
from ingest.errors import UnknownSubject, UnsupportedFormat
from ingest.timestamps import (LocalClock, date_order_of, drop_dst_gap, local_days_to_utc,
                               parse_local_stamps, reject_lines)
from schemas.binning import IntervalBatch
from schemas.daygrid import DAY, HOUR, MINUTE, NOT_WORN, WEAR_MINUTES_HR, WORN, Source

SOURCE = Source(kind="fitbit", device="fitbit")
SNIFF_SCORE = 80


@dataclass(frozen=True)
class Table:
    """One Fitabase table: its time column, value columns and what the values measure."""

    name: str
    time_column: str
    values: tuple[str, ...]
    resolution_s: int
    measure: str  # "steps", "intensity", "sedentary_minutes", "wear_minutes" or "sync"
    other: tuple[str, ...] = ()  # columns we read no value from
    upper: float = np.inf  # largest valid value
    wide: bool = False  # one row per hour, one value column per minute


def _wide(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{m:02d}" for m in range(60))


_DAILY_ACTIVITY = ("TotalSteps", "TotalDistance", "TrackerDistance", "LoggedActivitiesDistance",
                   "VeryActiveDistance", "ModeratelyActiveDistance", "LightActiveDistance",
                   "SedentaryActiveDistance", "VeryActiveMinutes", "FairlyActiveMinutes",
                   "LightlyActiveMinutes", "SedentaryMinutes", "Calories")
_DAILY_INTENSITIES = ("SedentaryMinutes", "LightlyActiveMinutes", "FairlyActiveMinutes",
                      "VeryActiveMinutes", "SedentaryActiveDistance", "LightActiveDistance",
                      "ModeratelyActiveDistance", "VeryActiveDistance")
TABLES = (
    Table("minute steps", "ActivityMinute", ("Steps",), MINUTE, "steps"),
    Table("minute steps (wide)", "ActivityHour", _wide("Steps"), MINUTE, "steps", wide=True),
    Table("minute intensities", "ActivityMinute", ("Intensity",), MINUTE, "intensity",
          upper=3),
    Table("minute intensities (wide)", "ActivityHour", _wide("Intensity"), MINUTE, "intensity",
          upper=3, wide=True),
    Table("hourly steps", "ActivityHour", ("StepTotal",), HOUR, "steps"),
    Table("daily steps", "ActivityDay", ("StepTotal",), DAY, "steps"),
    Table("daily activity", "ActivityDate", _DAILY_ACTIVITY, DAY, "steps"),
    Table("daily intensities", "ActivityDay", _DAILY_INTENSITIES, DAY, "sedentary_minutes"),
    Table("wear time via heart rate", "Day", ("TotalMinutesWearTime",), DAY, "wear_minutes",
          other=("PercentageWearTime",), upper=1500),
    Table("sync events", "SyncDateUTC", (), 0, "sync",
          other=("DateTime", "Provider", "DeviceName")),
)
#: Recognised tables we refuse, keyed by their columns (without Id), with what they hold.
UNUSED = {
    frozenset(cols): what for cols, what in [
        (("ActivityDay", "Calories"), "daily calories"),
        (("ActivityHour", "Calories"), "hourly calories"),
        (("ActivityMinute", "Calories"), "minute calories"),
        (("ActivityHour", *_wide("Calories")), "minute calories"),
        (("ActivityMinute", "METs"), "minute METs"),
        (("ActivityHour", "TotalIntensity", "AverageIntensity"), "hourly intensity scores"),
        (("SleepDay", "TotalSleepRecords", "TotalMinutesAsleep", "TotalTimeInBed"), "sleep"),
        (("date", "value", "logId"), "minute sleep"),
        (("Date", "WeightKg", "WeightPounds", "Fat", "BMI", "IsManualReport", "LogId"), "weight"),
        (("Time", "Value"), "heart rate"),
    ]
}
_BY_COLUMNS = {frozenset((t.time_column, *t.values, *t.other)): t for t in TABLES}


def identify(fields: list[str]) -> Table | str | None:
    """The table a header names, a description of a refused table, or None."""
    columns = frozenset(fields[1:] if fields[:1] == ["Id"] else fields)
    if len(columns) != len(fields) - (fields[:1] == ["Id"]):
        return None
    return _BY_COLUMNS.get(columns) or UNUSED.get(columns)


def _header(lines: list[list[str]]) -> tuple[int, Table | str] | None:
    """(1-based line, table) of the header; one title line above it (a common re-save) is
    allowed."""
    for number, fields in enumerate(lines[:2], start=1):
        found = identify(fields)
        if found is not None:
            return number, found
        if len(fields) > 1:
            return None
    return None


class FitbitCsvParser:
    """Fitabase CSV tables (see the module docstring)."""

    name = "fitbit"

    def sniff(self, head: bytes, filename: str) -> int:
        return SNIFF_SCORE if _header(head_lines(head)) else 0

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> ParseResult:
        """Read in chunks of rows (:func:`read_chunks`), after one pass over the time column
        alone for the file's date order; each chunk is reduced to number arrays at once."""
        filename = ctx.filename or "upload"
        found = _header(head_lines(stream.read(4096)))
        stream.seek(0)
        if found is None:
            raise UnsupportedFormat(f"{filename}: no Fitabase table header on its first lines")
        header_line, table = found
        if isinstance(table, str):
            raise UnsupportedFormat(f"{filename}: a Fitabase {table} table carries no activity "
                                    "data rehabwatch uses; upload minute, hourly or daily steps, "
                                    "minute intensities, wear time or sync events instead")
        result = ParseResult(self.name)
        dates: set[str] = set()
        for frame, _ in read_chunks(stream, filename, header_line, [table.time_column]):
            dates.update(frame[table.time_column].str.extract(r"^\s*([^\sT]+)", expand=False)
                         .dropna().unique())
        reading = _Reading(table, ctx, filename, date_order_of(sorted(dates), filename,
                                                               ctx.date_order))
        tail = tail_text(stream)
        for frame, last in read_chunks(stream, filename, header_line):
            frame = drop_cut_last_line(frame, tail, result) if last else frame
            reading.add(drop_exact_duplicates(frame, result), result)
        reading.finish(result)
        return result


@dataclass
class _Reading:
    """Rows of one table read so far, as arrays (owners as codes of ``owner_names``)."""

    table: Table
    ctx: ParseContext
    filename: str
    date_order: str | None
    starts: list[np.ndarray] = field(default_factory=list)
    durations: list[np.ndarray] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)
    owners: list[np.ndarray] = field(default_factory=list)
    owner_names: dict[str, int] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)
    unmapped: int = 0
    clock: LocalClock = field(default_factory=LocalClock)

    def add(self, frame: pd.DataFrame, result: ParseResult) -> None:
        if frame.empty:
            return
        table = self.table
        stamps = parse_local_stamps(frame[table.time_column], self.filename, self.date_order)
        if table.measure == "sync":
            _sync_events(frame, stamps, self._owners(frame), result)
            return
        values = numbers(frame, list(table.values), self.filename, upper=table.upper)
        owners = self._owners(frame)
        keep = owners != ""
        self.unmapped += int((~keep).sum())
        result.records += int(keep.sum())
        if table.measure == "wear_minutes":  # export ranges pad unworn days with zeros: no data
            keep &= values[:, 0] > 0
        stamps, owners, values = stamps[keep], owners[keep], values[keep]
        start = np.empty(len(stamps))
        duration = np.full(len(stamps), table.resolution_s, dtype=np.int32)
        for owner in pd.unique(owners):
            rows = owners == owner
            if table.resolution_s == DAY:
                start[rows], duration[rows] = local_days_to_utc(stamps[rows],
                                                                self.ctx.tz_for(owner))
            else:
                start[rows] = self.clock.to_utc(stamps[rows], self.ctx.tz_for(owner))
        timed = ~np.isnan(start)  # rows in a DST gap are dropped (and counted) by finish
        reject_repeated_times(pd.DataFrame({"owner": owners[timed], "start": start[timed]},
                                           index=frame.index[keep][timed]), self.filename)
        if table.measure == "wear_minutes":
            _wear_minutes(owners, stamps, values[:, 0], result)
        codes = np.array([self.owner_names.setdefault(o, len(self.owner_names))
                          for o in owners], dtype=np.int32)
        self.starts.append(start)
        self.durations.append(duration)
        self.values.append(values)
        self.owners.append(codes)

    def _owners(self, frame: pd.DataFrame) -> np.ndarray:
        """Patient id of each row ("" for rows of subjects the id map does not name); a file
        without an id map belongs to the uploader (checked to hold one Id by finish)."""
        ctx = self.ctx
        if "Id" not in frame.columns:
            subject = Path(self.filename).name.split("_")[0]
            return np.full(len(frame), ctx.id_map.get(subject, ctx.patient_id), dtype=object)
        ids = frame["Id"].str.strip()
        reject_lines(ids == "", self.filename, "an empty Id")
        codes, found_ids = pd.factorize(ids.to_numpy(dtype=object))
        self.ids.update(found_ids)
        owners = [ctx.id_map.get(i, "") if ctx.id_map else ctx.patient_id for i in found_ids]
        return np.array(owners, dtype=object)[codes]

    def finish(self, result: ParseResult) -> None:
        """The subject rule over the whole file, then the rows as series: DST-gap rows and
        repeats left out and counted, two different rows for one time rejected."""
        self.check_subjects()
        if self.unmapped:
            result.skip("subject Id not mapped to a patient", self.unmapped)
        if not self.starts:
            return
        start, duration = concatenate(self.starts), concatenate(self.durations)
        values, owners = concatenate(self.values), concatenate(self.owners)
        steps = (values.sum(axis=1) if self.table.measure == "steps"
                 else np.zeros(values.shape[0]))
        keep = drop_dst_gap(start, steps, result)
        del steps
        columns = {str(i): values[:, i] for i in range(values.shape[1])}
        keep &= ~repeats(start, duration, cast(dict[str, np.ndarray | None], columns), owners,
                         self.filename, result)
        if not keep.all():
            start, duration, owners = (compact(start, keep), compact(duration, keep),
                                       compact(owners, keep))
            values = values[keep]
        result.series.extend(_series(self.table, owners, list(self.owner_names), start,
                                     duration, values))

    def check_subjects(self) -> None:
        """UnknownSubject when no Id of the file is mapped (one Id without a map is the
        uploader's)."""
        mapped = any(i in self.ctx.id_map for i in self.ids)
        if not self.ids or mapped or (len(self.ids) == 1 and not self.ctx.id_map):
            return
        found = sorted(self.ids)
        raise UnknownSubject(f"{self.filename}: none of the subject Ids in this file is mapped "
                             f"to a patient (found {len(found)}: {', '.join(found[:20])}"
                             f"{' ...' if len(found) > 20 else ''}); give an Id-to-patient map")


def _wear_minutes(owners: np.ndarray, days: np.ndarray, minutes: np.ndarray,
                  result: ParseResult) -> None:
    """Keep each day's heart-rate wear minutes for the daily grid (``DayGrid.extra``)."""
    for owner, day, value in zip(owners, days, minutes):
        key = (str(owner), SOURCE.key, pd.Timestamp(day).date())
        result.day_extra[key] = {WEAR_MINUTES_HR: f"{float(value):g}"}


def _series(table: Table, owners: np.ndarray, names: list[str], start: np.ndarray,
            duration: np.ndarray, values: np.ndarray) -> list[PatientSeries]:
    """Patient series of ``table`` (``owners``: codes of ``names``); wide rows are split into
    their 60 minutes. One patient's rows stay as they are (no sorted copy)."""
    if table.wide:
        start = (start[:, None] + np.arange(60) * MINUTE).ravel()
        owners, values = np.repeat(owners, 60), values.reshape(-1, 1)
        duration = np.full(len(start), MINUTE)
    measures = _measures(table, values)
    if len(names) == 1:
        return [PatientSeries(names[0], IntervalBatch(SOURCE, table.resolution_s, start,
                                                      duration, **cast(dict[str, Any], measures)))]
    return list(batches(owners, lambda _: SOURCE, table.resolution_s, start, duration,
                        measures, owner_of=lambda code: names[int(code)]))


def _measures(table: Table, values: np.ndarray) -> dict[str, np.ndarray | None]:
    """Grid measures of the first value column (or the SedentaryMinutes column)."""
    first = values[:, 0]
    if table.measure == "steps":
        sedentary = (values[:, table.values.index("SedentaryMinutes")] * MINUTE
                     if "SedentaryMinutes" in table.values else None)
        return {"steps": first, "sedentary_s": sedentary}
    nan = np.full(len(values), np.nan)
    if table.measure == "intensity":
        return {"steps": nan, "sedentary_s": np.where(first == 0, MINUTE, 0.0)}
    if table.measure == "sedentary_minutes":
        return {"steps": nan, "sedentary_s": first * MINUTE}
    return {"steps": nan, "worn": np.where(first > 0, WORN, NOT_WORN).astype(np.int8)}


def _sync_events(frame: pd.DataFrame, stamps: np.ndarray, owners: np.ndarray,
                 result: ParseResult) -> None:
    """Sync times of each row's patient; SyncDateUTC is UTC, unlike every other time."""
    keep = owners != ""
    result.records += int(keep.sum())
    result.sync_times.extend(
        (owner, _naive_utc(stamp)) for owner, stamp in zip(owners[keep], stamps[keep]))
    devices = sorted(set(frame["DeviceName"].str.strip()) - {""})
    if devices:
        result.notes.append(f"devices: {', '.join(devices)}")


def _naive_utc(stamp: np.datetime64) -> datetime:
    """An aware datetime from a zone-less time KNOWN to be UTC (Fitabase's SyncDateUTC)."""
    return pd.Timestamp(stamp).to_pydatetime().replace(tzinfo=timezone.utc)


PARSER = FitbitCsvParser()
