"""Records the tests build."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np

from sqlalchemy.orm import Session

from schemas.daygrid import WEAR_UNKNOWN, DayGrid, Source, day_bounds, slot_count
from storage.grids import plan_grids


def empty_grid(patient_id: str, source: Source, local_date: date, tz: str,
               resolution_s: int) -> DayGrid:
    """A grid with no data in any slot."""
    n = slot_count(local_date, tz, resolution_s)
    return DayGrid(patient_id, source, local_date, tz, resolution_s,
                   steps=np.full(n, np.nan), worn=np.full(n, WEAR_UNKNOWN, np.int8))


def slot_starts(grid: DayGrid) -> np.ndarray:
    """UTC epoch second at which each slot of ``grid`` starts."""
    start, _ = day_bounds(grid.local_date, grid.tz)
    return start + np.arange(grid.n_slots, dtype=np.int64) * grid.resolution_s


def upsert_grids(session: Session, grids: Sequence[DayGrid], upload_id: int | None = None
                 ) -> list[bool]:
    """Overlay each of ``grids`` on what is stored (True per grid that changed it): a plan,
    written at once."""
    plan = plan_grids(session, grids)
    plan.write(session, upload_id)
    return plan.changed
