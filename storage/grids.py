"""Idempotent storage of day grids: a grid overlays the stored grid of the same key.

The key is (patient, source, local day, resolution). Slots the new grid knows replace the
stored ones and slots it does not know are kept, so re-syncing a file, or uploading two
exports that overlap, never adds steps twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, cast

from sqlalchemy import Row, Select, bindparam, insert, select, update
from sqlalchemy.orm import Session

from schemas.daygrid import DayGrid, Source, day_bounds
from storage.sql import conflict_insert, one_of, update_each
from storage.tables import (GridRow, Patient, SourceRow, SyncEvent, expire_loaded_patients,
                            fill_row, grid_from_row, table_of, utcnow)


#: (patient, source row id, local day, resolution); in a plan, a new source's stand-in id.
GridKey = tuple[str, int, date, int]
#: Days or grid ids per SELECT: a few thousand bound values, far below SQLite's and
#: PostgreSQL's limits.
_IN_CHUNK = 1000


def _grid_select() -> Select[Any]:
    """What :func:`grid_from_row` reads: GridRow's columns and its source's key."""
    query = select(GridRow.id, GridRow.local_date, GridRow.resolution_s, GridRow.tz,
                   GridRow.steps, GridRow.worn, GridRow.sedentary_s, GridRow.upright_s,
                   GridRow.stepping_s, GridRow.origin, GridRow.extra,
                   SourceRow.key.label("source_key")
                   ).join_from(GridRow, SourceRow, GridRow.source_id == SourceRow.id)
    return cast(Select[Any], query)


#: Ids standing in for sources a plan will insert (:func:`plan_sources`): above any real row
#: id, in insertion order, as the ids the rows get will be (row ids only grow).
_NEW_SOURCE_ID = 1 << 62


def plan_sources(session: Session, pairs: Iterable[tuple[str, Source]]
                 ) -> tuple[dict[tuple[str, str], int], dict[int, dict[str, Any]]]:
    """The row ids of the (patient, source) ``pairs``, by (patient, source key); a source
    seen for the first time gets a stand-in id, returned with the row to insert for it
    (:func:`insert_sources`), so reading writes nothing."""
    wanted = {(pid, src.key): src for pid, src in pairs}
    found = _source_ids(session, {pid for pid, _ in wanted})
    new: dict[int, dict[str, Any]] = {}
    for (pid, key), src in wanted.items():
        if (pid, key) not in found:
            found[pid, key] = _NEW_SOURCE_ID + len(new)
            new[found[pid, key]] = dict(patient_id=pid, key=key, kind=src.kind,
                                        device=src.device, serial=src.serial,
                                        first_seen=utcnow())
    return {k: found[k] for k in wanted}, new


def insert_sources(session: Session, new: Mapping[int, dict[str, Any]]) -> dict[int, int]:
    """Insert the rows of :func:`plan_sources`; the row id of each stand-in id. A source
    another writer registered since the plan read is kept as it is (ON CONFLICT DO NOTHING)
    and its id used."""
    if not new:
        return {}
    table = table_of(SourceRow)
    session.execute(conflict_insert(session, table).on_conflict_do_nothing(
        index_elements=["patient_id", "key"]), list(new.values()))
    ids = _source_ids(session, {row["patient_id"] for row in new.values()})
    return {stand_in: ids[row["patient_id"], row["key"]] for stand_in, row in new.items()}


def _source_ids(session: Session, patients: Collection[str]) -> dict[tuple[str, str], int]:
    """Row id of every source of ``patients`` by (patient, key): one SELECT of key columns
    (no ORM objects)."""
    table = table_of(SourceRow)
    return {(pid, key): i for i, pid, key in session.execute(
        select(table.c.id, table.c.patient_id, table.c.key).where(
            one_of(table.c.patient_id, patients)))}


@dataclass(frozen=True)
class GridWrite:
    """A batch of grids overlaid on what is stored, not written yet (:func:`plan_grids`)."""

    changed: list[bool]  # per input grid
    grids: dict[GridKey, DayGrid]  # what each key of the batch holds once written
    others: dict[int, GridKey]  # id and key of the other stored grids of the batch's days
    inserts: list[dict[str, Any]]  # GridRow values of the new keys
    updates: list[dict[str, Any]]  # GridRow values of the changed keys, by ``grid_id``
    synced: dict[str, datetime]  # per patient, the latest end of data among changed grids
    new_sources: dict[int, dict[str, Any]]  # SourceRow values of new sources, by stand-in id

    def write(self, session: Session, upload_id: int | None = None) -> None:
        """The new sources, then one INSERT of the new keys and one UPDATE of the changed ones
        (each executed for many rows: Core statements, no ORM bulk machinery per row), each
        row filed under ``upload_id``; each patient's last sync advances once."""
        ids = insert_sources(session, self.new_sources)
        if self.inserts:
            session.execute(insert(table_of(GridRow)), [
                {**row, "source_id": ids.get(row["source_id"], row["source_id"]),
                 "upload_id": upload_id} for row in self.inserts])
        if self.updates:
            session.execute(_UPDATE_GRID, [{**row, "upload_id": upload_id}
                                           for row in self.updates])
        advance_sync(session, self.synced)


def plan_grids(session: Session, grids: Sequence[DayGrid]) -> GridWrite:
    """Overlay each of ``grids``, in order, on what is stored under its key, reading (one
    SELECT each for the batch's sources, grid keys and grids) but writing nothing, not even
    the rows of sources seen for the first time (:func:`plan_sources`). Everything a batch
    costs in Python (merging, packing arrays) is done here, so a caller can do its own pure
    work too before :meth:`GridWrite.write` starts the write: SQLite lets one transaction
    write at a time, from its first write to its commit."""
    if not grids:
        return GridWrite([], {}, {}, [], [], {}, {})
    sources, new_sources = plan_sources(session, ((g.patient_id, g.source) for g in grids))
    keyed = [((g.patient_id, sources[g.patient_id, g.source.key], g.local_date,
               g.resolution_s), g) for g in grids]
    batch = {key for key, _ in keyed}
    on_days = _grid_keys(session, {(k[0], k[2]) for k in batch})
    ids = {i: key for i, key in on_days.items() if key in batch}
    rows = {ids[i]: row for i, row in _rows_by_id(session, ids).items()}
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
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for key in dirty:
        row = rows.get(key)
        if row is None:
            pid, source_id, day, res = key
            values = dict(patient_id=pid, source_id=source_id, local_date=day, resolution_s=res)
            inserts.append(values)
        else:
            values = dict(grid_id=row.id)
            updates.append(values)
        fill_row(values, current[key])
    return GridWrite(changed, current, {i: k for i, k in on_days.items() if k not in batch},
                     inserts, updates, synced, new_sources)


def day_grids(session: Session, plan: GridWrite) -> dict[tuple[str, date], list[DayGrid]]:
    """Every grid each (patient, day) of ``plan`` has once it is written, ordered as
    :func:`stored_grids` orders them: the plan's own, and the other stored ones (read)."""
    found = dict(plan.grids)
    found.update((plan.others[i], grid_from_row(row, plan.others[i][0]))
                 for i, row in _rows_by_id(session, plan.others).items())
    out: dict[tuple[str, date], list[DayGrid]] = {}
    for key in sorted(found, key=lambda k: (k[2], k[1], k[3])):
        out.setdefault((key[0], key[2]), []).append(found[key])
    return out


#: The UPDATE of a changed grid by id (``grid_id``), SET from the other keys of each row.
_UPDATE_GRID = update(table_of(GridRow)).where(table_of(GridRow).c.id == bindparam("grid_id"))


def _grid_keys(session: Session, days: set[tuple[str, date]]) -> dict[int, GridKey]:
    """Id and key of every stored grid of the (patient, local day) ``days``: one SELECT of key
    columns per :data:`_IN_CHUNK` days, for their patients on their days, whose rows of other
    pairs are dropped here, before any array is read."""
    wanted = sorted(days)
    found: dict[int, GridKey] = {}
    for i in range(0, len(wanted), _IN_CHUNK):
        part = wanted[i:i + _IN_CHUNK]
        rows = session.execute(select(
            GridRow.id, GridRow.patient_id, GridRow.source_id, GridRow.local_date,
            GridRow.resolution_s).where(one_of(GridRow.patient_id, {pid for pid, _ in part}),
                                        one_of(GridRow.local_date, {day for _, day in part})))
        found.update((r[0], (r[1], r[2], r[3], r[4])) for r in rows if (r[1], r[3]) in days)
    return found


def _rows_by_id(session: Session, ids: Collection[int]) -> dict[int, Row[Any]]:
    """The grid rows of ``ids``, as :func:`_grid_select` selects them (one SELECT per
    :data:`_IN_CHUNK` ids)."""
    wanted = list(ids)
    found: dict[int, Row[Any]] = {}
    for i in range(0, len(wanted), _IN_CHUNK):
        found.update((r.id, r) for r in session.execute(
            _grid_select().where(one_of(GridRow.id, wanted[i:i + _IN_CHUNK]))))
    return found


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
    advance_sync(session, {patient_id: at})
    if event and session.scalar(select(SyncEvent.id).where(
            SyncEvent.patient_id == patient_id, SyncEvent.at == at)) is None:
        session.add(SyncEvent(patient_id=patient_id, at=at))


def advance_sync(session: Session, synced: Mapping[str, datetime]) -> None:
    """Move each patient's last-sync time forward to its time in ``synced``, never back: one
    UPDATE for all (:func:`storage.sql.update_each`), the database comparing with what it holds (no ORM objects); a
    patient already loaded in ``session`` reads its new time on next access."""
    if not synced:
        return
    table = table_of(Patient)
    update_each(session, table.c.id, table.c.last_sync_at, synced, forward_only=True)
    expire_loaded_patients(session, synced, "last_sync_at")


def stored_grids(session: Session, patient_id: str, first: date, last: date) -> list[DayGrid]:
    """The patient's stored grids for local days ``first``..``last`` (inclusive), by day,
    source and resolution."""
    rows = session.execute(_grid_select().where(
        GridRow.patient_id == patient_id, GridRow.local_date >= first,
        GridRow.local_date <= last).order_by(GridRow.local_date, GridRow.source_id,
                                             GridRow.resolution_s))
    return [grid_from_row(r, patient_id) for r in rows]


def stored_days(session: Session, patient_id: str) -> set[date]:
    """The local days the patient has any stored grid for."""
    return set(session.scalars(select(GridRow.local_date).distinct().where(
        GridRow.patient_id == patient_id)))
