"""Apple Health samples -> one minute series, by the Health app's kind of source priority.

Pure numpy over arrays the XML reader collected (:mod:`ingest.apple_health`):

* :func:`parse_stamps` turns Apple's ``YYYY-MM-DD HH:MM:SS ±HHMM`` texts into UTC epoch
  seconds in bulk (NaN for a malformed or impossible date).
* :func:`spread` shares each sample's steps over the UTC minutes it overlaps, in proportion
  to the overlap, exactly as :func:`schemas.binning.bin_batch` shares an interval over grid
  slots (a zero-length sample lands in its minute), so totals are preserved. Local minutes
  of every zone in use since 1972 are whole UTC minutes, so the grid later receives each
  minute whole.
* :func:`bridge` joins wear evidence into worn stretches.
* :func:`minute_series` picks, per minute, the steps of the highest-ranked source with a
  sample in that minute (never a sum of two sources), marks worn minutes, and cuts the
  result into one :class:`IntervalBatch` per window of days so that later binning never
  holds years of slots at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from schemas.binning import IntervalBatch
from schemas.daygrid import MINUTE, WEAR_UNKNOWN, WORN, Source

#: Character positions of the digits and separators of ``2019-06-11 15:00:00 -0700``.
_STAMP_LEN = 25
_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 21, 22, 23, 24]
_SEPARATORS = {4: "-", 7: "-", 10: " ", 13: ":", 16: ":", 19: " "}
_MONTH_DAYS = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
#: Minutes per output batch: 30 days, so binning one batch holds about 43,000 slots.
WINDOW_MIN = 30 * 1440


def parse_stamps(texts: Sequence[str]) -> np.ndarray:
    """UTC epoch seconds (float64) of Apple date texts; NaN where a text is not a valid
    ``YYYY-MM-DD HH:MM:SS ±HHMM`` (the offset is the device's own, so no zone is assumed)."""
    n = len(texts)
    if n == 0:
        return np.empty(0)
    joined = "".join(texts)
    codes: np.ndarray
    if set(map(len, texts)) == {_STAMP_LEN} and joined.isascii():  # the usual: one buffer
        codes = np.frombuffer(joined.encode("ascii"), np.uint8).reshape(n, _STAMP_LEN)
        ok = np.ones(n, bool)
    else:
        arr = np.array(texts, dtype=str)
        width = arr.dtype.itemsize // 4
        if width < _STAMP_LEN:
            return np.full(n, np.nan)
        codes = arr.view(np.uint32).reshape(n, width)
        ok = codes[:, _STAMP_LEN - 1] != 0
        if width > _STAMP_LEN:
            ok &= codes[:, _STAMP_LEN] == 0
        codes = codes[:, :_STAMP_LEN]
        ok &= (codes < 128).all(axis=1)  # before narrowing to int16
    for pos, sep in _SEPARATORS.items():
        ok &= codes[:, pos] == ord(sep)
    sign = np.where(codes[:, 20] == ord("-"), -1, 1)
    ok &= (codes[:, 20] == ord("+")) | (codes[:, 20] == ord("-"))
    digits = codes[:, _DIGITS].astype(np.int16) - ord("0")  # small: 18 int16 per text
    ok &= ((digits >= 0) & (digits <= 9)).all(axis=1)
    column = {pos: i for i, pos in enumerate(_DIGITS)}

    def number(*pos: int) -> np.ndarray:
        out = np.zeros(n, np.int64)
        for p in pos:
            out = out * 10 + digits[:, column[p]]
        return out

    year, month, day = number(0, 1, 2, 3), number(5, 6), number(8, 9)
    hour, minute, second = number(11, 12), number(14, 15), number(17, 18)
    offset = sign * (number(21, 22) * 3600 + number(23, 24) * 60)
    ok &= (month >= 1) & (month <= 12) & (hour < 24) & (minute < 60) & (second < 60)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _MONTH_DAYS[np.clip(month, 0, 12)] - ((month == 2) & ~leap)
    ok &= (day >= 1) & (day <= month_days) & (np.abs(offset) <= 14 * 3600)
    epoch = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    return np.where(ok, (epoch - offset).astype(np.float64), np.nan)


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def spread(start: np.ndarray, end: np.ndarray, value: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(UTC minute index, share of the value, sample row) of every minute each sample
    ``[start, end)`` overlaps; a sample's shares add up to its value."""
    dur = end - start
    m0 = np.floor(start / MINUTE).astype(np.int64)
    m1 = np.where(dur > 0, np.ceil(end / MINUTE).astype(np.int64) - 1, m0)
    pieces = m1 - m0 + 1
    row = np.repeat(np.arange(start.shape[0]), pieces)
    minute = m0[row] + (np.arange(row.shape[0]) - np.repeat(np.cumsum(pieces) - pieces, pieces))
    lo = np.maximum(minute * MINUTE, start[row])
    hi = np.minimum((minute + 1) * MINUTE, end[row])
    d = dur[row]
    share = np.where(d > 0, (hi - lo) / np.where(d > 0, d, 1.0), 1.0)
    return minute, value[row] * share, row


def bridge(start: np.ndarray, end: np.ndarray, gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Union of the intervals, with gaps of at most ``gap_s`` seconds filled: sorted,
    disjoint (start, end) stretches. Bridging parts and then the whole gives the same as
    bridging the whole, so evidence can be reduced batch by batch."""
    if start.shape[0] == 0:
        return start, end
    order = np.argsort(start, kind="stable")
    s, e = start[order], np.maximum.accumulate(np.maximum(end, start)[order])
    new = np.empty(s.shape[0], bool)
    new[0] = True
    new[1:] = s[1:] - e[:-1] > gap_s
    firsts = np.flatnonzero(new)
    lasts = np.append(firsts[1:] - 1, s.shape[0] - 1)
    return s[firsts], e[lasts]


def _minutes_of(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Sorted unique UTC minute indices that the stretches overlap (a point: its minute)."""
    if start.shape[0] == 0:
        return np.empty(0, np.int64)
    m0 = np.floor(start / MINUTE).astype(np.int64)
    m1 = np.maximum(np.ceil(end / MINUTE).astype(np.int64) - 1, m0)
    pieces = m1 - m0 + 1
    offsets = np.arange(int(pieces.sum())) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    return _sorted_unique(np.repeat(m0, pieces) + offsets)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` for integer arrays that are mostly sorted already (a stable sort runs
    in about linear time on them, where ``np.unique`` hashes)."""
    values = np.sort(values, kind="stable")
    keep = np.ones(values.shape[0], bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep]


@dataclass
class Tally:
    """Per source rank: steps and minutes that won their minute, and steps dropped because
    a higher-ranked source had the minute."""

    kept_steps: np.ndarray
    kept_minutes: np.ndarray
    dropped_steps: np.ndarray

    @classmethod
    def empty(cls, n: int) -> Tally:
        return cls(np.zeros(n), np.zeros(n, np.int64), np.zeros(n))


@dataclass(frozen=True)
class Samples:
    """Everything the reader kept, as arrays (seconds are UTC epoch).

    ``rank`` is each step sample's source rank (0 = highest priority, below ``n_ranks``);
    ``worn_*`` are bridged worn stretches; ``idle_*`` the stand hours the watch marked Idle.
    """

    start: np.ndarray
    end: np.ndarray
    steps: np.ndarray
    rank: np.ndarray
    n_ranks: int
    worn_start: np.ndarray
    worn_end: np.ndarray
    idle_start: np.ndarray
    idle_end: np.ndarray


Pieces = tuple[np.ndarray, np.ndarray, np.ndarray]  # UTC minute, steps, source rank


def _pieces(samples: Samples, rows: np.ndarray) -> Pieces:
    minute, share, row = spread(samples.start[rows], samples.end[rows], samples.steps[rows])
    return minute, share, samples.rank[rows][row]


def _decide(pieces: Pieces, n_ranks: int, tally: Tally) -> tuple[np.ndarray, np.ndarray]:
    """(minute, steps) of each minute: the sum of the pieces of the lowest rank present."""
    minute, share, rank = pieces
    keys, inverse = np.unique(minute * n_ranks + rank, return_inverse=True)
    sums = np.bincount(inverse, weights=share, minlength=keys.shape[0])
    key_minute, key_rank = keys // n_ranks, keys % n_ranks
    minutes, first = np.unique(key_minute, return_index=True)  # the lowest rank sorts first
    lost = np.ones(keys.shape[0], bool)
    lost[first] = False
    tally.kept_steps += np.bincount(key_rank[first], sums[first], n_ranks)
    tally.kept_minutes += np.bincount(key_rank[first], minlength=n_ranks)
    tally.dropped_steps += np.bincount(key_rank[lost], sums[lost], n_ranks)
    return minutes, sums[first]


def minute_series(samples: Samples, source: Source) -> tuple[list[IntervalBatch], Tally]:
    """One-minute intervals, a batch per window of :data:`WINDOW_MIN` minutes, and the
    tally of who won. Each minute with a step sample gets the steps of the lowest-ranked
    source there; a worn minute without any sample gets 0 steps (the watch was on and
    counted nothing); ``worn`` is 1 in worn minutes, unknown elsewhere; ``sedentary_s`` is
    60 in the sample-free worn minutes of Idle stand hours, else NaN (None when the export
    has no Idle hour)."""
    tally = Tally.empty(samples.n_ranks)
    ends = [a for a in (samples.end, samples.worn_end) if a.shape[0]]
    if not ends:
        return [], tally
    order = np.argsort(samples.start, kind="stable")
    window_of = (np.floor(samples.start[order] / MINUTE) // WINDOW_MIN).astype(np.int64)
    worn = _minutes_of(samples.worn_start, samples.worn_end)
    idle = _minutes_of(samples.idle_start, samples.idle_end)
    firsts = [window_of[:1], worn[:1] // WINDOW_MIN]
    first = int(min(a[0] for a in firsts if a.shape[0]))
    last = int(max(float(a.max()) for a in ends) // MINUTE // WINDOW_MIN)
    carry: Pieces = (np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64))
    batches = []
    for w in range(first, last + 1):
        lo, hi = np.searchsorted(window_of, [w, w + 1])
        fresh = _pieces(samples, order[lo:hi])
        joined = (np.concatenate([carry[0], fresh[0]]), np.concatenate([carry[1], fresh[1]]),
                  np.concatenate([carry[2], fresh[2]]))
        inside = joined[0] < (w + 1) * WINDOW_MIN  # a sample may run into the next window
        carry = (joined[0][~inside], joined[1][~inside], joined[2][~inside])
        minutes, steps = _decide((joined[0][inside], joined[1][inside], joined[2][inside]),
                                 samples.n_ranks, tally)
        batch = _batch(source, minutes, steps, _in_window(worn, w),
                       _in_window(idle, w) if idle.shape[0] else None)
        if batch is not None:
            batches.append(batch)
    return batches, tally


def _in_window(minutes: np.ndarray, w: int) -> np.ndarray:
    lo, hi = np.searchsorted(minutes, [w * WINDOW_MIN, (w + 1) * WINDOW_MIN])
    return minutes[lo:hi]


def _batch(source: Source, minutes: np.ndarray, steps: np.ndarray, worn: np.ndarray,
           idle: np.ndarray | None) -> IntervalBatch | None:
    every = _sorted_unique(np.concatenate([minutes, worn]))
    if every.shape[0] == 0:
        return None
    values = np.zeros(every.shape[0])
    values[np.searchsorted(every, minutes)] = steps
    is_worn = np.isin(every, worn, assume_unique=True)
    sedentary = None
    if idle is not None:
        quiet = is_worn & np.isin(every, idle) & ~np.isin(every, minutes, assume_unique=True)
        sedentary = np.where(quiet, 60.0, np.nan)
    return IntervalBatch(source, MINUTE, every * MINUTE, np.full(every.shape[0], MINUTE),
                         values, sedentary_s=sedentary,
                         worn=np.where(is_worn, WORN, WEAR_UNKNOWN).astype(np.int8))
