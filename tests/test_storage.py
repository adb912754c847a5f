"""Storage on SQLite and a real PostgreSQL: grids round-trip unchanged, upserts are idempotent."""

from datetime import date, datetime, timezone

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ingest.store import stored_grids, upsert_grid
from rehabwatch import db
from schemas.daygrid import MINUTE, DayGrid, Source, empty_grid, slot_count
from schemas.models import GridRow, Patient

SRC = Source("garmin-fit", "fr35", "3951112345")


def add_patient(url: str, pid: str = "p1", tz: str = "Europe/London") -> None:
    with db.session_scope(url) as s:
        s.add(Patient(id=pid, procedure="microdiscectomy", start_date=date(2024, 1, 1), tz=tz))


def grid_with(day: date, tz: str, values: dict[int, float], sed: bool = False) -> DayGrid:
    g = empty_grid("p1", SRC, day, tz, MINUTE)
    for i, v in values.items():
        g.steps[i % g.n_slots] = v
        g.worn[i % g.n_slots] = 1
    if not sed:
        return g
    return DayGrid(g.patient_id, g.source, day, tz, MINUTE, g.steps, g.worn,
                   sedentary_s=np.where(np.isnan(g.steps), np.nan, 60.0 - np.minimum(g.steps, 60)))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(day=st.dates(date(2023, 1, 1), date(2026, 12, 31)),
       values=st.dictionaries(st.integers(0, 1499), st.floats(0, 250, allow_nan=False), max_size=80),
       sed=st.booleans())
def test_grid_round_trips_unchanged(database_url: str, day: date, values: dict[int, float],
                                    sed: bool) -> None:
    with db.session_scope(database_url) as s:
        if s.get(Patient, "p1") is None:
            s.add(Patient(id="p1", procedure="fusion", start_date=day, tz="Europe/London"))
        s.query(GridRow).delete()
    grid = grid_with(day, "Europe/London", values, sed)
    with db.session_scope(database_url) as s:
        upsert_grid(s, grid)
    with db.session_scope(database_url) as s:
        (back,) = stored_grids(s, "p1", day, day)
    assert back.same_data(grid)
    assert back.n_slots == slot_count(day, "Europe/London", MINUTE)


def test_upsert_is_idempotent_and_overlapping_uploads_never_add(database_url: str) -> None:
    add_patient(database_url)
    day = date(2024, 6, 1)
    morning = grid_with(day, "Europe/London", {i: 10 for i in range(0, 600)})
    overlap = grid_with(day, "Europe/London", {i: 10 for i in range(300, 900)})
    with db.session_scope(database_url) as s:
        assert upsert_grid(s, morning) is True
    with db.session_scope(database_url) as s:
        assert upsert_grid(s, morning) is False  # the same sync again changes nothing
        assert upsert_grid(s, overlap) is True
    with db.session_scope(database_url) as s:
        (stored,) = stored_grids(s, "p1", day, day)
        assert stored.total_steps == 900 * 10
        assert s.scalar(select(func.count()).select_from(GridRow)) == 1
        assert s.get(Patient, "p1").last_sync_at == datetime(2024, 6, 1, 14, 0, tzinfo=timezone.utc)


def test_naive_datetimes_are_refused(database_url: str) -> None:
    add_patient(database_url)
    with pytest.raises(Exception, match="naive"):
        with db.session_scope(database_url) as s:
            s.get(Patient, "p1").last_sync_at = datetime(2024, 1, 1)
            s.flush()
