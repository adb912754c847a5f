"""Idempotent storage of day grids: a grid overlays the stored grid of the same key.

The key is (patient, source, local day, resolution). Slots the new grid knows replace the
stored ones and slots it does not know are kept, so re-syncing a file, or uploading two
exports that overlap, never adds steps twice.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.daygrid import DayGrid, Source, day_bounds
from schemas.models import GridRow, Patient, SourceRow, SyncEvent, fill_row, grid_from_row


def source_row(session: Session, patient_id: str, source: Source) -> SourceRow:
    """The patient's row for ``source``, created on first sight."""
    row = session.scalar(select(SourceRow).where(SourceRow.patient_id == patient_id,
                                                 SourceRow.key == source.key))
    if row is None:
        row = SourceRow(patient_id=patient_id, key=source.key, kind=source.kind,
                        device=source.device, serial=source.serial)
        session.add(row)
        session.flush()
    return row


def upsert_grid(session: Session, grid: DayGrid, upload_id: int | None = None) -> bool:
    """Overlay ``grid`` on the stored grid of its key; True when anything changed."""
    src = source_row(session, grid.patient_id, grid.source)
    row = session.scalar(select(GridRow).where(
        GridRow.patient_id == grid.patient_id, GridRow.source_id == src.id,
        GridRow.local_date == grid.local_date, GridRow.resolution_s == grid.resolution_s))
    if row is None:
        row = GridRow(patient_id=grid.patient_id, source_id=src.id,
                      local_date=grid.local_date, resolution_s=grid.resolution_s)
        session.add(row)
        merged = grid
    else:
        stored = grid_from_row(row, grid.patient_id)
        merged = stored.overlay(grid)
        if merged.same_data(stored):
            return False
    fill_row(row, merged)
    row.upload_id = upload_id
    _advance_last_sync(session, grid)
    return True


def _advance_last_sync(session: Session, grid: DayGrid) -> None:
    """Data up to the end of the last covered slot proves the device synced by then."""
    covered = grid.covered.nonzero()[0]
    if covered.size == 0:
        return
    start, end = day_bounds(grid.local_date, grid.tz)
    slot_end = min(start + (int(covered[-1]) + 1) * grid.resolution_s, end)
    record_sync(session, grid.patient_id, datetime.fromtimestamp(slot_end, timezone.utc))


def record_sync(session: Session, patient_id: str, at: datetime, event: bool = False) -> None:
    """Move the patient's last-sync time forward to ``at`` (never back); store sync events."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        return
    if patient.last_sync_at is None or at > patient.last_sync_at:
        patient.last_sync_at = at
    if event and session.scalar(select(SyncEvent.id).where(
            SyncEvent.patient_id == patient_id, SyncEvent.at == at)) is None:
        session.add(SyncEvent(patient_id=patient_id, at=at))


def stored_grids(session: Session, patient_id: str, first: date, last: date) -> list[DayGrid]:
    """The patient's stored grids for local days ``first``..``last`` (inclusive)."""
    rows = session.scalars(select(GridRow).where(
        GridRow.patient_id == patient_id, GridRow.local_date >= first,
        GridRow.local_date <= last).order_by(GridRow.local_date, GridRow.source_id))
    return [grid_from_row(r, patient_id) for r in rows]
