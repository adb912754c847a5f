"""Garmin Connect JSON responses (format ``garmin-connect``), as saved by API clients such as
python-garminconnect or garth.

* **Daily summary chart** (``wellness-service/wellness/dailySummaryChart``): a list of
  15-minute buckets ``{startGMT, endGMT, steps, primaryActivityLevel, …}``. ``startGMT`` has
  no zone but is GMT, as its name says: exact UTC, no patient zone assumed. Buckets make an
  *hourly* grid (15 minutes are never spread into minutes). The bucket's primary activity
  level is evidence: ``active``/``highlyActive``/``sleeping`` mean worn (movement, or sleep
  tracked on the wrist) and not sedentary; ``sedentary`` counts the bucket as sedentary
  seconds (approximate: the level that dominated it) with wear unknown (a watch lying still
  reads sedentary too); ``none`` (Garmin had no data) leaves a bucket without steps missing.
* **User daily summary** (``usersummary-service/usersummary/daily``): one day's
  ``totalSteps`` and ``sedentarySeconds`` -> a daily grid. Its ``wellnessStartTimeGmt`` /
  ``…Local`` pair gives Garmin's UTC offset for the day; a day on which it differs from the
  patient's zone is noted (the patient's zone decides).
* **Daily step statistics** (``usersummary-service/stats/steps/daily``): a list of
  ``{calendarDate, totalSteps, …}`` -> daily grids.

Calendar dates are the patient's local days. Source kind ``garmin-connect``: the same
watch's data as summarized by Garmin's servers, with no device or serial, so a kind of its
own ranked right after the FIT kinds (``processors.merge.DEFAULT_PRECEDENCE``); it never
competes with FIT data of the same day at the same resolution (FIT gives minutes, Connect
15-minute buckets or days, and the finest resolution wins). Heart rate and other Connect
payloads are refused with what to upload instead; items without steps are skipped and
counted; non-numeric steps reject the file.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, BinaryIO, Iterator

import numpy as np
import pandas as pd

from ingest.base import ParseContext, ParseResult, PatientSeries
from ingest.errors import CorruptFile, UnsupportedFormat
from ingest.json_doc import has_keys, json_items, scan_document
from ingest.timestamps import local_days_to_utc
from schemas.binning import IntervalBatch
from schemas.daygrid import DAY, HOUR, WEAR_UNKNOWN, WORN, Source, day_bounds

SOURCE = Source(kind="garmin-connect", device="garmin-connect")
UNIX_EPOCH = datetime(1970, 1, 1)
#: primaryActivityLevel -> (counts as sedentary, worn flag); other levels are no evidence.
LEVELS = {"sedentary": (True, WEAR_UNKNOWN), "active": (False, WORN),
          "highlyActive": (False, WORN), "sleeping": (False, WORN)}
DAY_FIELDS = ("calendarDate", "totalSteps", "sedentarySeconds")
#: The user daily summary's fields read (its top-level keys).
_SUMMARY = frozenset({*DAY_FIELDS, "wellnessStartTimeGmt", "wellnessStartTimeLocal"})
#: List items converted at a time (memory stays bounded whatever the file holds).
CHUNK = 10_000
_INSTEAD = ("upload the daily summary chart (wellness-service/wellness/dailySummaryChart), "
            "the user daily summary or the daily step statistics instead")


def _kind(head: bytes) -> str | None:
    """Which Connect payload the first bytes look like."""
    if has_keys(head, "startGMT", "endGMT", "steps"):
        return "chart"
    if has_keys(head, "userDailySummaryId", "totalSteps"):
        return "user summary"
    if has_keys(head, "calendarDate", "totalSteps", "stepGoal"):
        return "step statistics"
    if has_keys(head, "heartRateValues"):
        return "heart rate"
    return None


class GarminConnectParser:
    """Garmin Connect step payloads (see the module docstring)."""

    name = "garmin-connect"

    def sniff(self, head: bytes, filename: str) -> int:
        kind = _kind(head)
        return 0 if kind is None else 20 if kind == "heart rate" else 80

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> ParseResult:
        data = stream.read()
        filename = ctx.filename or "upload"
        kind = _kind(data)
        top, seen = scan_document(data, filename, "Garmin Connect", _SUMMARY)
        if kind == "heart rate":
            raise UnsupportedFormat(f"{filename}: a Garmin Connect daily heart-rate response "
                                    f"carries no step data rehabwatch uses; {_INSTEAD}")
        result = ParseResult(self.name)
        if kind == "chart" and top == "start_array":
            _chart(data, ctx, filename, result)
        elif kind == "user summary" and top == "start_map":
            # Values of the fields read; a list or object stands as an empty one.
            summary = {key: {"start_map": {}, "start_array": []}.get(event, value)
                       for key, (event, value) in seen.items()}
            _days(iter([_items([summary], DAY_FIELDS, filename, 0)]), ctx, filename, result)
            _check_offset(summary, ctx, result)
        elif kind == "step statistics" and top == "start_array":
            _days(_chunks(data, DAY_FIELDS, filename), ctx, filename, result)
        else:
            raise UnsupportedFormat(f"{filename}: not a Garmin Connect response rehabwatch "
                                    f"reads; {_INSTEAD}")
        return result


def _chunks(data: bytes, fields: tuple[str, ...], filename: str) -> Iterator[pd.DataFrame]:
    """The items of a list response as frames of ``CHUNK`` items (memory stays bounded)."""
    offset = 0
    for chunk in json_items(data, "item", CHUNK):
        yield _items(chunk, fields, filename, offset)
        offset += len(chunk)


def _items(items: list[Any], fields: tuple[str, ...], filename: str,
           offset: int) -> pd.DataFrame:
    """Objects of a list response (from item ``offset`` + 1) as a frame indexed by item
    number (1-based)."""
    if not all(isinstance(item, dict) for item in items):
        raise CorruptFile(f"{filename}: a Garmin Connect list holds an item that is not an object")
    frame = pd.DataFrame([{f: item.get(f) for f in fields} for item in items],
                         columns=list(fields))
    frame.index = pd.RangeIndex(offset + 1, offset + len(frame) + 1)
    return frame


def _steps(frame: pd.DataFrame, column: str, filename: str, result: ParseResult) -> pd.DataFrame:
    """Items with steps: missing (null) ones skipped and counted, non-numeric ones rejected."""
    missing = frame[column].isna()
    if missing.any():
        result.skip(f"item without {column}", int(missing.sum()))
    frame = frame[~missing]
    bad = [i for i, v in frame[column].items()
           if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0]
    if bad:
        raise CorruptFile(f"{filename}: {column} is not a non-negative number in {len(bad)} "
                          f"item(s) (item {bad[0]}: {frame[column][bad[0]]!r})")
    return frame


def _chart(data: bytes, ctx: ParseContext, filename: str, result: ParseResult) -> None:
    """15-minute buckets (GMT) -> an hourly batch, read a chunk of buckets at a time."""
    parts = []
    for frame in _chunks(data, ("startGMT", "endGMT", "steps", "primaryActivityLevel"),
                         filename):
        result.records += len(frame)
        frame = _steps(frame, "steps", filename, result)
        levels = frame["primaryActivityLevel"].fillna("none").to_numpy(dtype=object)
        evidence = [LEVELS.get(level) for level in levels]
        parts.append(pd.DataFrame({
            "start": _gmt_seconds(frame["startGMT"], filename),
            "end": _gmt_seconds(frame["endGMT"], filename),
            "steps": frame["steps"].to_numpy(dtype=np.float64),
            "sedentary": [np.nan if e is None else float(e[0]) for e in evidence],
            "worn": np.array([WEAR_UNKNOWN if e is None else e[1] for e in evidence], np.int8),
            "none": levels == "none"}))
    if not parts:
        parts.append(pd.DataFrame({"start": [], "end": [], "steps": [], "sedentary": [],
                                   "worn": np.zeros(0, np.int8), "none": np.zeros(0, bool)}))
    buckets = pd.concat(parts, ignore_index=True)
    start = buckets["start"].to_numpy()
    duration = buckets["end"].to_numpy() - start
    if not ((duration > 0) & (duration <= HOUR)).all():
        raise CorruptFile(f"{filename}: a bucket that does not end within an hour after it starts")
    if buckets["start"].duplicated().any():
        raise CorruptFile(f"{filename}: two buckets start at the same time")
    steps = buckets["steps"].to_numpy()
    steps = np.where(buckets["none"].to_numpy() & (steps == 0), np.nan, steps)
    result.series.append(PatientSeries(ctx.patient_id, IntervalBatch(
        SOURCE, HOUR, start.astype(np.int64), duration.astype(np.int64), steps=steps,
        sedentary_s=buckets["sedentary"].to_numpy() * duration,
        worn=buckets["worn"].to_numpy())))


def _gmt_seconds(texts: pd.Series, filename: str) -> np.ndarray:
    """UTC epoch seconds of Garmin's zone-less ``…GMT`` times, which ARE UTC (named so)."""
    stamps = pd.to_datetime(texts.astype(str), format="ISO8601", errors="coerce")
    if stamps.isna().any():
        raise CorruptFile(f"{filename}: a GMT time that is not ISO-8601 "
                          f"(item {stamps.index[stamps.isna()][0]})")
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_convert(None)
    return (stamps - UNIX_EPOCH).dt.total_seconds().to_numpy()


def _days(frames: Iterator[pd.DataFrame], ctx: ParseContext, filename: str,
          result: ParseResult) -> None:
    """Daily totals (user summary or step statistics) -> a daily batch of local days."""
    parts = []
    for frame in frames:
        result.records += len(frame)
        frame = _steps(frame, "totalSteps", filename, result)
        days = pd.to_datetime(frame["calendarDate"].astype(str), format="%Y-%m-%d",
                              errors="coerce")
        if days.isna().any():
            raise CorruptFile(f"{filename}: a calendarDate that is not YYYY-MM-DD")
        parts.append(pd.DataFrame({
            "day": days, "steps": frame["totalSteps"].to_numpy(dtype=np.float64),
            "sedentary": pd.to_numeric(frame["sedentarySeconds"], errors="coerce")}))
    totals = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if totals.empty:
        return
    if totals["day"].duplicated().any():
        raise CorruptFile(f"{filename}: the same calendarDate twice")
    start, duration = local_days_to_utc(totals["day"].to_numpy(dtype="datetime64[D]"),
                                        ctx.tz_for(ctx.patient_id))
    sedentary = totals["sedentary"].to_numpy(np.float64)
    result.series.append(PatientSeries(ctx.patient_id, IntervalBatch(
        SOURCE, DAY, start, duration, steps=totals["steps"].to_numpy(),
        sedentary_s=None if np.isnan(sedentary).all() else sedentary)))


def _check_offset(summary: dict[str, Any], ctx: ParseContext, result: ParseResult) -> None:
    """Note a day whose Garmin offset (local minus GMT start) differs from the patient's zone."""
    gmt, local = summary.get("wellnessStartTimeGmt"), summary.get("wellnessStartTimeLocal")
    day = summary.get("calendarDate")
    if not (isinstance(gmt, str) and isinstance(local, str) and isinstance(day, str)):
        return
    try:
        garmin = (datetime.fromisoformat(local) - datetime.fromisoformat(gmt)).total_seconds()
        midnight = date.fromisoformat(day)
    except ValueError:
        return
    tz = ctx.tz_for(ctx.patient_id)
    wall = (datetime.combine(midnight, datetime.min.time()) - UNIX_EPOCH).total_seconds()
    ours = wall - day_bounds(midnight, tz)[0]
    if garmin != ours:
        result.notes.append(f"Garmin's day {day} runs at UTC{garmin / 3600:+g} h, the "
                            f"patient's zone {tz} at UTC{ours / 3600:+g} h; the day is "
                            "placed in the patient's zone")


PARSER = GarminConnectParser()
