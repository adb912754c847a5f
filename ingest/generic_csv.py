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

from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

import numpy as np
import pandas as pd

from ingest.base import ParseContext, ParseResult, PatientSeries
from ingest.csv_table import (batches, compact, concatenate, drop_cut_last_line, head_lines,
                              numbers, read_chunks, repeats, tail_text)
from ingest.errors import CorruptFile, UnsupportedFormat
from ingest.timestamps import LocalClock, drop_dst_gap, local_days_to_utc, reject_lines
from schemas.binning import IntervalBatch
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
        """Read in chunks of rows (:func:`read_chunks`), each reduced to number arrays at
        once, so memory follows the rows' numbers, not the file's text."""
        filename = ctx.filename or "upload"
        lines = head_lines(stream.read(4096), 1)
        stream.seek(0)
        if not lines or not is_header(lines[0]):
            raise UnsupportedFormat(f"{filename}: the first line is not the rehabwatch CSV "
                                    "header (timestamp,steps[,duration_s,...]; see "
                                    "docs/csv-format.md)")
        result = ParseResult(self.name)
        tail = tail_text(stream)
        reading = _Reading(ctx, filename)
        for frame, last in read_chunks(stream, filename):
            reading.add(drop_cut_last_line(frame, tail, result) if last else frame)
        reading.finish(result)
        return result


@dataclass
class _Reading:
    """Rows read so far, as arrays, and what every chunk must agree on."""

    ctx: ParseContext
    filename: str
    resolution: int | None = None
    aware: bool | None = None
    starts: list[np.ndarray] = field(default_factory=list)
    durations: list[np.ndarray] = field(default_factory=list)
    measures: list[dict[str, np.ndarray | None]] = field(default_factory=list)
    devices: list[np.ndarray] = field(default_factory=list)
    device_names: dict[str, int] = field(default_factory=dict)
    clock: LocalClock = field(default_factory=LocalClock)

    def add(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        resolution = _resolution(frame, self.filename)
        if self.resolution is not None and resolution != self.resolution:
            raise CorruptFile(f"{self.filename}: mixes durations "
                              f"{sorted({resolution, self.resolution})}; put minute, hourly and "
                              "daily rows in separate files")
        self.resolution = resolution
        start, duration = self._intervals(frame, resolution)
        self.starts.append(start)
        self.durations.append(duration)
        self.measures.append(_measures(frame, resolution, self.filename))
        if "device" in frame:
            codes, names = pd.factorize(frame["device"].str.strip().replace("", "csv"))
            known = np.array([self.device_names.setdefault(n, len(self.device_names))
                              for n in names], dtype=np.int32)
            self.devices.append(known[codes])

    def _intervals(self, frame: pd.DataFrame, resolution: int) -> tuple[np.ndarray, np.ndarray]:
        """(start, duration) in UTC seconds; start is NaN at a naive time in a DST gap."""
        tz = self.ctx.tz_for(self.ctx.patient_id)
        start = self._utc_seconds(frame["timestamp"].str.strip(), tz)
        if resolution != DAY:
            return start, np.zeros(0, dtype=np.int32)  # the resolution: filled in by finish
        reject_lines(pd.Series(np.isnan(start), index=frame.index), self.filename,
                     "a daily row at a local midnight that daylight saving skips")
        days = pd.to_datetime(start, unit="s", utc=True).tz_convert(tz).tz_localize(None)
        midnight, duration = local_days_to_utc(days.to_numpy(dtype="datetime64[D]"), tz)
        reject_lines(pd.Series(midnight != start, index=frame.index), self.filename,
                     f"a daily row that does not start at local midnight ({tz})")
        return start, duration.astype(np.int32)

    def _utc_seconds(self, texts: pd.Series, tz: str) -> np.ndarray:
        """UTC epoch seconds of ISO-8601 text; naive text is the patient's local time."""
        aware = texts.str.contains(_OFFSET, regex=True)
        style = bool(aware.iloc[0]) if self.aware is None else self.aware
        if (aware != style).any():
            line = aware.index[(aware != style).to_numpy()][0]
            raise CorruptFile(f"{self.filename}: mixes timestamps with and without a UTC "
                              f"offset (line {line})")
        self.aware = style
        stamps = pd.to_datetime(texts, format="ISO8601", utc=style, errors="coerce")
        reject_lines(stamps.isna(), self.filename, "a timestamp that is not ISO-8601")
        if style:
            return stamps.dt.as_unit("s").astype("int64").to_numpy(dtype=np.float64)
        return self.clock.to_utc(stamps.to_numpy(dtype="datetime64[s]"), tz)

    def finish(self, result: ParseResult) -> None:
        """The rows as series of ``result``: DST-gap rows and exact repeats left out and
        counted, two different values for one time rejected."""
        if not self.starts or self.resolution is None:
            return
        start = concatenate(self.starts)
        duration = (concatenate(self.durations) if self.resolution == DAY
                    else np.broadcast_to(np.int32(self.resolution), start.shape))
        measures = {name: (None if self.measures[0][name] is None else
                           concatenate([cast(np.ndarray, m.pop(name)) for m in self.measures]))
                    for name in list(self.measures[0])}
        devices = concatenate(self.devices) if self.devices else None
        keep = drop_dst_gap(start, cast(np.ndarray, measures["steps"]), result)
        keep &= ~repeats(start, duration, measures, devices, self.filename, result)
        if not keep.all():
            start = compact(start, keep)
            duration = (compact(duration, keep) if self.resolution == DAY
                        else np.broadcast_to(np.int32(self.resolution), start.shape))
            devices = None if devices is None else compact(devices, keep)
            measures = {k: (None if v is None else compact(v, keep))
                        for k, v in measures.items()}
        result.records = int(start.shape[0])
        if devices is None:
            result.series.append(PatientSeries(self.ctx.patient_id, IntervalBatch(
                Source(kind="csv", device="csv"), self.resolution, start, duration,
                **cast(dict[str, Any], measures))))
            return
        names = list(self.device_names)
        result.series.extend(batches(
            devices, lambda code: Source(kind="csv", device=names[int(code)]), self.resolution,
            start, duration, measures, owner_of=lambda _: self.ctx.patient_id))


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
