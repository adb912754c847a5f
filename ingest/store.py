"""Idempotent storage of day grids: a grid overlays the stored grid of the same key.

The key is (patient, source, local day, resolution). Slots the new grid knows replace the
stored ones and slots it does not know are kept, so re-syncing a file, or uploading two
exports that overlap, never adds steps twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.daygrid import DayGrid, Source, day_bounds
from schemas.models import GridRow, Patient, SourceRow, SyncEvent, fill_row, grid_from_row


GridKey = tuple[str, int, date, int]  # (patient, source row id, local day, resolution)


def source_rows(session: Session, pairs: Iterable[tuple[str, Source]]
                ) -> dict[tuple[str, str], SourceRow]:
    """The rows of the (patient, source) ``pairs``, by (patient, source key); one SELECT for
    all, rows created on first sight."""
    wanted = {(pid, src.key): src for pid, src in pairs}
    found = {(r.patient_id, r.key): r for r in session.scalars(select(SourceRow).where(
        SourceRow.patient_id.in_({pid for pid, _ in wanted})))}
    new = [SourceRow(patient_id=pid, key=key, kind=src.kind, device=src.device,
                     serial=src.serial) for (pid, key), src in wanted.items()
           if (pid, key) not in found]
    if new:
        session.add_all(new)
        session.flush()
        found.update(((r.patient_id, r.key), r) for r in new)
    return {k: found[k] for k in wanted}


def upsert_grid(session: Session, grid: DayGrid, upload_id: int | None = None) -> bool:
    """Overlay ``grid`` on the stored grid of its key; True when anything changed."""
    return upsert_grids(session, [grid], upload_id)[0]


def upsert_grids(session: Session, grids: Sequence[DayGrid], upload_id: int | None = None
                 ) -> list[bool]:
    """Overlay each of ``grids``, in order, on the stored grid of its key, as that many
    :func:`upsert_grid` calls would (True per grid that changed what is stored), with one
    SELECT each for the batch's sources, grids and patients and one write per changed key.
    The patient's last sync advances once, to the latest end of data among changed grids."""
    if not grids:
        return []
    sources = source_rows(session, ((g.patient_id, g.source) for g in grids))
    keyed = [((g.patient_id, sources[g.patient_id, g.source.key].id, g.local_date,
               g.resolution_s), g) for g in grids]
    rows = _grid_rows(session, {key for key, _ in keyed})
    current: dict[GridKey, DayGrid] = {}
    dirty: set[GridKey] = set()
    synced: dict[str, datetime] = {}
    changed = []
    for key, grid in keyed:
        stored = current.get(key)
        if stored is None and key in rows:
            stored = grid_from_row(rows[key], grid.patient_id)
        merged = grid if stored is None else stored.overlay(grid)
        if stored is not None and merged.same_data(stored):
            current[key] = stored
            changed.append(False)
            continue
        current[key] = merged
        changed.append(True)
        dirty.add(key)
        end = _data_end(grid)
        if end is not None:
            synced[grid.patient_id] = max(synced.get(grid.patient_id, end), end)
    for key in dirty:
        row = rows.get(key)
        if row is None:
            pid, _, day, res = key
            row = GridRow(patient_id=pid, source=sources[pid, current[key].source.key],
                          local_date=day, resolution_s=res)
            session.add(row)
        fill_row(row, current[key])
        row.upload_id = upload_id
    if synced:
        for patient in session.scalars(select(Patient).where(Patient.id.in_(synced))):
            _advance_sync(patient, synced[patient.id])
    return changed


def _grid_rows(session: Session, keys: Collection[GridKey]) -> dict[GridKey, GridRow]:
    """The stored rows of ``keys`` (one SELECT)."""
    if not keys:
        return {}
    rows = session.scalars(select(GridRow).where(
        GridRow.patient_id.in_({k[0] for k in keys}), GridRow.source_id.in_({k[1] for k in keys}),
        GridRow.local_date.in_({k[2] for k in keys})))
    found = {(r.patient_id, r.source_id, r.local_date, r.resolution_s): r for r in rows}
    return {k: r for k, r in found.items() if k in keys}


def _data_end(grid: DayGrid) -> datetime | None:
    """End of the last slot with data: the device synced no earlier (None: no data)."""
    covered = grid.covered.nonzero()[0]
    if covered.size == 0:
        return None
    start, end = day_bounds(grid.local_date, grid.tz)
    slot_end = min(start + (int(covered[-1]) + 1) * grid.resolution_s, end)
    return datetime.fromtimestamp(slot_end, timezone.utc)


def record_sync(session: Session, patient_id: str, at: datetime, event: bool = False) -> None:
    """Move the patient's last-sync time forward to ``at`` (never back); store sync events."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        return
    _advance_sync(patient, at)
    if event and session.scalar(select(SyncEvent.id).where(
            SyncEvent.patient_id == patient_id, SyncEvent.at == at)) is None:
        session.add(SyncEvent(patient_id=patient_id, at=at))


def _advance_sync(patient: Patient, at: datetime) -> None:
    if patient.last_sync_at is None or at > patient.last_sync_at:
        patient.last_sync_at = at


def stored_grids(session: Session, patient_id: str, first: date, last: date) -> list[DayGrid]:
    """The patient's stored grids for local days ``first``..``last`` (inclusive)."""
    rows = session.scalars(select(GridRow).where(
        GridRow.patient_id == patient_id, GridRow.local_date >= first,
        GridRow.local_date <= last).order_by(GridRow.local_date, GridRow.source_id))
    return [grid_from_row(r, patient_id) for r in rows]


def stored_days(session: Session, days: Iterable[tuple[str, date]]
                ) -> dict[tuple[str, date], list[DayGrid]]:
    """The stored grids of each (patient, local day) in ``days``, ordered as
    :func:`stored_grids` orders them (one SELECT for all; days without grids are absent)."""
    out: dict[tuple[str, date], list[DayGrid]] = {}
    wanted = set(days)
    if not wanted:
        return out
    rows = session.scalars(select(GridRow).where(
        GridRow.patient_id.in_({pid for pid, _ in wanted}),
        GridRow.local_date.in_({day for _, day in wanted}))
        .order_by(GridRow.local_date, GridRow.source_id))
    for r in rows:
        if (r.patient_id, r.local_date) in wanted:
            out.setdefault((r.patient_id, r.local_date), []).append(grid_from_row(r, r.patient_id))
    return out
