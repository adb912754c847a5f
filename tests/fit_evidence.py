"""Independent evidence for the FIT tests, read with fitdecode (not our reader): the device's
own summary rows and session totals, with raw (unscaled) values."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import fitdecode
import numpy as np

from ingest.fit_activity import MAX_RECORD_GAP_S, Window, _record_arrays, stride_steps

FIT_EPOCH = datetime(1989, 12, 31, tzinfo=timezone.utc)
STEP_TYPES = {1, 6}


def fitdecode_messages(path: Path) -> list[fitdecode.FitDataMessage]:
    with fitdecode.FitReader(str(path), check_crc=fitdecode.CrcCheck.DISABLED) as reader:
        return [f for f in reader if isinstance(f, fitdecode.FitDataMessage)]


def raw(msg: fitdecode.FitDataMessage) -> dict[str, Any]:
    return {f.name: f.raw_value for f in msg.fields if f.raw_value is not None}


def device_offset_s(path: Path) -> int:
    """Device clock minus UTC, from monitoring_info (local_timestamp - timestamp)."""
    info = next(raw(m) for m in fitdecode_messages(path) if m.name == "monitoring_info")
    return int(info["local_timestamp"] - info["timestamp"])


def device_zone(path: Path) -> str:
    """A fixed-offset IANA zone equal to the device clock (whole hours in these files)."""
    hours = device_offset_s(path) // 3600
    return "UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"  # POSIX signs are inverted


def _summary_steps(path: Path, keep: Callable[[dict[str, Any], int], bool]) -> dict[date, int]:
    """Local date -> steps of the summary rows (real activity_type field) that ``keep``
    accepts; a row at local midnight belongs to the day it ends."""
    offset, totals = device_offset_s(path), {}
    rows = [raw(m) for m in fitdecode_messages(path) if m.name == "monitoring"]
    first = min(r["timestamp"] for r in rows if "timestamp" in r)
    for r in rows:
        if "duration_min" in r and r.get("activity_type") in STEP_TYPES and keep(r, first):
            day = (FIT_EPOCH + timedelta(seconds=r["timestamp"] + offset - 1)).date()
            totals[day] = totals.get(day, 0) + r.get("steps", r.get("cycles", 0))
    return totals


def midnight_totals(path: Path) -> dict[date, int]:
    """The device's day totals (duration_min = 1440), at the local midnight ending the day."""
    return _summary_steps(path, lambda r, first: r["duration_min"] == 1440)


def start_snapshot(path: Path) -> dict[date, int]:
    """The counters the file starts from (summary rows at its first timestamp)."""
    return _summary_steps(path, lambda r, first: r["timestamp"] == first
                          and r["duration_min"] != 1440)


def device_counts(path: Path) -> dict[date, int]:
    """The device's own count of each local day as far as the file shows it: per step type the
    highest counter value of any row (interval, snapshot or midnight row), summed; a row at
    local midnight belongs to the day it ends. ``timestamp_16`` is resolved against the last
    monitoring/monitoring_info timestamp (SOURCES.md)."""
    offset, anchor = device_offset_s(path), None
    highest: dict[tuple[date, int], int] = {}
    for m in fitdecode_messages(path):
        if m.name not in ("monitoring", "monitoring_info"):
            continue
        r = raw(m)
        if "timestamp" in r:
            anchor = r["timestamp"]
        elif "timestamp_16" in r and anchor is not None:
            anchor += (r["timestamp_16"] - anchor) & 0xFFFF
        kind = r.get("activity_type")
        value = r.get("steps", r.get("cycles"))
        if m.name == "monitoring_info" or anchor is None or kind not in STEP_TYPES or value is None:
            continue
        day = (FIT_EPOCH + timedelta(seconds=anchor + offset - 1)).date()
        highest[day, kind] = max(highest.get((day, kind), 0), value)
    totals: dict[date, int] = {}
    for (day, _), value in highest.items():
        totals[day] = totals.get(day, 0) + value
    return totals


def session_totals(path: Path) -> list[dict[str, Any]]:
    """Session fields; field 10 as ``total_cycles`` whatever sub-field name fitdecode gives it
    (total_strides for running, pedal revolutions for cycling)."""
    out = []
    for m in fitdecode_messages(path):
        if m.name == "session":
            fields = raw(m)
            cycles = [f.raw_value for f in m.fields if f.def_num == 10 and f.raw_value is not None]
            out.append({**fields, **({"total_cycles": cycles[0]} if cycles else {})})
    return out


def cadence_and_session_strides(records: list[dict[str, Any]],
                                sessions: list[dict[str, Any]]) -> list[tuple[float, int]]:
    """Per stepping session: (strides integrated from cadence, session total strides).

    The two are independent measurements of one quantity, both through the parser's own
    stride arithmetic (``stride_steps``); the activity tests check they agree."""
    times, cadence = _record_arrays(records, {})
    out = []
    for window in {Window.of(s) for s in sessions}:
        if window.total_strides is None:
            continue
        inside = (times >= window.start) & (times <= window.end)
        dt = np.diff(times[inside]).astype(np.float64)
        steps = stride_steps(cadence[inside][1:], dt, dt <= MAX_RECORD_GAP_S, None)
        out.append((float(np.nansum(steps)) / 2, window.total_strides))
    return out
