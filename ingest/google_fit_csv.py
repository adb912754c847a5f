"""Google Takeout's ``Fit/Daily activity metrics`` CSVs (English column names).

* ``Daily activity metrics.csv``: one row per day, ``Date`` (YYYY-MM-DD) and ``Step count``
  -> a daily grid of the patient's local days.
* ``YYYY-MM-DD.csv``: 96 rows of 15 minutes whose ``Start time`` / ``End time`` carry only a
  time of day with its UTC offset (``17:30:00.000+05:30``): the date is the file's name, as
  Takeout writes it, so a renamed file is refused. The offset makes each time exact. Rows make
  an *hourly* grid (never spread into minutes).

An empty ``Step count`` is "no steps recorded", kept as missing, never zero; other columns
(calories, distance, heart points, move minutes, location box, speed, weight, walking time)
are not used. A last line cut short makes the upload partial.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ingest.base import ParseContext, ParseResult, PatientSeries
from ingest.csv_table import drop_cut_last_line, numbers, read_table
from ingest.errors import CorruptFile
from ingest.timestamps import local_days_to_utc, reject_lines
from schemas.binning import IntervalBatch
from schemas.daygrid import DAY, HOUR, Source

SOURCE = Source(kind="google-fit", device="google-fit")
STEP_COUNT = "Step count"
_TIME = r"^(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:([+-])(\d{2}):?(\d{2})|Z)$"
_DAY_IN_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})")


def csv_kind(lines: list[list[str]]) -> str | None:
    """"days" (the summary file), "quarters" (a day's file) or None, from the header."""
    fields = lines[0] if lines else []
    if STEP_COUNT not in fields:
        return None
    if fields[:2] == ["Date", "Move Minutes count"]:
        return "days"
    if fields[:3] == ["Start time", "End time", "Move Minutes count"]:
        return "quarters"
    return None


def read_takeout_csv(text: str, kind: str, filename: str, ctx: ParseContext,
                     result: ParseResult) -> None:
    """Fill ``result`` from one Daily activity metrics CSV of ``kind`` (:func:`csv_kind`)."""
    frame = drop_cut_last_line(read_table(text, filename), text, result)
    result.records = len(frame)
    steps = numbers(frame, [STEP_COUNT], filename, allow_empty=True)[:, 0]
    if kind == "days":
        days = pd.to_datetime(frame["Date"].str.strip(), format="%Y-%m-%d", errors="coerce")
        reject_lines(days.isna(), filename, "a Date that is not YYYY-MM-DD")
        start, duration = local_days_to_utc(days.to_numpy(dtype="datetime64[D]"),
                                            ctx.tz_for(ctx.patient_id))
        resolution = DAY
    else:
        start, duration = _quarters(frame, _day_of(filename), filename)
        resolution = HOUR
    reject_lines(pd.Series(start, index=frame.index).duplicated(keep=False), filename,
                 "two rows for the same time")
    if len(frame):
        result.series.append(PatientSeries(ctx.patient_id, IntervalBatch(
            SOURCE, resolution, start, duration, steps=steps)))


def _day_of(filename: str) -> date:
    """The date a Takeout day file is named after."""
    found = _DAY_IN_NAME.match(Path(filename).name)
    try:
        if found:
            return date.fromisoformat(found.group(1))
    except ValueError:
        pass
    raise CorruptFile(f"{filename}: the rows of a Takeout day file give only times of day; "
                      "the date comes from the file's name (YYYY-MM-DD.csv, as Takeout names "
                      "it), and this name does not start with a valid one")


def _quarters(frame: pd.DataFrame, day: date, filename: str) -> tuple[np.ndarray, np.ndarray]:
    """(start, duration) in UTC seconds of rows timed by time of day + offset on ``day``."""
    midnight = (pd.Timestamp(day) - pd.Timestamp(0)).total_seconds()
    start = midnight + _seconds_of_day(frame["Start time"], filename)
    end = midnight + _seconds_of_day(frame["End time"], filename)
    end = np.where(end <= start, end + 86400, end)  # the last row ends at 00:00 of the next day
    duration = end - start
    reject_lines(pd.Series((duration <= 0) | (duration > HOUR), index=frame.index), filename,
                 "a row that does not end within an hour of its start")
    return start.astype(np.int64), duration.astype(np.int64)


def _seconds_of_day(texts: pd.Series, filename: str) -> np.ndarray:
    """Seconds after local midnight, made UTC by the row's own offset."""
    parts = texts.str.strip().str.extract(_TIME)
    reject_lines(parts[0].isna(), filename, "a time that is not hh:mm:ss.fff+hh:mm")
    clock = parts[0].astype(int) * 3600 + parts[1].astype(int) * 60 + parts[2].astype(int)
    offset = (parts[4].fillna("0").astype(int) * 3600 + parts[5].fillna("0").astype(int) * 60)
    sign = np.where(parts[3] == "-", -1, 1)
    return (clock - sign * offset).to_numpy(dtype=np.float64)
