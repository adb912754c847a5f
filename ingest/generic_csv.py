"""The generic rehabwatch CSV (documented in docs/csv-format.md).

Header: ``timestamp,steps`` followed by any of ``duration_s``, ``sedentary_s``, ``upright_s``,
``stepping_s``, ``worn``, ``device`` (each at most once, nothing else). Timestamps are
ISO-8601; with an offset or ``Z`` they are exact, without one they are local wall-clock time
of the patient (read like Fitbit times, see :func:`ingest.timestamps.patient_local_to_utc`).
A file uses one style throughout. ``duration_s`` (default 60) is 60, 3600 or 86400 and the
same on every row; it sets the grid resolution. Daily rows must start at local midnight and
cover the whole local day. Empty cells mean "not measured".
"""

from __future__ import annotations

from typing import BinaryIO, cast

import numpy as np
import pandas as pd

from ingest.base import ParseContext, ParseResult
from ingest.csv_table import (batches, decode, drop_cut_last_line, drop_exact_duplicates,
                              head_lines, numbers, read_table, reject_repeated_times)
from ingest.errors import CorruptFile, UnsupportedFormat
from ingest.timestamps import drop_dst_gap, local_days_to_utc, patient_local_to_utc, reject_lines
from schemas.daygrid import DAY, MINUTE, NOT_WORN, RESOLUTIONS, WEAR_UNKNOWN, WORN, Source

REQUIRED = ("timestamp", "steps")
OPTIONAL = ("duration_s", "sedentary_s", "upright_s", "stepping_s", "worn", "device")
POSTURES = ("sedentary_s", "upright_s", "stepping_s")
_WORN = {"1": WORN, "true": WORN, "yes": WORN, "0": NOT_WORN, "false": NOT_WORN,
         "no": NOT_WORN, "": WEAR_UNKNOWN}
_OFFSET = r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)\s*$"  # after a time


def is_header(fields: list[str]) -> bool:
    """True for the documented header (case-sensitive, no unknown or repeated columns)."""
    rest = fields[len(REQUIRED):]
    return (tuple(fields[:len(REQUIRED)]) == REQUIRED and set(rest) <= set(OPTIONAL)
            and len(set(rest)) == len(rest))


class GenericCsvParser:
    """The documented generic CSV (see the module docstring)."""

    name = "csv"

    def sniff(self, head: bytes, filename: str) -> int:
        lines = head_lines(head, 1)
        return 50 if lines and is_header(lines[0]) else 0

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> ParseResult:
        data = stream.read()
        filename = ctx.filename or "upload"
        lines = head_lines(data, 1)
        if not lines or not is_header(lines[0]):
            raise UnsupportedFormat(f"{filename}: the first line is not the rehabwatch CSV "
                                    "header (timestamp,steps[,duration_s,...]; see "
                                    "docs/csv-format.md)")
        result = ParseResult(self.name)
        text = decode(data, filename)
        del data  # the text alone from here (a large file is held once, not twice)
        frame = drop_exact_duplicates(drop_cut_last_line(read_table(text, filename), text,
                                                         result), result)
        del text
        if frame.empty:
            return result
        resolution = _resolution(frame, filename)
        start, duration = _intervals(frame, resolution, ctx, filename)
        measures = _measures(frame, resolution, filename)
        keep = drop_dst_gap(start, cast(np.ndarray, measures["steps"]), result)
        frame, start, duration = frame[keep], start[keep].astype(np.int64), duration[keep]
        devices = (frame["device"].str.strip().replace("", "csv") if "device" in frame
                   else pd.Series("csv", index=frame.index)).to_numpy(dtype=object)
        reject_repeated_times(pd.DataFrame({"device": devices, "start": start},
                                           index=frame.index), filename)
        result.records = len(frame)
        result.series.extend(batches(
            devices, lambda device: Source(kind="csv", device=device), resolution, start,
            duration, {k: (None if v is None else v[keep]) for k, v in measures.items()},
            owner_of=lambda _: ctx.patient_id))
        return result


def _resolution(frame: pd.DataFrame, filename: str) -> int:
    """The one duration of every row (default 60 s), which must be a grid resolution."""
    if "duration_s" not in frame:
        return MINUTE
    durations = set(numbers(frame, ["duration_s"], filename, allow_empty=True)[:, 0].tolist())
    durations = {MINUTE if np.isnan(d) else d for d in durations}
    if len(durations) > 1:
        raise CorruptFile(f"{filename}: mixes durations {sorted(durations)}; put minute, hourly "
                          "and daily rows in separate files")
    (duration,) = durations
    if duration not in RESOLUTIONS:
        raise CorruptFile(f"{filename}: duration_s {duration:g} is not one of 60, 3600, 86400")
    return int(duration)


def _intervals(frame: pd.DataFrame, resolution: int, ctx: ParseContext,
               filename: str) -> tuple[np.ndarray, np.ndarray]:
    """(start, duration) in UTC seconds; start is NaN at a naive time in a DST gap."""
    tz = ctx.tz_for(ctx.patient_id)
    start = _utc_seconds(frame["timestamp"].str.strip(), tz, filename)
    if resolution != DAY:
        return start, np.full(len(frame), resolution)
    reject_lines(pd.Series(np.isnan(start), index=frame.index), filename,
                 "a daily row at a local midnight that daylight saving skips")
    days = pd.to_datetime(start, unit="s", utc=True).tz_convert(tz).tz_localize(None)
    midnight, duration = local_days_to_utc(days.to_numpy(dtype="datetime64[D]"), tz)
    reject_lines(pd.Series(midnight != start, index=frame.index), filename,
                 f"a daily row that does not start at local midnight ({tz})")
    return start, duration


def _utc_seconds(texts: pd.Series, tz: str, filename: str) -> np.ndarray:
    """UTC epoch seconds of ISO-8601 text; naive text is the patient's local time."""
    aware = texts.str.contains(_OFFSET, regex=True)
    if aware.any() and not aware.all():
        line = aware.index[(aware != aware.iloc[0]).to_numpy()][0]
        raise CorruptFile(f"{filename}: mixes timestamps with and without a UTC offset "
                          f"(line {line})")
    stamps = pd.to_datetime(texts, format="ISO8601", utc=bool(aware.all()), errors="coerce")
    reject_lines(stamps.isna(), filename, "a timestamp that is not ISO-8601")
    if aware.all():
        return stamps.dt.as_unit("s").astype("int64").to_numpy(dtype=np.float64)
    return patient_local_to_utc(stamps.to_numpy(dtype="datetime64[s]"), tz)


def _measures(frame: pd.DataFrame, resolution: int,
              filename: str) -> dict[str, np.ndarray | None]:
    """Steps, posture seconds (at most the row's duration) and wear flags of each row."""
    limit = resolution if resolution != DAY else 90000  # a 25-hour day
    measures: dict[str, np.ndarray | None] = {
        "steps": numbers(frame, ["steps"], filename, allow_empty=True)[:, 0]}
    for name in POSTURES:
        measures[name] = (numbers(frame, [name], filename, allow_empty=True, upper=limit)[:, 0]
                          if name in frame else None)
    measures["worn"] = _worn(frame, filename) if "worn" in frame else None
    return measures


def _worn(frame: pd.DataFrame, filename: str) -> np.ndarray:
    text = frame["worn"].str.strip().str.lower()
    reject_lines(~text.isin(list(_WORN)), filename, "worn is not 1/0/true/false/yes/no/empty")
    return text.map(_WORN).to_numpy(dtype=np.int8)


PARSER = GenericCsvParser()
