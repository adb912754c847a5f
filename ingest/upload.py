"""One upload, end to end: check, detect, parse, bin into day grids, store in one transaction.

A file is stored whole or not at all: every error raises before anything is written and the
caller's transaction is rolled back; :func:`record_rejection` then records the refusal in a
transaction of its own, so the upload log is complete. A file damaged only at its end keeps
what was decoded and is stored with status ``partial`` and the reason.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.base import ParseContext, ParseResult
from ingest.errors import TooLarge, UnknownSubject
from ingest.registry import detect, parser
from storage.grids import record_sync, upsert_grids
from schemas.binning import bin_batch
from schemas.daygrid import DAY, DayGrid
from storage.tables import Patient, Upload
from storage.sql import one_of


@dataclass
class UploadOutcome:
    """What became of one upload."""

    upload_id: int
    status: str
    format: str
    reason: str = ""
    records: int = 0
    grids: list[DayGrid] = field(default_factory=list)
    changed_days: set[tuple[str, date]] = field(default_factory=set)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def steps(self) -> float:
        return sum(g.total_steps for g in self.grids)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ingest_bytes(session: Session, data: bytes, ctx: ParseContext, fmt: str | None = None,
                 max_bytes: int | None = None) -> UploadOutcome:
    """Store one upload for ``ctx.patient_id`` (or the patients its id map names)."""
    if max_bytes is not None and len(data) > max_bytes:
        raise TooLarge(f"{ctx.filename or 'upload'}: {len(data):,} bytes is above the "
                       f"{max_bytes:,}-byte limit (RW_MAX_UPLOAD_MB)")
    digest = sha256(data)
    previous = _previous_upload(session, ctx.patient_id, digest)
    if previous is not None:
        return _record_duplicate(session, ctx, data, previous)
    ctx = _with_timezones(session, ctx)
    fmt_parser = parser(fmt) if fmt and fmt != "auto" else detect(data, ctx.filename)
    result = fmt_parser.parse(io.BytesIO(data), ctx)
    grids = _grids(result, ctx, digest)
    upload = Upload(patient_id=ctx.patient_id, filename=ctx.filename[:255], sha256=digest,
                    size_bytes=len(data), format=result.format,
                    status="partial" if result.partial else "stored",
                    reason=result.partial or "", records=result.records, grids=len(grids),
                    steps=sum(g.total_steps for g in grids), skipped=dict(result.skipped))
    session.add(upload)
    session.flush()
    flags = upsert_grids(session, grids, upload.id)
    changed = {(g.patient_id, g.local_date) for g, flag in zip(grids, flags) if flag}
    for patient_id, at in result.sync_times:
        record_sync(session, patient_id, at, event=True)
    return UploadOutcome(upload.id, upload.status, result.format, upload.reason, result.records,
                         grids, changed, dict(result.skipped))


def record_rejection(session: Session, ctx: ParseContext, data: bytes, fmt: str | None,
                     reason: str) -> int:
    """Log a refused upload (nothing else is written); returns its upload id."""
    upload = Upload(patient_id=ctx.patient_id, filename=ctx.filename[:255], sha256=sha256(data),
                    size_bytes=len(data), format=fmt, status="rejected", reason=reason)
    session.add(upload)
    session.flush()
    return upload.id


def _previous_upload(session: Session, patient_id: str, digest: str) -> Upload | None:
    return session.scalar(select(Upload).where(
        Upload.patient_id == patient_id, Upload.sha256 == digest,
        Upload.status.in_(("stored", "partial"))).limit(1))


def _record_duplicate(session: Session, ctx: ParseContext, data: bytes,
                      previous: Upload) -> UploadOutcome:
    """The same bytes again: logged, nothing else changes."""
    reason = f"same content as upload {previous.id}; nothing changed"
    upload = Upload(patient_id=ctx.patient_id, filename=ctx.filename[:255],
                    sha256=previous.sha256, size_bytes=len(data), format=previous.format,
                    status="duplicate", reason=reason)
    session.add(upload)
    session.flush()
    return UploadOutcome(upload.id, "duplicate", previous.format or "", reason)


def _with_timezones(session: Session, ctx: ParseContext) -> ParseContext:
    """``ctx`` with the zone of every patient the upload may name, checking they exist."""
    wanted = {ctx.patient_id, *ctx.id_map.values()}
    rows = session.execute(select(Patient.id, Patient.tz).where(one_of(Patient.id, wanted)))
    zones = {pid: tz for pid, tz in rows}
    missing = sorted(wanted - zones.keys())
    if missing:
        raise UnknownSubject(f"unknown patient(s) {', '.join(missing)}: add them first "
                             "with 'rehabwatch patient add'")
    return ParseContext(ctx.patient_id, zones[ctx.patient_id], ctx.filename, ctx.id_map,
                        zones, ctx.date_order)


def _grids(result: ParseResult, ctx: ParseContext, digest: str) -> list[DayGrid]:
    """Bin every series; grids of the same key from one file are overlaid in file order."""
    by_key: dict[tuple[str, str, date, int], DayGrid] = {}
    for series in result.series:
        tz = ctx.tz_for(series.patient_id)
        for grid in bin_batch(series.batch, series.patient_id, tz, origin=digest):
            key = (grid.patient_id, grid.source.key, grid.local_date, grid.resolution_s)
            by_key[key] = by_key[key].overlay(grid) if key in by_key else grid
    for (patient_id, source_key, day), extra in result.day_extra.items():
        key = (patient_id, source_key, day, DAY)
        if key in by_key:
            by_key[key] = replace(by_key[key], extra={**by_key[key].extra, **extra})
    return sorted(by_key.values(), key=lambda g: (g.patient_id, g.local_date, g.source.key))
