"""Reading CSV exports into checked columns, and building interval batches from them.

Shared by the CSV parsers (Fitbit/Fitabase, generic, activPAL, ActiLife, Google Takeout).
Tables are read as text (every cell a string) with the file's line number as row index, so
each defect can name its line; pandas' errors are translated to :class:`CorruptFile` here,
once.
"""

from __future__ import annotations

import csv
import io
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from ingest.base import ParseResult, PatientSeries
from ingest.errors import CorruptFile
from ingest.timestamps import reject_lines
from schemas.binning import IntervalBatch
from schemas.daygrid import Source

#: Rows read at a time by :func:`read_chunks` (some 15 MB of strings, 100 MB while parsed).
CHUNK_ROWS = 100_000


def decode(data: bytes, filename: str) -> str:
    """The file as text (UTF-8, with or without BOM)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorruptFile(f"{filename}: not UTF-8 text (byte {exc.start})") from exc


def head_lines(head: bytes, n: int = 2) -> list[list[str]]:
    """The first ``n`` lines of ``head`` split into stripped CSV fields (for sniffing)."""
    text = head[:4096].decode("utf-8-sig", errors="replace")
    lines = text.splitlines()[:n]
    return [[field.strip() for field in row] for row in csv.reader(lines)]


def read_table(text: str, filename: str, header_line: int = 1,
               names: Sequence[str] | None = None) -> pd.DataFrame:
    """All rows below the header (1-based ``header_line``) as strings, indexed by line number.

    With ``names`` the file has no header row: the rows start at ``header_line`` and take
    these column names. Blank lines are dropped; a row with too many fields rejects the file;
    missing trailing fields read as empty."""
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                            skip_blank_lines=False, skiprows=header_line - 1,
                            header=None if names else "infer", names=names)
    except (pd.errors.ParserError, ValueError) as exc:
        raise CorruptFile(f"{filename}: not a well-formed CSV table ({exc})") from exc
    return _checked(frame, filename, header_line, names)


def _checked(frame: pd.DataFrame, filename: str, header_line: int,
             names: Sequence[str] | None) -> pd.DataFrame:
    """``frame`` indexed by line number, without blank lines; extra fields reject the file."""
    if not isinstance(frame.index, pd.RangeIndex):  # pandas made extra fields an index
        raise CorruptFile(f"{filename}: a row has more fields than the header")
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.index = frame.index + header_line + (0 if names else 1)
    blank = frame.isna() | (frame == "")
    return frame[~blank.all(axis=1)]


def read_chunks(stream: BinaryIO, filename: str, header_line: int = 1,
                columns: Sequence[str] | None = None) -> Iterator[tuple[pd.DataFrame, bool]]:
    """The table of a binary CSV stream (UTF-8, BOM allowed; header on ``header_line``),
    :data:`CHUNK_ROWS` rows at a time (only ``columns`` if given), each chunk as
    :func:`read_table` gives it and whether it is the last. The file is never held whole: a
    200 MB CSV read as one table of strings takes ten times its size. The stream is left
    at its start."""
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        reader = pd.read_csv(text, dtype=str, keep_default_na=False, skip_blank_lines=False,
                             skiprows=header_line - 1, chunksize=CHUNK_ROWS,
                             usecols=list(columns) if columns else None)
        chunk = next(reader, None)
        while chunk is not None:
            following = next(reader, None)
            yield _checked(chunk, filename, header_line, None), following is None
            chunk = following
    except UnicodeDecodeError as exc:
        raise CorruptFile(f"{filename}: not UTF-8 text") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise CorruptFile(f"{filename}: not a well-formed CSV table ({exc})") from exc
    finally:
        text.detach()  # the caller's stream stays open
        stream.seek(0)


def tail_text(stream: BinaryIO, size: int = 1 << 16) -> str:
    """The last ``size`` bytes of a seekable stream as text (for :func:`drop_cut_last_line`);
    the stream is left at its start."""
    end = stream.seek(0, 2)
    stream.seek(max(0, end - size))
    tail = stream.read().decode("utf-8", errors="replace")
    stream.seek(0)
    return tail


def drop_cut_last_line(frame: pd.DataFrame, text: str, result: ParseResult) -> pd.DataFrame:
    """``frame`` without its last row when the file stops inside it: no line break after it
    and fewer fields than the header (a file cut short while written or copied). ``result``
    is then ``partial``, with the line and how many rows were kept."""
    if frame.empty or text.endswith(("\n", "\r")):
        return frame
    last_line = text[max(text.rfind("\n"), text.rfind("\r")) + 1:]
    if len(next(csv.reader([last_line]), [])) >= len(frame.columns):
        return frame
    result.partial = (f"the file ends inside line {frame.index[-1]} (cut short): kept the "
                      f"{len(frame) - 1} complete rows before it")
    return frame.iloc[:-1]


def numbers(frame: pd.DataFrame, columns: list[str], filename: str, *,
            allow_empty: bool = False, upper: float = np.inf) -> np.ndarray:
    """Non-negative finite numbers (at most ``upper``) in ``columns``, as a float 2-D array;
    empty cells are NaN when ``allow_empty``, otherwise a defect."""
    cells = frame[columns].fillna("").apply(lambda col: col.str.strip())
    values = cells.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    empty = (cells == "").to_numpy()
    bad = (np.isnan(values) & ~(empty & allow_empty)) | (values < 0) | (values > upper)
    for column, column_bad in zip(columns, bad.T):
        reject_lines(pd.Series(column_bad, index=frame.index), filename,
                     f"{column} is not a number from 0 to {upper:g}" if np.isfinite(upper)
                     else f"{column} is not a non-negative number")
    return values


def drop_exact_duplicates(frame: pd.DataFrame, result: ParseResult) -> pd.DataFrame:
    """``frame`` without rows that repeat an earlier row exactly (counted as skipped)."""
    repeated = frame.duplicated()
    if repeated.any():
        result.skip("duplicate row", int(repeated.sum()))
    return frame[~repeated]


def reject_repeated_times(keys: pd.DataFrame, filename: str) -> None:
    """CorruptFile when two rows (already not exact duplicates) claim the same interval."""
    reject_lines(keys.duplicated(keep=False), filename,
                 "two different values for the same time (conflicting duplicate rows)")


def batches(groups: np.ndarray, source_of: Callable[[str], Source], resolution_s: int,
            start: np.ndarray, duration: np.ndarray, measures: Mapping[str, np.ndarray | None],
            owner_of: Callable[[str], str]) -> Iterable[PatientSeries]:
    """One time-sorted batch per distinct value of ``groups`` (a patient or a device)."""
    for group in pd.unique(groups):
        rows = np.flatnonzero(groups == group)
        rows = rows[np.argsort(start[rows], kind="stable")]
        picked: dict[str, Any] = {k: (None if v is None else v[rows])
                                  for k, v in measures.items()}
        yield PatientSeries(owner_of(group), IntervalBatch(
            source_of(group), resolution_s, start[rows].astype(np.int64),
            duration[rows].astype(np.int64), **picked))


def concatenate(parts: list[np.ndarray]) -> np.ndarray:
    """The chunks' arrays as one, the list emptied as it goes (one copy alive, not two)."""
    whole = np.concatenate(parts)
    parts.clear()
    return whole


def compact(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``values[keep]`` moved to the front of ``values`` itself, a chunk at a time (a copy of
    the whole would double the upload's biggest arrays for a few dropped rows)."""
    kept = 0
    for at in range(0, values.shape[0], CHUNK_ROWS):
        piece = values[at:at + CHUNK_ROWS][keep[at:at + CHUNK_ROWS]]
        values[kept:kept + piece.shape[0]] = piece
        kept += piece.shape[0]
    return values[:kept]


def repeats(start: np.ndarray, duration: np.ndarray, measures: dict[str, np.ndarray | None],
             devices: np.ndarray | None, filename: str, result: ParseResult) -> np.ndarray:
    """Mask of rows repeating an earlier row's group (a device, a subject: int codes) and
    time with the same values (left out, counted as ``duplicate row``); CorruptFile when the
    values differ. Works on the number arrays of a whole file read in chunks."""
    timed = start[~np.isnan(start)] if np.isnan(start).any() else start  # DST gaps: NaN
    if devices is None and bool((timed[1:] > timed[:-1]).all()):
        return np.zeros(start.shape[0], dtype=bool)  # in time order: nothing repeats
    del timed
    order = (np.argsort(start, kind="stable") if devices is None
             else np.lexsort((start, devices)))
    ordered = start[order]
    same = ordered[1:] == ordered[:-1]
    del ordered
    if devices is not None:
        ordered_devices = devices[order]
        same &= ordered_devices[1:] == ordered_devices[:-1]
        del ordered_devices
    later, earlier = order[1:][same], order[:-1][same]
    equal = duration[later] == duration[earlier]
    for values in measures.values():
        if values is not None:
            a, b = values[later], values[earlier]
            equal &= (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b
    if not equal.all():
        at = pd.Timestamp(start[later[~equal][0]], unit="s", tz="UTC").isoformat()
        raise CorruptFile(f"{filename}: two different values for the same time (conflicting "
                          f"duplicate rows) on {int((~equal).sum())} row(s), e.g. at {at}")
    repeated = np.zeros(start.shape[0], dtype=bool)
    repeated[later] = True
    if later.shape[0]:
        result.skip("duplicate row", int(later.shape[0]))
    return repeated
