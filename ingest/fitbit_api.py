"""Fitbit Web API JSON responses (as saved by a client such as Open mHealth shimmer).

* ``activities/steps`` time series (``{"activities-steps": [{"dateTime", "value"}]}``, values
  are strings) -> whole local days of steps.
* ``activities/steps`` 1-minute intraday (``activities-steps-intraday``) -> 60 s intervals.
  Rows carry only ``"time"``; the day is ``activities-steps[0].dateTime``. Only the minute
  series is kept: the day's total in the same response is the same data at a coarser grain.
* ``activities/heart`` 1-minute intraday -> 60 s intervals, steps unknown, ``worn`` = 1 on
  every minute with a heart rate (heart rate present is the best wear evidence we have).

Times are the tracker's local wall clock (see :func:`ingest.timestamps.patient_local_to_utc`).
Sleep, weight and the daily activity summary (which holds no date) are refused clearly.
"""

from __future__ import annotations

import re
from typing import Any, BinaryIO, Callable

import numpy as np
import pandas as pd

from ingest.base import ParseContext, ParseResult
from ingest.csv_table import batches, reject_repeated_times
from ingest.errors import CorruptFile, UnsupportedFormat
from ingest.fitbit_csv import SOURCE
from ingest.json_doc import BOM, MAX_DEPTH_NOTE, JSONError, json_items, scan_json
from ingest.timestamps import drop_dst_gap, local_days_to_utc, patient_local_to_utc
from schemas.daygrid import DAY, MINUTE, WORN

_USED = re.compile(rb'^\s*\{\s*"activities-(steps|heart)"')
_REFUSED = {"sleep": "sleep", "weight": "weight",
            "summary": "daily activity summary (it names no date)"}
_WANTED = frozenset({*_REFUSED, *(f"activities-{kind}{part}" for kind in ("steps", "heart")
                      for part in ("", "-intraday", "-intraday.dataset",
                                   "-intraday.datasetInterval", "-intraday.datasetType"))})
#: Entries of a long list converted at a time (memory stays bounded whatever the file holds).
CHUNK = 100_000
_REFUSED_HEAD = re.compile(rb'^\s*\{\s*"(sleep|weight|activities|goals|summary)"')


class FitbitApiParser:
    """Fitbit Web API steps and heart-rate responses (see the module docstring)."""

    name = "fitbit-api"

    def sniff(self, head: bytes, filename: str) -> int:
        # Other Fitbit payloads score lower, so a more specific reader of them would win.
        return 80 if _USED.match(head) else 20 if _REFUSED_HEAD.match(head) else 0

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> ParseResult:
        data = stream.read()
        filename = ctx.filename or "upload"
        seen = _scan(data, filename)
        result = ParseResult(self.name)
        if "activities-steps-intraday" in seen:
            _intraday(data, seen, "steps", ctx, filename, result)
        elif "activities-heart-intraday" in seen:
            _intraday(data, seen, "heart", ctx, filename, result)
        elif "activities-steps" in seen:
            _daily_steps(data, ctx, filename, result)
        else:
            raise UnsupportedFormat(f"{filename}: {_refused(seen)} carries no activity data "
                                    "rehabwatch uses; save the activities/steps time series "
                                    "or its 1-minute intraday series instead")
        return result


def _scan(data: bytes, filename: str) -> dict[str, tuple[str, Any]]:
    """The first events at the keys we read (:func:`scan_json`), the whole document checked
    in bounded memory; text that is not JSON is not this format."""
    try:
        top, seen = scan_json(data, _WANTED)
    except RecursionError as exc:
        raise CorruptFile(f"{filename}: JSON nested deeper than any export "
                          f"({MAX_DEPTH_NOTE})") from exc
    except JSONError as exc:
        opening = data.removeprefix(BOM).lstrip()[:1]
        error = CorruptFile if opening == b"{" else UnsupportedFormat
        raise error(f"{filename}: not a Fitbit Web API JSON response ({exc})") from exc
    if top != "start_map":
        raise UnsupportedFormat(f"{filename}: not a Fitbit Web API JSON response "
                                "(the top level is not an object)")
    return seen


def _refused(seen: dict[str, tuple[str, Any]]) -> str:
    """What a payload we do not use holds, for the refusal message."""
    known = [what for key, what in _REFUSED.items() if key in seen]
    return f"a Fitbit {known[0]} response" if known else "this JSON document"


def _daily_steps(data: bytes, ctx: ParseContext, filename: str, result: ParseResult) -> None:
    """Whole local days of steps from the time series (values are strings)."""
    frame = _read_rows(data, "activities-steps", ("dateTime", "value"), filename,
                       "activities-steps", result, lambda raw: {
                           "date": pd.to_datetime(raw["dateTime"].astype(str), format="%Y-%m-%d",
                                                  errors="coerce"),
                           "steps": pd.to_numeric(raw["value"], errors="coerce")})
    steps = frame["steps"]
    _check(frame["date"].isna() | steps.isna() | (steps < 0), filename,
           "activities-steps entries without a YYYY-MM-DD dateTime and a step count")
    tz = ctx.tz_for(ctx.patient_id)
    start, duration = local_days_to_utc(frame["date"].to_numpy(dtype="datetime64[D]"), tz)
    _add(result, ctx, DAY, start, duration, {"steps": steps.to_numpy(dtype=np.float64)},
         filename)


def _intraday(data: bytes, seen: dict[str, tuple[str, Any]], kind: str, ctx: ParseContext,
              filename: str, result: ParseResult) -> None:
    """60 s intervals of a 1-minute intraday series of ``kind`` ("steps" or "heart")."""
    block = f"activities-{kind}-intraday"
    interval, detail = (seen.get(f"{block}.{key}", ("", default))
                        for key, default in (("datasetInterval", 1), ("datasetType", "minute")))
    if seen[block][0] != "start_map" or interval[1] != 1 or detail[1] != "minute":
        raise UnsupportedFormat(f"{filename}: only 1-minute intraday series are read; "
                                "request the 1min detail level")
    if seen.get(f"{block}.dataset", ("",))[0] != "start_array":
        raise CorruptFile(f"{filename}: dataset is not a list of objects")
    day = _series_day(data, filename, kind)
    frame = _read_rows(data, f"{block}.dataset", ("time", "value"), filename, "dataset", result,
                       lambda raw: {
                           "time": pd.to_datetime(day + " " + raw["time"].astype(str),
                                                  format="%Y-%m-%d %H:%M:%S", errors="coerce"),
                           "value": pd.to_numeric(raw["value"], errors="coerce")})
    values = frame["value"]
    _check(frame["time"].isna() | values.isna() | (values < 0), filename,
           "dataset rows without an HH:MM:SS time and a non-negative value")
    start = patient_local_to_utc(frame["time"].to_numpy(dtype="datetime64[s]"),
                                 ctx.tz_for(ctx.patient_id))
    measures = ({"steps": values.to_numpy(dtype=np.float64)} if kind == "steps" else
                {"steps": np.full(len(frame), np.nan), "worn": np.full(len(frame), WORN, np.int8)})
    keep = drop_dst_gap(start, measures["steps"], result)
    _add(result, ctx, MINUTE, start[keep].astype(np.int64), np.full(int(keep.sum()), MINUTE),
         {k: v[keep] for k, v in measures.items()}, filename)


def _series_day(data: bytes, filename: str, kind: str) -> str:
    """The one date (YYYY-MM-DD) an intraday response covers (at most two entries read)."""
    days = next(json_items(data, f"activities-{kind}.item", 2), [])
    try:
        day = str(days[0]["dateTime"])
        pd.Timestamp(day)
    except (TypeError, KeyError, IndexError, ValueError) as exc:
        raise CorruptFile(f"{filename}: intraday series without activities-{kind}[0].dateTime, "
                          "so its day is unknown") from exc
    if len(days) != 1:
        raise CorruptFile(f"{filename}: intraday series spanning more than one day; "
                          "save one day per file")
    return day


def _read_rows(data: bytes, prefix: str, keys: tuple[str, ...], filename: str, what: str,
               result: ParseResult,
               convert: Callable[[pd.DataFrame], dict[str, pd.Series]]) -> pd.DataFrame:
    """The list of JSON objects at ``prefix``, streamed ``CHUNK`` entries at a time so that
    memory stays bounded: each chunk's ``keys`` reduced by ``convert`` to typed columns (NaN
    or NaT where a value does not convert), entries repeating an earlier one exactly skipped
    and counted. Indexed by entry position from 1."""
    parts, hashes, offset = [], [], 0
    for chunk in json_items(data, prefix + ".item", CHUNK):
        raw = _rows(chunk, keys, filename, what, offset)
        repeated = raw.duplicated().to_numpy()
        raw = raw[~repeated]
        # Equal values hash equal (as in DataFrame.duplicated): repeats across chunks found too.
        hashes.append(np.fromiter((hash(row) for row in raw.itertuples(index=False)),
                                  np.int64, len(raw)))
        parts.append(pd.DataFrame(convert(raw), index=raw.index))
        offset += len(chunk)
    if not parts:
        return pd.DataFrame(convert(_rows([], keys, filename, what, 0)))
    frame = pd.concat(parts)
    repeated = pd.Series(np.concatenate(hashes)).duplicated().to_numpy()
    if offset > len(frame) or repeated.any():
        result.skip("duplicate row", offset - len(frame) + int(repeated.sum()))
    return frame[~repeated]


def _rows(items: list[Any], keys: tuple[str, ...], filename: str, what: str,
          offset: int) -> pd.DataFrame:
    """JSON objects (entries ``offset`` + 1 on of a list) as a frame of ``keys``, indexed by
    position from 1."""
    if not all(isinstance(i, dict) for i in items):
        raise CorruptFile(f"{filename}: {what} is not a list of objects")
    rows = [[item.get(k) for k in keys] for item in items]
    nested = next((offset + n for n, row in enumerate(rows, 1) for v in row
                   if isinstance(v, (list, dict))), None)
    if nested is not None:
        raise CorruptFile(f"{filename}: {what} entry {nested} holds a list or object where "
                          f"{' and '.join(keys)} should be plain values")
    frame = pd.DataFrame(rows, columns=list(keys))
    frame.index = frame.index + offset + 1
    return frame


def _check(bad: pd.Series, filename: str, defect: str) -> None:
    """CorruptFile naming the positions (from 1) of bad entries."""
    if bad.any():
        where = ", ".join(str(i) for i in bad.index[bad.to_numpy()][:5])
        raise CorruptFile(f"{filename}: {int(bad.sum())} {defect} (entries {where})")


def _add(result: ParseResult, ctx: ParseContext, resolution_s: int, start: np.ndarray,
         duration: np.ndarray, measures: dict[str, np.ndarray], filename: str) -> None:
    """Append the patient's batch, refusing two entries for the same time."""
    reject_repeated_times(pd.DataFrame({"start": start}), filename)
    owner = np.full(len(start), ctx.patient_id, dtype=object)
    result.records += len(start)
    result.series.extend(batches(owner, lambda _: SOURCE, resolution_s, start, duration,
                                 measures, owner_of=str))


PARSER = FitbitApiParser()
