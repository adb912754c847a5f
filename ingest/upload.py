"""One upload, pure: check its size, hash it, detect its format, parse it and bin it into day
grids. Storing it is :func:`rehabwatch.service.Service.ingest`'s job (whole or not at all)."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import BinaryIO, cast

from ingest import screen
from ingest.base import ParseContext, ParseResult
from ingest.errors import TooLarge
from ingest.plausibility import MAX_GRIDS_PER_UPLOAD, Plausibility
from ingest.registry import SNIFF_BYTES, detect, parser
from schemas.binning import bin_batch
from schemas.daygrid import DAY, DayGrid

#: Bytes read at a time while hashing or copying.
_CHUNK = 1 << 20
#: A stream copied by :func:`within_limit` stays in memory up to this size, then on disk.
_SPOOL_IN_MEMORY = 8 << 20


@dataclass
class UploadOutcome:
    """What became of one upload: ``status`` is ``stored``, ``partial``, ``duplicate`` or
    ``rejected``; ``changed_days`` the (patient, day) pairs whose stored data changed;
    ``published`` the day grids handed to the stream, or ``publish_error`` why not."""

    upload_id: int
    status: str
    format: str
    reason: str = ""
    records: int = 0
    grids: list[DayGrid] = field(default_factory=list)
    changed_days: set[tuple[str, date]] = field(default_factory=set)
    skipped: dict[str, int] = field(default_factory=dict)
    published: int = 0
    publish_error: str = ""

    @property
    def steps(self) -> float:
        return sum(g.total_steps for g in self.grids)


def within_limit(stream: BinaryIO, max_bytes: int, filename: str) -> tuple[BinaryIO, int]:
    """``stream`` (at its start) and its size, or TooLarge above ``max_bytes``. A seekable
    file is measured before a byte is read; any other stream (a pipe, a request body) is
    copied to a spooled temporary file while its bytes are counted, and refused as soon as
    the count passes the limit, so no upload is held in memory past a few MB whatever it
    claims."""
    if stream.seekable():
        size = stream.seek(0, 2)
        stream.seek(0)
        _check_size(size, max_bytes, filename)
        return stream, size
    copy = cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY))
    size = 0
    while chunk := stream.read(_CHUNK):
        size += len(chunk)
        _check_size(size, max_bytes, filename, "read so far")
        copy.write(chunk)
    copy.seek(0)
    return copy, size


def _check_size(size: int, max_bytes: int, filename: str, what: str = "") -> None:
    if size > max_bytes:
        raise TooLarge(f"{filename or 'upload'}: {size:,} bytes{' ' + what if what else ''} "
                       f"is above the {max_bytes:,}-byte limit (RW_MAX_UPLOAD_MB)")


def sha256_of(stream: BinaryIO) -> str:
    """Hex SHA-256 of the whole stream, read in chunks (it is left at its start)."""
    digest = hashlib.sha256()
    stream.seek(0)
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def parse_upload(stream: BinaryIO, ctx: ParseContext, fmt: str, digest: str,
                 bounds: Plausibility, now: datetime) -> tuple[ParseResult, list[DayGrid]]:
    """Parse ``stream`` as ``fmt`` (``auto``: detected from its first bytes) and bin it into
    day grids whose origin is ``digest``, leaving out what is outside ``bounds`` (the latest
    plausible day is the patient's tomorrow as of ``now``: :mod:`ingest.screen`); raises an
    :mod:`ingest.errors` exception if the upload is unusable or holds no plausible data."""
    if fmt == "auto":
        head = stream.read(SNIFF_BYTES)
        stream.seek(0)
        fmt_parser = detect(head, ctx.filename)
    else:
        fmt_parser = parser(fmt)
    result = fmt_parser.parse(stream, ctx)
    screen.screen(result, ctx, bounds, now)
    grids = _grids(result, ctx, digest, bounds)
    result.series = []  # binned: the intervals are not needed while the grids are stored
    screen.note(result, grids, ctx.filename or "upload")
    return result, grids


def _grids(result: ParseResult, ctx: ParseContext, digest: str,
           bounds: Plausibility) -> list[DayGrid]:
    """Bin every series (days above the daily bound left out); grids of the same key from one
    file are overlaid in file order."""
    by_key: dict[tuple[str, str, date, int], DayGrid] = {}
    for series in result.series:
        tz = ctx.tz_for(series.patient_id)
        binned = bin_batch(series.batch, series.patient_id, tz, origin=digest)
        if len(by_key) + len(binned) > MAX_GRIDS_PER_UPLOAD:
            raise TooLarge(f"{ctx.filename or 'upload'}: holds more than "
                           f"{MAX_GRIDS_PER_UPLOAD:,} days of data (days x devices x "
                           "patients); split the export into smaller periods")
        for grid in screen.drop_crowded_days(binned, series.batch, bounds, result):
            key = (grid.patient_id, grid.source.key, grid.local_date, grid.resolution_s)
            by_key[key] = by_key[key].overlay(grid) if key in by_key else grid
    for (patient_id, source_key, day), extra in result.day_extra.items():
        key = (patient_id, source_key, day, DAY)
        if key in by_key:
            by_key[key] = replace(by_key[key], extra={**by_key[key].extra, **extra})
    return sorted(by_key.values(), key=lambda g: (g.patient_id, g.local_date, g.source.key))
