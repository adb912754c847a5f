"""Google Fit (format ``google-fit``): REST datasets, and the Google Takeout ``Fit`` export.

JSON datasets, REST (``{"dataSourceId", "point": [{startTimeNanos, endTimeNanos,
value: [{intVal}]}]}``, nanoseconds as strings) or Takeout ``All Data/*.json`` (``{"Data
Source", "Data Points": [{…, fitValue: [{value: {intVal}}]}]}``, nanoseconds as numbers).
Times are nanoseconds since 1970 UTC: exact, no zone assumed.

* ``com.google.step_count.delta``: intervals with steps -> the minute grid, each interval's
  steps shared over its minutes in proportion to the overlap (phone and watch deltas last
  seconds to a few minutes). Intervals longer than an hour are not spread into minutes: they
  are skipped and counted.
* ``com.google.activity.segment``: activity-type intervals as evidence, steps unknown: still
  and in-vehicle are sedentary seconds; walking, running, on foot and hiking are stepping
  seconds; sleep and other activities (cycling, aerobics, …) are neither; "unknown" and
  "tilting" give no evidence. None of it is sensed posture: it never makes "sitting".
* Self-reported points (origin ``…:user_input``, typed into the Fit app) are skipped and
  counted: they are claims, not measurements. Points of another data type, duplicates and
  points overlapping an earlier one are skipped and counted (steps are never added twice).
* Any other data type (heart rate, height, weight, location, calories, speed, distance,
  raw cumulative step counters, …) is refused with what to upload instead; a dataset without
  points is read as an empty upload, with a note.

Takeout's ``Daily activity metrics`` CSVs are read by :mod:`ingest.google_fit_csv`. All of
it is one source, kind ``google-fit``: step deltas and activity segments of one account
overlay each other's grids, never add. Precedence: after Apple Health, before CSV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO, Iterator

import numpy as np
import pandas as pd

from ingest.base import ParseContext, ParseResult, PatientSeries
from ingest.csv_table import decode, head_lines
from ingest.errors import CorruptFile, UnsupportedFormat
from ingest.google_fit_csv import SOURCE, csv_kind, read_takeout_csv
from ingest.json_doc import has_keys, json_items, scan_document
from schemas.binning import IntervalBatch
from schemas.daygrid import HOUR, MINUTE

STEPS, SEGMENTS = "com.google.step_count.delta", "com.google.activity.segment"
NS_PER_S = 1_000_000_000
#: Google Fit activity types (developers.google.com/fit/rest/v1/reference/activity-types).
SEDENTARY_TYPES = frozenset({0, 3})  # in vehicle, still
STEPPING_TYPES = frozenset({2, 7, 8, 35, 56, 57, 58, 93, 94, 95})  # on foot, walking, running…
NO_EVIDENCE_TYPES = frozenset({4, 5})  # unknown, tilting
SELF_REPORTED = ":user_input"
INSTEAD = ("upload the step count deltas instead (com.google.step_count.delta: Takeout "
           "'All Data/derived_com.google.step_count.delta_….json' or that REST dataset), the "
           "activity segments, or Takeout's Daily activity metrics CSVs")
_WANTED = frozenset({"dataSourceId", "Data Source", "point", "Data Points"})
#: Points converted at a time (memory stays bounded whatever the file holds).
CHUNK = 10_000
_REFUSED = {"com.google.step_count.cumulative": "a raw cumulative step counter",
            "com.google.heart_rate.bpm": "heart rate", "com.google.height": "height",
            "com.google.weight": "weight", "com.google.location.sample": "location",
            "com.google.calories.expended": "calories", "com.google.calories.bmr": "calories",
            "com.google.speed": "speed", "com.google.distance.delta": "distance"}


@dataclass(frozen=True)
class Points:
    """A dataset's points: times in UTC seconds, first integer value (None if absent)."""

    start: np.ndarray
    end: np.ndarray
    value: np.ndarray  # NaN where a point has none
    kept: np.ndarray  # points not skipped so far


class GoogleFitParser:
    """Google Fit datasets and Takeout CSVs (see the module docstring)."""

    name = "google-fit"

    def sniff(self, head: bytes, filename: str) -> int:
        json_head = (has_keys(head, "dataSourceId") or has_keys(head, "Data Source")) and (
            b"com.google." in head)
        return 80 if json_head or csv_kind(head_lines(head, 1)) else 0

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> ParseResult:
        data = stream.read()
        filename = ctx.filename or "upload"
        result = ParseResult(self.name)
        kind = csv_kind(head_lines(data, 1))
        if kind:
            read_takeout_csv(decode(data, filename), kind, filename, ctx, result)
            return result
        data_type, points = _dataset(data, filename)
        if data_type not in (STEPS, SEGMENTS):
            what = _REFUSED.get(data_type, f"'{data_type}'" if data_type else "unnamed")
            raise UnsupportedFormat(f"{filename}: a Google Fit {what} dataset carries no step "
                                    f"or activity data rehabwatch uses; {INSTEAD}")
        checked = _points(json_items(data, f"{points}.item", CHUNK) if points else iter([]),
                          data_type, filename, result)
        result.records = len(checked.start)
        if not result.records:
            result.notes.append("the dataset holds no data points")
            return result
        batch = (_step_batch if data_type == STEPS else _segment_batch)(checked)
        if len(batch):
            result.series.append(PatientSeries(ctx.patient_id, batch))
        return result


def _dataset(data: bytes, filename: str) -> tuple[str, str | None]:
    """(data type, the key of the point list or None if absent) of a REST or Takeout
    dataset, the whole document checked without building it."""
    top, seen = scan_document(data, filename, "Google Fit", _WANTED)
    if top != "start_map":
        raise UnsupportedFormat(f"{filename}: not a Google Fit dataset (no object at its top)")
    source = seen.get("dataSourceId", seen.get("Data Source", ("", None)))[1]
    points = "point" if "point" in seen else "Data Points" if "Data Points" in seen else None
    if not isinstance(source, str) or (points and seen[points][0] != "start_array"):
        raise UnsupportedFormat(f"{filename}: not a Google Fit dataset (no dataSourceId / "
                                "Data Source and point list)")
    parts = source.split(":")
    return (parts[1] if len(parts) > 1 else ""), points


def _points(chunks: Iterator[list[Any]], kind: str, filename: str,
            result: ParseResult) -> Points:
    """Times and values of every point (streamed a chunk at a time, values as floats with
    NaN for none); odd points marked as not kept and counted."""
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    values: list[np.ndarray] = []
    keeps: list[np.ndarray] = []
    offset = 0
    for points in chunks:
        start, end = np.zeros(len(points)), np.zeros(len(points))
        value, kept = np.full(len(points), np.nan), np.ones(len(points), dtype=bool)
        for i, point in enumerate(points):
            if not isinstance(point, dict):
                raise CorruptFile(f"{filename}: point {offset + i + 1} is not an object")
            start[i], end[i] = (_seconds(point.get(k), filename, offset + i) for k in
                                ("startTimeNanos", "endTimeNanos"))
            number = _int_value(point, filename, offset + i)
            reason = _skip_reason(point, kind, start[i], end[i], number)
            if number is not None:
                value[i] = number
            if reason:
                result.skip(reason)
                kept[i] = False
        offset += len(points)
        for parts, part in ((starts, start), (ends, end), (values, value), (keeps, kept)):
            parts.append(part)
    start, end, value, kept = (np.concatenate(parts) if parts else np.zeros(0) for parts in
                               (starts, ends, values, keeps))
    kept = kept.astype(bool)
    return Points(start, end, value, kept & _not_overlapping(start, end, value, kept, result))


def _seconds(nanos: Any, filename: str, index: int) -> float:
    """UTC epoch seconds of a nanosecond count given as a number or as digits."""
    if isinstance(nanos, bool) or not isinstance(nanos, (int, str)) or not str(nanos).isdigit():
        raise CorruptFile(f"{filename}: point {index + 1} has a time that is not a whole number "
                          f"of nanoseconds ({nanos!r})")
    whole, rest = divmod(int(nanos), NS_PER_S)
    return whole + rest / NS_PER_S


def _int_value(point: dict[str, Any], filename: str, index: int) -> int | None:
    """The first ``intVal`` of a point (REST ``value`` or Takeout ``fitValue``)."""
    values = point.get("value") or [v.get("value") for v in point.get("fitValue") or []
                                    if isinstance(v, dict)]
    first = values[0] if isinstance(values, list) and values else None
    number = first.get("intVal") if isinstance(first, dict) else None
    if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
        raise CorruptFile(f"{filename}: point {index + 1} has a value that is not a whole "
                          f"number ({number!r})")
    return number


def _skip_reason(point: dict[str, Any], kind: str, start: float, end: float,
                 value: int | None) -> str | None:
    """Why a well-formed point is not used, if it is not."""
    if point.get("dataTypeName", kind) != kind:
        return "point of another data type"
    if SELF_REPORTED in str(point.get("originDataSourceId", "")):
        return "self-reported point (user input), not a measurement"
    if value is None or value < 0:
        return "point without a non-negative integer value"
    if end < start:
        return "point ending before it starts"
    if kind == STEPS and end - start > HOUR:
        return "step count over more than an hour (not spread into minutes)"
    return None


def _not_overlapping(start: np.ndarray, end: np.ndarray, value: np.ndarray, kept: np.ndarray,
                     result: ParseResult) -> np.ndarray:
    """Mask of kept points that repeat or overlap no earlier kept point (counted)."""
    frame = pd.DataFrame({"start": start, "end": end, "value": value})
    frame = frame[kept].sort_values(["start", "end"], kind="stable")
    duplicate = frame.duplicated()
    reach = frame["end"].where(~duplicate).cummax().ffill().shift()  # latest end so far
    overlap = ~duplicate & (frame["start"] < reach)
    for reason, mask in (("duplicate point", duplicate),
                         ("point overlapping an earlier one (never added twice)", overlap)):
        if mask.any():
            result.skip(reason, int(mask.sum()))
    out = np.zeros(len(start), dtype=bool)
    out[frame.index[~(duplicate | overlap)]] = True
    return out


def _step_batch(points: Points) -> IntervalBatch:
    rows = np.flatnonzero(points.kept)
    return IntervalBatch(SOURCE, MINUTE, points.start[rows], points.end[rows] - points.start[rows],
                         steps=points.value[rows])


def _segment_batch(points: Points) -> IntervalBatch:
    rows = np.flatnonzero(points.kept)
    types = points.value[rows].astype(np.int64)
    seconds = points.end[rows] - points.start[rows]
    unknown = np.isin(types, list(NO_EVIDENCE_TYPES))

    def share(kinds: frozenset[int]) -> np.ndarray:
        return np.where(unknown, np.nan, np.where(np.isin(types, list(kinds)), seconds, 0.0))

    return IntervalBatch(SOURCE, MINUTE, points.start[rows], seconds,
                         steps=np.full(len(rows), np.nan), sedentary_s=share(SEDENTARY_TYPES),
                         stepping_s=share(STEPPING_TYPES))


PARSER = GoogleFitParser()
