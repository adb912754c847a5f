"""Date and time text of exports: format detection, local wall-clock time to UTC, and the
clocks of research monitors (:func:`device_clock_to_utc`).

Exports write dates as M/D/Y or D/M/Y (or ISO Y-M-D), with 12- or 24-hour clocks, with or
without seconds, zero-padded or not. The date order is *detected* over a whole column: a first
field above 12 means D/M/Y, a second field above 12 means M/D/Y. When no field can tell, the
caller's ``date_order`` decides; without it the file is rejected, never guessed.

Values are handled as pandas Series whose index is the file's line number, so every error can
name the lines at fault. Parsing works on the distinct strings only (a merged Fitabase file
repeats each hour once per subject).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ingest.base import ParseResult
from ingest.errors import AmbiguousFormat, CorruptFile
from schemas.daygrid import day_bounds

DATE_ORDERS = ("MDY", "DMY")
_STAMP = (r"^\s*(?P<a>\d{1,4})[/.-](?P<b>\d{1,2})[/.-](?P<c>\d{1,4})"
          r"(?:[ T]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?"
          r"\s*(?P<ampm>[AaPp][Mm])?)?\s*$")


def reject_lines(bad: pd.Series, filename: str, defect: str) -> None:
    """Raise CorruptFile naming the first lines where ``bad`` (indexed by line) is true.

    The product stores a file whole or not at all, so one bad row rejects the file."""
    lines = bad.index[bad.to_numpy(dtype=bool)]
    if len(lines):
        shown = ", ".join(str(n) for n in lines[:5]) + (" ..." if len(lines) > 5 else "")
        raise CorruptFile(f"{filename}: {defect} on {len(lines)} row(s), line(s) {shown}")


def parse_local_stamps(texts: pd.Series, filename: str, date_order: str | None) -> np.ndarray:
    """Wall-clock times (datetime64[s], zone-less) from date or date-time text.

    Raises CorruptFile for text that is not a valid date/time and AmbiguousFormat when the
    date order cannot be detected and ``date_order`` is not given."""
    codes, uniq = pd.factorize(texts.astype(str).to_numpy())
    parts = pd.Series(uniq, dtype=object).str.extract(_STAMP)
    reject_lines(pd.Series(parts["a"].isna().to_numpy()[codes], index=texts.index), filename,
                 f"unreadable date/time (e.g. {_example(uniq, parts['a'].isna())!r})")
    year, month, day = _date_fields(parts, uniq, texts, codes, filename, date_order)
    hour = _hours(parts, codes, texts, filename)
    fields = pd.DataFrame({"year": year, "month": month, "day": day, "hour": hour,
                           "minute": parts["M"].fillna("0").astype(int),
                           "second": parts["S"].fillna("0").astype(int)})
    stamps = pd.to_datetime(fields, errors="coerce")
    reject_lines(pd.Series(stamps.isna().to_numpy()[codes], index=texts.index), filename,
                 f"impossible date/time (e.g. {_example(uniq, stamps.isna())!r})")
    return stamps.to_numpy(dtype="datetime64[s]")[codes]


def date_order_of(dates: list[str], filename: str, given: str | None) -> str | None:
    """The date order of a file's distinct date texts, read ahead of its rows so that a file
    read in chunks is read in one order: detected (``given`` only where the dates cannot
    tell), or ``given`` for year-first or unreadable dates (the rows' own parse then names
    the lines at fault)."""
    parts = pd.Series(dates, dtype=object).str.extract(_STAMP)
    readable = parts["a"].notna().to_numpy()
    parts = parts[readable].reset_index(drop=True)
    uniq = np.array(dates, dtype=object)[readable]
    iso = parts["a"].str.len() == 4
    if parts.empty or iso.all():
        return given
    if iso.any():
        raise CorruptFile(f"{filename}: mixes year-first and year-last dates "
                          f"({_example(uniq, iso)!r} and {_example(uniq, ~iso)!r})")
    return detect_date_order(parts["a"].astype(int), parts["b"].astype(int), uniq, filename,
                             given)


def _example(uniq: np.ndarray, bad: pd.Series) -> str:
    return str(uniq[np.flatnonzero(bad.to_numpy())[0]]) if bad.any() else ""


def _date_fields(parts: pd.DataFrame, uniq: np.ndarray, texts: pd.Series, codes: np.ndarray,
                 filename: str, date_order: str | None) -> tuple[pd.Series, ...]:
    """(year, month, day) of each distinct text, after detecting the field order."""
    iso = parts["a"].str.len() == 4
    if iso.any() and not iso.all():
        raise CorruptFile(f"{filename}: mixes year-first and year-last dates "
                          f"({_example(uniq, iso)!r} and {_example(uniq, ~iso)!r})")
    a, b, c = (parts[k].astype(int) for k in "abc")
    if iso.all():
        return a, b, c
    reject_lines(pd.Series((parts["c"].str.len() != 4).to_numpy()[codes], index=texts.index),
                 filename, "a year without four digits")
    order = detect_date_order(a, b, uniq, filename, date_order)
    return (c, a, b) if order == "MDY" else (c, b, a)


def detect_date_order(first: pd.Series, second: pd.Series, uniq: np.ndarray, filename: str,
                      given: str | None) -> str:
    """"MDY" or "DMY", from fields above 12 anywhere in the column; ``given`` only decides
    when the column cannot (and is refused when the column contradicts it)."""
    if given is not None and given not in DATE_ORDERS:
        raise AmbiguousFormat(f"date order must be one of {', '.join(DATE_ORDERS)}, not {given!r}")
    day_first, month_first = bool((first > 12).any()), bool((second > 12).any())
    if day_first and month_first:
        raise CorruptFile(f"{filename}: mixes month/day/year ({_example(uniq, second > 12)!r}) "
                          f"and day/month/year ({_example(uniq, first > 12)!r}) dates")
    found = "DMY" if day_first else "MDY" if month_first else None
    if found and given and found != given:
        raise AmbiguousFormat(f"{filename}: date order {given} was given, but the file has "
                              f"{_example(uniq, (first > 12) | (second > 12))!r}, valid only as "
                              f"{found}")
    if found or (first == second).all():  # equal fields read the same either way
        return found or "MDY"
    if given:
        return given
    raise AmbiguousFormat(
        f"{filename}: cannot tell whether dates are month/day/year or day/month/year: every "
        f"day and month field is 12 or less (e.g. {_example(uniq, first != second)!r}), so "
        "both readings are valid. Upload it again stating the date order (MDY or DMY).")


def _hours(parts: pd.DataFrame, codes: np.ndarray, texts: pd.Series, filename: str) -> pd.Series:
    """24-hour clock hours; a 12-hour clock needs hours 1-12 (12 AM is midnight)."""
    hour = parts["H"].fillna("0").astype(int)
    ampm = parts["ampm"].str.upper()
    twelve = ampm.notna()
    bad = (twelve & ((hour < 1) | (hour > 12))) | (~twelve & (hour > 23))
    reject_lines(pd.Series(bad.to_numpy()[codes], index=texts.index), filename,
                 "an hour outside the clock")
    return hour.where(~twelve, hour % 12 + np.where(ampm == "PM", 12, 0))


def patient_local_to_utc(naive: np.ndarray, tz: str) -> np.ndarray:
    """UTC epoch seconds (float, NaN = no such local time) of zone-less wall-clock times that
    are ASSUMED to be local time in the patient's zone ``tz`` (Fitbit writes times that way).

    Daylight-saving rules: a time inside the spring-forward gap does not exist and becomes NaN
    (the caller drops it and says so; shifting it would collide with the next hour). A
    repeated fall-back time is read as its first (daylight) occurrence; a second row with the
    same wall-clock time is read as the second (standard-time) occurrence, so a file that
    writes both hours keeps both and a file that writes one never counts it twice."""
    codes, uniq = pd.factorize(pd.DatetimeIndex(naive.astype("datetime64[s]")))
    first = _epochs(uniq.tz_localize(tz, ambiguous=np.ones(len(uniq), bool), nonexistent="NaT"))
    later = _epochs(uniq.tz_localize(tz, ambiguous=np.zeros(len(uniq), bool), nonexistent="NaT"))
    rank = pd.Series(codes).groupby(codes).cumcount().to_numpy()
    return np.where(rank == 0, first[codes], later[codes])


@dataclass
class LocalClock:
    """:func:`patient_local_to_utc` over a file read in chunks: a repeated fall-back time
    already read in an earlier chunk is its second (standard-time) occurrence here, as it
    would be in one pass."""

    seen: set[tuple[str, int]] = field(default_factory=set)

    def to_utc(self, naive: np.ndarray, tz: str) -> np.ndarray:
        utc = patient_local_to_utc(naive, tz)
        index = pd.DatetimeIndex(naive)
        twice = index.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").isna() & ~np.isnan(utc)
        if twice.any():
            values = naive[twice].astype(np.int64)
            again = np.array([(tz, int(v)) in self.seen for v in values], dtype=bool)
            if again.any():
                later = index[twice][again].tz_localize(tz, ambiguous=np.zeros(int(again.sum()),
                                                                                bool))
                fixed = utc[twice]
                fixed[again] = later.as_unit("s").asi8
                utc[twice] = fixed
            self.seen.update((tz, int(v)) for v in values)
        return utc


def _epochs(index: pd.DatetimeIndex) -> np.ndarray:
    seconds = index.as_unit("s").asi8.astype(np.float64)
    return np.where(index.isna(), np.nan, seconds)


def local_days_to_utc(days: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """(start, duration) in UTC seconds of whole local calendar days (23 h, 24 h or 25 h)."""
    codes, uniq = pd.factorize(days.astype("datetime64[D]"))
    bounds = np.array([day_bounds(_as_date(d), tz) for d in uniq], dtype=np.int64)
    bounds = bounds.reshape(-1, 2)
    return bounds[codes, 0], bounds[codes, 1] - bounds[codes, 0]


def _as_date(day: np.datetime64) -> date:
    return pd.Timestamp(day).date()


def drop_dst_gap(epoch: np.ndarray, steps: np.ndarray, result: ParseResult) -> np.ndarray:
    """Mask of rows to keep: rows at local times that do not exist (NaN from
    :func:`patient_local_to_utc`) are dropped, counted, and their steps named in a note.

    Fitbit trackers change their clock at the next sync, not at 02:00, so exports do carry
    such rows (the 2016 Fitabase data has 3/13/2016 2:00 AM); there is no slot for them in
    the patient's real day and moving them would double a real hour."""
    gap = np.isnan(epoch)
    if gap.any():
        result.skip("local time in daylight-saving gap", int(gap.sum()))
        result.notes.append(f"{int(gap.sum())} row(s) at clock times skipped by daylight "
                            f"saving were dropped ({np.nansum(steps[gap]):g} steps)")
    return ~gap


def device_clock_to_utc(local_s: np.ndarray, tz: str, result: ParseResult) -> np.ndarray:
    """UTC epoch seconds of times read on a research monitor's own clock (activPAL, ActiGraph).

    ``local_s`` are wall-clock seconds with no zone (seconds since 1970-01-01 00:00 on that
    clock). ASSUMED: the clock was set once, to the patient's local time in ``tz``, when the
    device was initialised, and then counted real seconds without daylight-saving changes, so
    the zone's offset at the first time applies to the whole recording. A recording that
    crosses a change in ``tz`` is kept on that one offset, and a note says so."""
    if len(local_s) == 0:
        return np.asarray(local_s, dtype=np.float64)
    offset = _offset_s(float(np.min(local_s)), tz)
    utc = np.asarray(local_s, dtype=np.float64) - offset
    if _offset_s(float(np.max(local_s)), tz) != offset:
        result.notes.append(
            f"the recording crosses a daylight-saving change in {tz}: its times are read on "
            f"the device clock at UTC{_signed(offset)} throughout, as such clocks do not change")
    return utc


def _offset_s(wall_s: float, tz: str) -> int:
    """UTC offset in seconds of ``tz`` at a wall-clock time (its first occurrence if repeated)."""
    wall = datetime(1970, 1, 1) + timedelta(seconds=wall_s)
    offset = wall.replace(tzinfo=ZoneInfo(tz)).utcoffset()
    return int(offset.total_seconds()) if offset else 0


def _signed(offset_s: int) -> str:
    hours, minutes = divmod(abs(offset_s) // 60, 60)
    return f"{'-' if offset_s < 0 else '+'}{hours:02d}:{minutes:02d}"
