"""Records the tests build."""

from __future__ import annotations

from datetime import date

import numpy as np

from schemas.daygrid import WEAR_UNKNOWN, DayGrid, Source, slot_count


def empty_grid(patient_id: str, source: Source, local_date: date, tz: str,
               resolution_s: int) -> DayGrid:
    """A grid with no data in any slot."""
    n = slot_count(local_date, tz, resolution_s)
    return DayGrid(patient_id, source, local_date, tz, resolution_s,
                   steps=np.full(n, np.nan), worn=np.full(n, WEAR_UNKNOWN, np.int8))
