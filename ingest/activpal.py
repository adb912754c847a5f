"""activPAL events CSV (PAL Technologies' ``…Events.csv`` from PALanalysis / PALbatch).

One row per event, a bout of one posture. Columns are matched by their name before any
parenthesis; four are read, the others (DataCount, Activity Score (MET.h), Sum(Abs(Diff…)))
are ignored:

* ``Time``: start, in Excel serial days (days since 1899-12-30) on the device's clock, which
  is read as the patient's local time set at initialisation (see
  :func:`ingest.timestamps.device_clock_to_utc`);
* ``Interval (s)``: the event's length;
* ``ActivityCode``: 0 sedentary (sitting), 1 standing, 2 stepping, 2.1 cycling, 3 / 3.1 /
  3.2 lying (primary and secondary lying), 4 non-wear, 5 seated transport (PAL's codes);
* ``CumulativeStepCount``: rises by one on every stepping event. The device is worn on one
  thigh, so one count is one stride of that leg, i.e. two steps (PAL Technologies: "step
  events are single legged steps, and must be doubled"; the stepping events of the shared
  sample last a median 1.0 s, a stride at walking cadence).

Each event becomes one interval of the minute grid carrying its seconds as ``sedentary_s``
(sitting, lying and seated transport: sedentary behaviour), ``upright_s`` (standing still)
or ``stepping_s``; binning splits it at minute edges in proportion to the overlap, so every
minute gets the seconds it holds. Its steps (2 x the rise of the cumulative count) are a
point at the event's middle, so a stride's two steps land whole in one minute. Wear:
non-wear events are "not worn" (0 s of any posture); every other known event is "worn".
Cycling is worn with no posture. An unknown code keeps its steps, leaves posture and wear
unknown and is counted.

activPAL analysis companions (time-period lists, sleep diaries) and the extended events
export (``EventsEx``, semicolon separated) are recognised and refused with what to upload.
A last line cut short (no line end, fields missing) is dropped and the upload is partial.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from ingest.base import ParseContext, ParseResult, PatientSeries
from ingest.csv_table import (concatenate, drop_cut_last_line, head_lines, numbers, read_chunks,
                              tail_text)
from ingest.errors import UnsupportedFormat
from ingest.timestamps import device_clock_to_utc, reject_lines
from schemas.binning import IntervalBatch
from schemas.daygrid import MINUTE, NOT_WORN, WEAR_UNKNOWN, WORN, Source

#: Column keys read (the header name before any parenthesis).
TIME, INTERVAL, CODE, CUMULATIVE = "Time", "Interval", "ActivityCode", "CumulativeStepCount"
STEPS_PER_COUNT = 2
#: Days from Excel's day 0 (1899-12-30) to the Unix epoch.
EXCEL_EPOCH_DAYS = 25569
#: Activity code x 10 -> (posture measure or None, wear flag).
CODES: dict[int, tuple[str | None, int]] = {
    0: ("sedentary_s", WORN), 10: ("upright_s", WORN), 20: ("stepping_s", WORN),
    21: (None, WORN), 30: ("sedentary_s", WORN), 31: ("sedentary_s", WORN),
    32: ("sedentary_s", WORN), 40: (None, NOT_WORN), 50: ("sedentary_s", WORN)}
STEPPING = 20
#: Events may start this long before the previous one ends (the file's times are rounded).
OVERLAP_TOLERANCE_S = 0.05
#: Other files of an activPAL analysis, by their exact header, and what to say about them.
COMPANIONS = {
    ("Start Time", "End Time"): "an activPAL analysis time-period list",
    ("start_time", "end_time", "event"): "an activPAL analysis sleep/wear diary",
}
_SERIAL = re.compile(r"AP\d{6}")


def _key(name: str) -> str:
    return name.split("(")[0].strip()


def _kind(lines: list[list[str]]) -> str | None:
    """"events", a refusal message for another activPAL file, or None."""
    if not lines:
        return None
    keys = {_key(f) for f in lines[0]}
    if {TIME, INTERVAL, CODE, CUMULATIVE} <= keys:
        return "events"
    if tuple(lines[0]) in COMPANIONS:
        return COMPANIONS[tuple(lines[0])] + " (times of day to analyse, not activity)"
    second = ";".join(lines[1]) if len(lines) > 1 else ""
    if lines[0] == ["sep=;"] and "Event Type" in second and "Cumulative Step Count" in second:
        return "an activPAL extended events file (EventsEx), which rehabwatch does not read"
    return None


class ActivPalParser:
    """The activPAL events CSV (see the module docstring)."""

    name = "activpal"

    def sniff(self, head: bytes, filename: str) -> int:
        kind = _kind(head_lines(head))
        return 0 if kind is None else 90 if kind == "events" else 20

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> ParseResult:
        """Read in chunks of rows (:func:`read_chunks`), each reduced to its four numbers at
        once; the order checks run within and across chunks."""
        filename = ctx.filename or "upload"
        kind = _kind(head_lines(stream.read(4096)))
        stream.seek(0)
        if kind is None:
            raise UnsupportedFormat(f"{filename}: no activPAL events header (Time, Interval (s), "
                                    "ActivityCode, CumulativeStepCount) on its first line")
        if kind != "events":
            raise UnsupportedFormat(f"{filename}: {kind}; upload the activPAL events file "
                                    "(…Events.csv, exported by PALanalysis or PALbatch) instead")
        result = ParseResult(self.name)
        tail = tail_text(stream)
        parts: list[np.ndarray] = []
        previous: tuple[int, np.ndarray] | None = None  # the last row read: line, numbers
        for frame, last in read_chunks(stream, filename):
            frame = drop_cut_last_line(frame, tail, result) if last else frame
            frame.columns = [_key(c) for c in frame.columns]
            if frame.empty:
                continue
            values = numbers(frame, [TIME, INTERVAL, CODE, CUMULATIVE], filename)
            lines = frame.index.to_numpy()
            if previous is not None:
                lines, checked = np.r_[previous[0], lines], np.vstack([previous[1], values])
            else:
                checked = values
            _check_order(pd.Index(lines), _local_seconds(checked[:, 0]), checked[:, 1],
                         checked[:, 3], filename)
            previous = (int(lines[-1]), values[-1])
            parts.append(values)
        result.records = sum(len(part) for part in parts)
        if parts:
            result.series.append(PatientSeries(ctx.patient_id,
                                               _events(concatenate(parts), ctx, result)))
        return result


def _local_seconds(serial: np.ndarray) -> np.ndarray:
    """Device-clock seconds since 1970 of Excel serial day numbers, to 0.1 s."""
    return np.round((serial - EXCEL_EPOCH_DAYS) * 86400.0, 1)


def _events(values: np.ndarray, ctx: ParseContext, result: ParseResult) -> IntervalBatch:
    """The checked events (rows of time, interval, code, cumulative count) as one interval
    batch of the minute grid: one interval per event with its posture seconds, and one
    point at the middle of each event that counted steps."""
    serial, interval, code, count = values.T
    start = device_clock_to_utc(_local_seconds(serial), ctx.tz_for(ctx.patient_id), result)
    code10 = np.round(code * 10).astype(np.int64)
    steps = _steps(count, code10)
    stepped = np.flatnonzero(steps > 0)
    points = len(stepped)
    measures = {name: np.r_[values, np.full(points, np.nan)] if name != "worn"
                else np.r_[values, values[stepped]]
                for name, values in _postures(code10, interval, result).items()}
    return IntervalBatch(_source(ctx.filename), MINUTE,
                         np.r_[start, start[stepped] + interval[stepped] / 2],
                         np.r_[interval, np.zeros(points)],
                         steps=np.r_[np.zeros(len(start)), steps[stepped]], **measures)


def _check_order(lines: pd.Index, local_s: np.ndarray, interval: np.ndarray,
                 count: np.ndarray, filename: str) -> None:
    """Events follow each other in time without overlapping; the step count never falls."""
    ends = local_s[:-1] + interval[:-1]
    reject_lines(pd.Series(np.r_[False, local_s[1:] < ends - OVERLAP_TOLERANCE_S], index=lines),
                 filename, "an event that starts before the previous event ends")
    reject_lines(pd.Series(np.r_[False, np.diff(count) < 0], index=lines), filename,
                 "a CumulativeStepCount lower than the row before")


def _steps(count: np.ndarray, code10: np.ndarray) -> np.ndarray:
    """Steps of each event: the rise of the cumulative count, doubled (one count per stride).
    The first event's rise is its own stride when it is a stepping event (a file may start
    with the count of an earlier part of the recording)."""
    first = 1.0 if code10[0] == STEPPING and count[0] >= 1 else 0.0
    return np.r_[first, np.diff(count)] * STEPS_PER_COUNT


def _postures(code10: np.ndarray, interval: np.ndarray,
              result: ParseResult) -> dict[str, np.ndarray]:
    """Posture seconds and wear flag of each event, from its activity code."""
    known = np.isin(code10, list(CODES))
    if not known.all():
        result.skip("event with an unknown activity code (posture and wear left unknown)",
                    int((~known).sum()))
    out = {m: np.where(known, 0.0, np.nan) for m in ("sedentary_s", "upright_s", "stepping_s")}
    worn = np.full(len(code10), WEAR_UNKNOWN, dtype=np.int8)
    for value, (measure, flag) in CODES.items():
        rows = code10 == value
        if measure is not None:
            out[measure][rows] = interval[rows]
        worn[rows] = flag
    return {**out, "worn": worn}


def _source(filename: str) -> Source:
    """activPAL; the serial (AP + six digits) when the file name carries it, as PAL's names do."""
    found = _SERIAL.search(Path(filename).name)
    return Source(kind="activpal", device="activPAL", serial=found.group(0) if found else "")


PARSER = ActivPalParser()
