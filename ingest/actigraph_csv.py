"""ActiLife epoch CSV: a 10-line preamble, then one row per epoch, with or without a header.

Preamble (lines padded with commas): ``Data File Created By ActiGraph <device> … date format
<fmt> … [Limb: <place>]``, ``Serial Number``, ``Start Time``, ``Start Date``, ``Epoch Period
(hh:mm:ss)``, ``Download Time``, ``Download Date``, ``Current Battery Voltage … Mode = <n>``.
Epoch *i* starts at Start Date + Start Time + *i* epochs on the device clock.

Columns: with a header row, by name (``Steps``, ``Inclinometer Off/Standing/Sitting/Lying``;
a ``Date``/``Time`` or ``timestamp`` column is checked against the epoch times, ignoring any
zone suffix). Without one, from the mode's bits: axis 1, axis 2 (4), axis 3 (8), steps (1),
heart rate (2), lux (16), the four inclinometer columns (32), in that order (the order of an
``.agd``'s data table; modes 13 and 61 checked on real files). A mode with axis 2 but not
axis 3 (or the reverse) is refused, as is a row with another number of fields.

Date order: the declared ``date format`` is not trusted (ActiGraph Link exports declare
dd/MM/yyyy over MM-dd-yyyy dates). The order is the one under which the file is consistent:
valid dates, a recording that ends before its download, and data dates (if any) that match
the epochs. When both orders remain and read differently, the file is refused unless the
upload states the order (``ParseContext.date_order``); a declaration the data contradict is
noted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, NoReturn

import numpy as np
import pandas as pd

from ingest.actigraph_epochs import INCLINE, Recording, check_epoch
from ingest.base import ParseResult
from ingest.csv_table import drop_cut_last_line, numbers, read_table
from ingest.errors import AmbiguousFormat, CorruptFile, UnsupportedFormat
from ingest.timestamps import DATE_ORDERS, reject_lines

PREAMBLE_LINES = 10
BANNER = re.compile(r"Data (?:Table )?File Created By ActiGraph")
_FIELDS = {
    "device": r"Created By ActiGraph (\S+)", "declared": r"date format (\S+)",
    "limb": r"Limb: (\w+)", "serial": r"Serial Number: (\S+)",
    "start_time": r"Start Time (\d{1,2}:\d{2}:\d{2})", "start_date": r"Start Date (\S+)",
    "epoch": r"Epoch Period \(hh:mm:ss\) (\d{1,2}:\d{2}:\d{2})",
    "download_time": r"Download Time (\d{1,2}:\d{2}:\d{2})",
    "download_date": r"Download Date (\S+)", "mode": r"Mode = (\d+)"}
_REQUIRED = ("start_time", "start_date", "epoch")
INCLINE_NAMES = tuple(f"inclinometer {state}" for state in INCLINE)
_DATE = re.compile(r"^(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})")
EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Preamble:
    """The facts of the 10-line preamble, as text."""

    fields: dict[str, str]

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


def is_actilife(lines: list[str]) -> bool:
    """True when the first line is ActiLife's preamble banner."""
    return bool(lines) and bool(BANNER.search(lines[0]))


def read_actilife_csv(text: str, filename: str, date_order: str | None,
                      result: ParseResult) -> Recording:
    """The recording of an ActiLife epoch CSV (see the module docstring)."""
    lines = text.splitlines()
    pre = _preamble(lines[:PREAMBLE_LINES], filename)
    epoch_s = check_epoch(_clock_s(pre.get("epoch")), filename)
    names = None if _has_header(lines[PREAMBLE_LINES:PREAMBLE_LINES + 1]) else (
        _mode_columns(pre, filename))
    if names is not None and "steps" not in names:
        _no_steps(pre, filename)
    frame = drop_cut_last_line(read_table(text, filename, PREAMBLE_LINES + 1, names=names),
                               text, result)
    frame.columns = [c.strip().lower() for c in frame.columns]
    if "steps" not in frame.columns:
        _no_steps(pre, filename)
    offsets = np.arange(len(frame)) * epoch_s
    start = _start(pre, frame, offsets, date_order, filename, result)
    has_incline = set(INCLINE_NAMES) <= set(frame.columns)
    values = numbers(frame, ["steps", *(INCLINE_NAMES if has_incline else ())], filename)
    return Recording(device=pre.get("device") or "ActiGraph", serial=pre.get("serial"),
                     epoch_s=epoch_s, local_s=start + offsets, steps=values[:, 0],
                     incline=values[:, 1:] if has_incline else None, limb=pre.get("limb"),
                     lines=frame.index.to_numpy())


def _preamble(lines: list[str], filename: str) -> Preamble:
    text = "\n".join(line.rstrip().rstrip(",") for line in lines)
    fields = {k: m.group(1) for k, rx in _FIELDS.items() if (m := re.search(rx, text))}
    missing = [k.replace("_", " ") for k in _REQUIRED if k not in fields]
    if missing or len(lines) < PREAMBLE_LINES:
        raise CorruptFile(f"{filename}: the ActiLife preamble (first {PREAMBLE_LINES} lines) "
                          f"lacks {', '.join(missing) or 'lines'}")
    return Preamble(fields)


def _no_steps(pre: Preamble, filename: str) -> NoReturn:
    raise UnsupportedFormat(f"{filename}: no steps in this ActiLife export (mode "
                            f"{pre.get('mode') or '?'}); export it with steps")


def _clock_s(text: str) -> int:
    hours, minutes, seconds = (int(x) for x in text.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def _has_header(first: list[str]) -> bool:
    """True when the first line after the preamble names columns rather than holding counts."""
    return bool(first) and not re.match(r"^\s*-?\d", first[0])


def _mode_columns(pre: Preamble, filename: str) -> list[str]:
    """Column names of a headerless export, from the mode's bits."""
    if not pre.get("mode"):
        raise CorruptFile(f"{filename}: no header row and no Mode in the preamble, so its "
                          "columns are unknown")
    mode = int(pre.get("mode"))
    if mode >= 64 or bool(mode & 4) != bool(mode & 8):
        raise UnsupportedFormat(f"{filename}: mode {mode} without a header row: its column "
                                "layout is not certain; export it from ActiLife with a header")
    bits = [(4, ["axis2", "axis3"]), (1, ["steps"]), (2, ["hr"]), (16, ["lux"]),
            (32, list(INCLINE_NAMES))]
    return ["axis1", *(name for bit, names in bits if mode & bit for name in names)]


def _start(pre: Preamble, frame: pd.DataFrame, offsets: np.ndarray, given: str | None,
           filename: str, result: ParseResult) -> float:
    """Wall-clock seconds (device clock) of the first epoch, the date order resolved."""
    checks = _data_times(frame, offsets, filename)
    starts = {order: _consistent_start(pre, order, offsets, checks) for order in DATE_ORDERS}
    fits = {order: s for order, s in starts.items() if s is not None}
    if given is not None and given not in DATE_ORDERS:
        raise AmbiguousFormat(f"date order must be one of {', '.join(DATE_ORDERS)}, "
                              f"not {given!r}")
    if not fits:
        raise CorruptFile(f"{filename}: its dates (Start Date {pre.get('start_date')}, "
                          f"Download Date {pre.get('download_date') or '-'}) fit neither "
                          "month/day/year nor day/month/year with its epochs")
    if given:
        if given not in fits:
            raise AmbiguousFormat(f"{filename}: date order {given} was given, but the file's "
                                  f"dates are valid only as {next(iter(fits))}")
        return fits[given]
    if len(set(fits.values())) > 1:
        raise AmbiguousFormat(
            f"{filename}: cannot tell whether Start Date {pre.get('start_date')} is "
            f"month/day/year or day/month/year (the preamble declares "
            f"{pre.get('declared') or 'nothing'}, which ActiLife exports do not always keep); "
            "upload it again stating the date order (MDY or DMY)")
    order, start = next(iter(fits.items()))
    declared = _declared_order(pre.get("declared"))
    if declared and len(fits) == 1 and declared != order:
        result.notes.append(f"the preamble declares date format {pre.get('declared')}, but "
                            f"its dates are only consistent as {order}; read as {order}")
    return start


def _declared_order(fmt: str) -> str | None:
    """"MDY"/"DMY" of a .NET date format such as M/d/yyyy or dd/MM/yyyy."""
    letters = [c for c in fmt.lower() if c in "dm"]
    return None if not letters else "MDY" if letters[0] == "m" else "DMY"


def _date(text: str, order: str) -> datetime | None:
    """The date ``text`` read in ``order`` (year-first dates in any order), None if invalid."""
    found = _DATE.match(text.strip())
    if not found:
        return None
    a, b, c = (int(x) for x in found.groups())
    year, month, day = (a, b, c) if len(found.group(1)) == 4 else (
        (c, a, b) if order == "MDY" else (c, b, a))
    try:
        return datetime(year, month, day)
    except ValueError:
        return None


def _consistent_start(pre: Preamble, order: str, offsets: np.ndarray,
                      checks: list[Callable[[str, float], bool]]) -> float | None:
    """The first epoch's wall-clock seconds if every date fits ``order``, else None."""
    day = _date(pre.get("start_date"), order)
    download = _date(pre.get("download_date"), order)
    if day is None or (pre.get("download_date") and download is None):
        return None
    start = (day - EPOCH).total_seconds() + _clock_s(pre.get("start_time"))
    if download is not None and pre.get("download_time"):
        end = start + (float(offsets[-1]) if len(offsets) else 0.0)
        if end > (download - EPOCH).total_seconds() + _clock_s(pre.get("download_time")):
            return None  # a recording cannot end after it was downloaded
    return start if all(check(order, start) for check in checks) else None


def _data_times(frame: pd.DataFrame, offsets: np.ndarray,
                filename: str) -> list[Callable[[str, float], bool]]:
    """Checks that a file's own date column fits an order and start; times of day, which need
    no order, are checked here at once."""
    if "timestamp" in frame.columns:
        texts = frame["timestamp"].str.strip().str.replace(r"(Z|[+-]\d{2}:?\d{2})$", "",
                                                            regex=True)
        stamps = pd.to_datetime(texts, format="ISO8601", errors="coerce")
        reject_lines(stamps.isna(), filename, "a timestamp that is not ISO-8601")
        wall = (stamps - EPOCH).dt.total_seconds().to_numpy()
        return [lambda _order, start: bool(np.all(wall == start + offsets))]
    if "date" not in frame.columns or "time" not in frame.columns:
        return []
    clock = pd.to_timedelta(frame["time"].str.strip(), errors="coerce").dt.total_seconds()
    reject_lines(clock.isna(), filename, "a Time that is not hh:mm:ss")
    codes, uniq = pd.factorize(frame["date"].str.strip().to_numpy())

    def dates_fit(order: str, start: float) -> bool:
        days = [_date(text, order) for text in uniq]
        valid = [d for d in days if d is not None]
        if len(valid) < len(days):
            return False
        seconds = np.array([(d - EPOCH).total_seconds() for d in valid])[codes]
        return bool(np.all(seconds + clock.to_numpy() == start + offsets))

    return [dates_fit]


def refuses_derived(fields: list[str]) -> bool:
    """True for a table converted from an .agd by another tool (``timestamp,axis1,…``)."""
    return fields[:2] == ["timestamp", "axis1"]


def derived_message(filename: str) -> str:
    return (f"{filename}: not an ActiLife export but a table converted from an .agd by another "
            "tool (such as the R package actigraph.sleepr), whose 'Z' times are the device's "
            "local clock labelled UTC; upload the .agd file or ActiLife's own CSV export instead")

