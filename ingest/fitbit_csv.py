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

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from ingest.base import ParseContext, ParseResult, PatientSeries
from ingest.csv_table import (batches, decode, drop_cut_last_line, drop_exact_duplicates,
                              head_lines, numbers, read_table, reject_repeated_times)
from ingest.errors import UnknownSubject, UnsupportedFormat
from ingest.timestamps import (drop_dst_gap, local_days_to_utc, parse_local_stamps,
                               patient_local_to_utc, reject_lines)
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
        data = stream.read()
        filename = ctx.filename or "upload"
        found = _header(head_lines(data))
        if found is None:
            raise UnsupportedFormat(f"{filename}: no Fitabase table header on its first lines")
        header_line, table = found
        if isinstance(table, str):
            raise UnsupportedFormat(f"{filename}: a Fitabase {table} table carries no activity "
                                    "data rehabwatch uses; upload minute, hourly or daily steps, "
                                    "minute intensities, wear time or sync events instead")
        result = ParseResult(self.name)
        text = decode(data, filename)
        del data  # the text alone from here (a large file is held once, not twice)
        frame = drop_exact_duplicates(drop_cut_last_line(
            read_table(text, filename, header_line), text, result), result)
        del text
        _parse_table(table, frame, ctx, filename, result)
        return result


def _parse_table(table: Table, frame: pd.DataFrame, ctx: ParseContext, filename: str,
                 result: ParseResult) -> None:
    """Fill ``result`` from the checked rows of ``table``."""
    stamps = parse_local_stamps(frame[table.time_column], filename, ctx.date_order)
    if table.measure == "sync":
        _sync_events(frame, stamps, ctx, filename, result)
        return
    values = numbers(frame, list(table.values), filename, upper=table.upper)
    owners = _owners(frame, ctx, filename, result)
    keep = owners != ""
    result.records += int(keep.sum())
    if table.measure == "wear_minutes":  # export ranges pad unworn days with zeros: no data
        keep &= values[:, 0] > 0
    start, duration, keep_rows = _localize(table, stamps[keep], owners[keep], values[keep], ctx,
                                           result)
    owners, values = owners[keep][keep_rows], values[keep][keep_rows]
    reject_repeated_times(pd.DataFrame({"owner": owners, "start": start},
                                       index=frame.index[keep][keep_rows]), filename)
    result.series.extend(_series(table, owners, start, duration, values))
    if table.measure == "wear_minutes":
        _wear_minutes(owners, stamps[keep][keep_rows], values[:, 0], result)


def _wear_minutes(owners: np.ndarray, days: np.ndarray, minutes: np.ndarray,
                  result: ParseResult) -> None:
    """Keep each day's heart-rate wear minutes for the daily grid (``DayGrid.extra``)."""
    for owner, day, value in zip(owners, days, minutes):
        key = (str(owner), SOURCE.key, pd.Timestamp(day).date())
        result.day_extra[key] = {WEAR_MINUTES_HR: f"{float(value):g}"}


def _owners(frame: pd.DataFrame, ctx: ParseContext, filename: str,
            result: ParseResult) -> np.ndarray:
    """Patient id of each row ("" for rows of subjects the id map does not name)."""
    if "Id" not in frame.columns:
        subject = Path(filename).name.split("_")[0]
        return np.full(len(frame), ctx.id_map.get(subject, ctx.patient_id), dtype=object)
    ids = frame["Id"].str.strip()
    reject_lines(ids == "", filename, "an empty Id")
    codes, found_ids = pd.factorize(ids.to_numpy(dtype=object))
    owners = np.array([ctx.id_map.get(i, "") for i in found_ids], dtype=object)[codes]
    if not owners.any():
        found = sorted(found_ids)
        if len(found) == 1 and not ctx.id_map:
            return np.full(len(frame), ctx.patient_id, dtype=object)
        raise UnknownSubject(f"{filename}: none of the subject Ids in this file is mapped to a "
                             f"patient (found {len(found)}: {', '.join(found[:20])}"
                             f"{' ...' if len(found) > 20 else ''}); give an Id-to-patient map")
    if (owners == "").any():
        result.skip("subject Id not mapped to a patient", int((owners == "").sum()))
    return owners


def _localize(table: Table, stamps: np.ndarray, owners: np.ndarray, values: np.ndarray,
              ctx: ParseContext, result: ParseResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, duration) in UTC seconds of each row kept, and the mask of rows kept."""
    start = np.empty(len(stamps))
    duration = np.full(len(stamps), table.resolution_s)
    for owner in pd.unique(owners):
        rows = owners == owner
        if table.resolution_s == DAY:
            start[rows], duration[rows] = local_days_to_utc(stamps[rows], ctx.tz_for(owner))
        else:
            start[rows] = patient_local_to_utc(stamps[rows], ctx.tz_for(owner))
    steps = values.sum(axis=1) if table.measure == "steps" else np.zeros(len(values))
    keep = drop_dst_gap(start, steps, result)
    return start[keep].astype(np.int64), duration[keep].astype(np.int64), keep


def _series(table: Table, owners: np.ndarray, start: np.ndarray, duration: np.ndarray,
            values: np.ndarray) -> list[PatientSeries]:
    """Patient series of ``table``; wide rows are split into their 60 minutes."""
    if table.wide:
        start = (start[:, None] + np.arange(60) * MINUTE).ravel()
        owners, values = np.repeat(owners, 60), values.reshape(-1, 1)
        duration = np.full(len(start), MINUTE)
    measures = _measures(table, values)
    return list(batches(owners, lambda _: SOURCE, table.resolution_s, start, duration,
                        measures, owner_of=str))


def _measures(table: Table, values: np.ndarray) -> dict[str, np.ndarray | None]:
    """Grid measures of the first value column (or the SedentaryMinutes column)."""
    nan = np.full(len(values), np.nan)
    first = values[:, 0]
    if table.measure == "steps":
        sedentary = (values[:, table.values.index("SedentaryMinutes")] * MINUTE
                     if "SedentaryMinutes" in table.values else None)
        return {"steps": first, "sedentary_s": sedentary}
    if table.measure == "intensity":
        return {"steps": nan, "sedentary_s": np.where(first == 0, MINUTE, 0.0)}
    if table.measure == "sedentary_minutes":
        return {"steps": nan, "sedentary_s": first * MINUTE}
    return {"steps": nan, "worn": np.where(first > 0, WORN, NOT_WORN).astype(np.int8)}


def _sync_events(frame: pd.DataFrame, stamps: np.ndarray, ctx: ParseContext, filename: str,
                 result: ParseResult) -> None:
    """Sync times of each row's patient; SyncDateUTC is UTC, unlike every other time."""
    owners = _owners(frame, ctx, filename, result)
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
