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
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from ingest.base import ParseContext, ParseResult, PatientSeries
from ingest.errors import CorruptFile, UnsupportedFormat
from ingest.json_doc import has_keys, load_json
from ingest.timestamps import local_days_to_utc
from schemas.binning import IntervalBatch
from schemas.daygrid import DAY, HOUR, WEAR_UNKNOWN, WORN, Source, day_bounds

SOURCE = Source(kind="garmin-connect", device="garmin-connect")
UNIX_EPOCH = datetime(1970, 1, 1)
#: primaryActivityLevel -> (counts as sedentary, worn flag); other levels are no evidence.
LEVELS = {"sedentary": (True, WEAR_UNKNOWN), "active": (False, WORN),
          "highlyActive": (False, WORN), "sleeping": (False, WORN)}
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
        document = load_json(data, filename, "Garmin Connect")
        if kind == "heart rate":
            raise UnsupportedFormat(f"{filename}: a Garmin Connect daily heart-rate response "
                                    f"carries no step data rehabwatch uses; {_INSTEAD}")
        result = ParseResult(self.name)
        if kind == "chart" and isinstance(document, list):
            _chart(document, ctx, filename, result)
        elif kind == "user summary" and isinstance(document, dict):
            _days([document], ctx, filename, result)
            _check_offset(document, ctx, result)
        elif kind == "step statistics" and isinstance(document, list):
            _days(document, ctx, filename, result)
        else:
            raise UnsupportedFormat(f"{filename}: not a Garmin Connect response rehabwatch "
                                    f"reads; {_INSTEAD}")
        return result


def _items(items: list[Any], fields: tuple[str, ...], filename: str) -> pd.DataFrame:
    """The objects of a list response as a frame indexed by item number (1-based)."""
    if not all(isinstance(item, dict) for item in items):
        raise CorruptFile(f"{filename}: a Garmin Connect list holds an item that is not an object")
    frame = pd.DataFrame([{f: item.get(f) for f in fields} for item in items],
                         columns=list(fields))
    frame.index = pd.RangeIndex(1, len(frame) + 1)
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


def _chart(items: list[Any], ctx: ParseContext, filename: str, result: ParseResult) -> None:
    """15-minute buckets (GMT) -> an hourly batch."""
    frame = _items(items, ("startGMT", "endGMT", "steps", "primaryActivityLevel"), filename)
    result.records = len(frame)
    frame = _steps(frame, "steps", filename, result)
    start = _gmt_seconds(frame["startGMT"], filename)
    duration = _gmt_seconds(frame["endGMT"], filename) - start
    if not ((duration > 0) & (duration <= HOUR)).all():
        raise CorruptFile(f"{filename}: a bucket that does not end within an hour after it starts")
    if pd.Series(start).duplicated().any():
        raise CorruptFile(f"{filename}: two buckets start at the same time")
    levels = frame["primaryActivityLevel"].fillna("none").to_numpy(dtype=object)
    steps = frame["steps"].to_numpy(dtype=np.float64)
    evidence = [LEVELS.get(level) for level in levels]
    sedentary = np.array([np.nan if e is None else d * float(e[0])
                          for e, d in zip(evidence, duration)])
    worn = np.array([WEAR_UNKNOWN if e is None else e[1] for e in evidence], dtype=np.int8)
    steps = np.where((levels == "none") & (steps == 0), np.nan, steps)
    result.series.append(PatientSeries(ctx.patient_id, IntervalBatch(
        SOURCE, HOUR, start.astype(np.int64), duration.astype(np.int64), steps=steps,
        sedentary_s=sedentary, worn=worn)))


def _gmt_seconds(texts: pd.Series, filename: str) -> np.ndarray:
    """UTC epoch seconds of Garmin's zone-less ``…GMT`` times, which ARE UTC (named so)."""
    stamps = pd.to_datetime(texts.astype(str), format="ISO8601", errors="coerce")
    if stamps.isna().any():
        raise CorruptFile(f"{filename}: a GMT time that is not ISO-8601 "
                          f"(item {stamps.index[stamps.isna()][0]})")
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_convert(None)
    return (stamps - UNIX_EPOCH).dt.total_seconds().to_numpy()


def _days(items: list[Any], ctx: ParseContext, filename: str, result: ParseResult) -> None:
    """Daily totals (user summary or step statistics) -> a daily batch of local days."""
    frame = _items(items, ("calendarDate", "totalSteps", "sedentarySeconds"), filename)
    result.records = len(frame)
    frame = _steps(frame, "totalSteps", filename, result)
    days = pd.to_datetime(frame["calendarDate"].astype(str), format="%Y-%m-%d", errors="coerce")
    if days.isna().any():
        raise CorruptFile(f"{filename}: a calendarDate that is not YYYY-MM-DD")
    if days.duplicated().any():
        raise CorruptFile(f"{filename}: the same calendarDate twice")
    if frame.empty:
        return
    start, duration = local_days_to_utc(days.to_numpy(dtype="datetime64[D]"),
                                        ctx.tz_for(ctx.patient_id))
    sedentary = pd.to_numeric(frame["sedentarySeconds"], errors="coerce").to_numpy(np.float64)
    result.series.append(PatientSeries(ctx.patient_id, IntervalBatch(
        SOURCE, DAY, start, duration, steps=frame["totalSteps"].to_numpy(dtype=np.float64),
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
