"""Storage on SQLite and a real PostgreSQL: grids round-trip unchanged, upserts are idempotent."""

import zlib
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from storage.grids import advance_sync, day_grids, plan_grids, record_sync, stored_grids
from storage import database
from schemas.daygrid import MINUTE, DayGrid, Source, slot_count
from tests.factories import empty_grid, upsert_grids
from storage.tables import ARRAY_DTYPES, GridRow, Patient, SourceRow, pack_array, unpack_array

SRC = Source("garmin-fit", "fr35", "3951112345")


def add_patient(url: str, pid: str = "p1", tz: str = "Europe/London") -> None:
    with database.session_scope(url) as s:
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
    with database.session_scope(database_url) as s:
        if s.get(Patient, "p1") is None:
            s.add(Patient(id="p1", procedure="fusion", start_date=day, tz="Europe/London"))
        s.query(GridRow).delete()
    grid = grid_with(day, "Europe/London", values, sed)
    with database.session_scope(database_url) as s:
        upsert_grids(s, [grid])
    with database.session_scope(database_url) as s:
        (back,) = stored_grids(s, "p1", day, day)
    assert back.same_data(grid)
    assert back.n_slots == slot_count(day, "Europe/London", MINUTE)


def test_arrays_stored_by_earlier_versions_zlib_compressed_are_still_read() -> None:
    steps = np.array([np.nan, 0.0, 12.5, 1e-300])
    worn = np.array([-1, 0, 1, 1], np.int8)
    for arr, dtype in ((steps, "f8"), (worn, "i1")):
        old = zlib.compress(np.ascontiguousarray(arr, dtype=ARRAY_DTYPES[dtype]), 1)
        for blob in (old, pack_array(arr)):
            back = unpack_array(blob, dtype)
            assert back.dtype == ARRAY_DTYPES[dtype]
            assert np.array_equal(back, arr, equal_nan=dtype == "f8")
    assert pack_array(steps) != zlib.compress(steps.tobytes(), 1)  # new rows are LZ4


def test_upsert_is_idempotent_and_overlapping_uploads_never_add(database_url: str) -> None:
    add_patient(database_url)
    day = date(2024, 6, 1)
    morning = grid_with(day, "Europe/London", {i: 10 for i in range(0, 600)})
    overlap = grid_with(day, "Europe/London", {i: 10 for i in range(300, 900)})
    with database.session_scope(database_url) as s:
        assert upsert_grids(s, [morning])[0] is True
    with database.session_scope(database_url) as s:
        assert upsert_grids(s, [morning])[0] is False  # the same sync again changes nothing
        assert upsert_grids(s, [overlap])[0] is True
    with database.session_scope(database_url) as s:
        (stored,) = stored_grids(s, "p1", day, day)
        assert stored.total_steps == 900 * 10
        assert s.scalar(select(func.count()).select_from(GridRow)) == 1
        assert s.get(Patient, "p1").last_sync_at == datetime(2024, 6, 1, 14, 0, tzinfo=timezone.utc)


def test_naive_datetimes_are_refused(database_url: str) -> None:
    add_patient(database_url)
    with pytest.raises(Exception, match="naive"):
        with database.session_scope(database_url) as s:
            s.get(Patient, "p1").last_sync_at = datetime(2024, 1, 1)
            s.flush()


# -- bulk upsert ---------------------------------------------------------------------------

SRC2 = Source("fitbit-csv", "charge 6")
DAYS = (date(2024, 3, 30), date(2024, 3, 31))  # the second is 23 hours long in London


def sparse_grid(pid: str, src: Source, day: date, values: dict[int, float]) -> DayGrid:
    g = empty_grid(pid, src, day, "Europe/London", MINUTE)
    for i, v in values.items():
        g.steps[i % g.n_slots], g.worn[i % g.n_slots] = v, 1
    return g


def stored_state(url: str) -> tuple[dict[tuple[str, str, date], DayGrid],
                                     dict[str, datetime | None]]:
    """Every stored grid by (patient, source key, day), and each patient's last sync."""
    with database.session_scope(url) as s:
        grids = {(g.patient_id, g.source.key, g.local_date): g
                 for pid in ("p1", "p2") for g in stored_grids(s, pid, DAYS[0], DAYS[1])}
        return grids, {p.id: p.last_sync_at for p in s.scalars(select(Patient))}


def reset(url: str) -> None:
    with database.session_scope(url) as s:
        for pid in ("p1", "p2"):
            if s.get(Patient, pid) is None:
                s.add(Patient(id=pid, procedure="fusion", start_date=DAYS[0], tz="Europe/London"))
        s.query(GridRow).delete()
        s.query(SourceRow).delete()
        for p in s.scalars(select(Patient)):
            p.last_sync_at = None


sparse_grids = st.builds(
    sparse_grid, st.sampled_from(["p1", "p2"]), st.sampled_from([SRC, SRC2]),
    st.sampled_from(DAYS),
    st.dictionaries(st.integers(0, 1439), st.sampled_from([0.0, 7.0, 12.5]), max_size=6))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.lists(sparse_grids, max_size=4), batch=st.lists(sparse_grids, max_size=10))
def test_bulk_upsert_equals_one_upsert_per_grid(database_url: str, before: list[DayGrid],
                                                batch: list[DayGrid]) -> None:
    """Same flags, stored grids and last sync as upserting the batch one grid at a time,
    duplicates and repeated keys within the batch included."""
    results = []
    for bulk in (False, True):
        reset(database_url)
        with database.session_scope(database_url) as s:
            upsert_grids(s, before)
        with database.session_scope(database_url) as s:
            flags = upsert_grids(s, batch) if bulk else [upsert_grids(s, [g])[0] for g in batch]
        results.append((flags, stored_state(database_url)))
    (seq_flags, (seq_grids, seq_sync)), (bulk_flags, (bulk_grids, bulk_sync)) = results
    assert bulk_flags == seq_flags
    assert bulk_sync == seq_sync
    assert bulk_grids.keys() == seq_grids.keys()
    assert all(bulk_grids[k].same_data(seq_grids[k]) for k in seq_grids)


def test_bulk_upsert_overlays_and_is_idempotent(database_url: str) -> None:
    add_patient(database_url)
    add_patient(database_url, "p2")
    day = date(2024, 6, 1)
    morning = grid_with(day, "Europe/London", {i: 10 for i in range(0, 600)})
    overlap = grid_with(day, "Europe/London", {i: 10 for i in range(300, 900)})
    other = sparse_grid("p2", SRC2, day, {600: 50.0})
    batch = [morning, overlap, other, morning]
    with database.session_scope(database_url) as s:
        assert upsert_grids(s, batch) == [True, True, True, False]
    with database.session_scope(database_url) as s:
        assert upsert_grids(s, batch) == [False] * 4  # a replayed batch changes nothing
        assert upsert_grids(s, []) == []
    with database.session_scope(database_url) as s:
        (stored,) = stored_grids(s, "p1", day, day)
        assert stored.total_steps == 900 * 10  # overlaid, never added
        assert s.scalar(select(func.count()).select_from(GridRow)) == 2
        assert s.scalar(select(func.count()).select_from(SourceRow)) == 2
        assert s.get(Patient, "p1").last_sync_at == datetime(2024, 6, 1, 14, 0, tzinfo=timezone.utc)
        assert s.get(Patient, "p2").last_sync_at == datetime(2024, 6, 1, 9, 1, tzinfo=timezone.utc)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.lists(sparse_grids, max_size=4),
       batch=st.lists(sparse_grids, min_size=1, max_size=10))
def test_day_grids_hands_back_what_a_fresh_read_finds(database_url: str, before: list[DayGrid],
                                                      batch: list[DayGrid]) -> None:
    """Every grid of each touched day, other sources' included, as stored_grids reads them
    once the plan is written, though the plan's grids are not read back."""
    reset(database_url)
    with database.session_scope(database_url) as s:
        upsert_grids(s, before)
    with database.session_scope(database_url) as s:
        plan = plan_grids(s, batch)
        got = day_grids(s, plan)
        plan.write(s)
    assert set(got) == {(g.patient_id, g.local_date) for g in batch}
    with database.session_scope(database_url) as s:
        for (pid, day), grids in got.items():
            expected = stored_grids(s, pid, day, day)
            assert [g.source.key for g in grids] == [g.source.key for g in expected]
            assert all(a.same_data(b) and (a.origin, a.extra) == (b.origin, b.extra)
                       for a, b in zip(grids, expected))


def test_a_plan_writes_nothing_until_written(database_url: str) -> None:
    """plan_grids and day_grids only read, even for a source seen for the first time: nothing
    is stored until the plan is written."""
    add_patient(database_url)
    add_patient(database_url, "p2")
    day = date(2024, 6, 1)
    with database.session_scope(database_url) as s:
        upsert_grids(s, [grid_with(day, "Europe/London", {i: 5 for i in range(60)})])
    later = grid_with(day, "Europe/London", {i: 7 for i in range(30, 120)})
    first_of_source = sparse_grid("p2", SRC2, day, {600: 50.0})
    with database.session_scope(database_url) as s:
        plan = plan_grids(s, [later, grid_with(date(2024, 6, 2), "Europe/London", {5: 1}),
                              first_of_source])
        day_grids(s, plan)
        assert s.scalar(select(func.count()).select_from(GridRow)) == 1
        assert s.scalar(select(func.count()).select_from(SourceRow)) == 1
        assert s.get(Patient, "p1").last_sync_at == datetime(2024, 6, 1, 0, 0, tzinfo=timezone.utc)
        plan.write(s)
    with database.session_scope(database_url) as s:
        (stored,) = stored_grids(s, "p1", day, day)
        assert stored.total_steps == 30 * 5 + 90 * 7
        (new,) = stored_grids(s, "p2", day, day)
        assert new.source.key == SRC2.key and new.same_data(first_of_source)
        assert s.scalar(select(func.count()).select_from(GridRow)) == 3
        assert s.scalar(select(func.count()).select_from(SourceRow)) == 2


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_source_registered_between_plan_and_write_is_used_not_duplicated(
        database_url: str) -> None:
    """Another writer (an upload, a second worker) may register the same new device while a
    plan waits to be written: the write keeps that row and files its grids under it. (On
    SQLite no other writer can come between: a writing unit holds the write lock from its
    start, so this race is PostgreSQL's alone.)"""
    add_patient(database_url, "p2")
    day = date(2024, 6, 1)
    planned = sparse_grid("p2", SRC2, day, {600: 50.0})
    with database.session_scope(database_url) as s:
        plan = plan_grids(s, [planned])
        with database.session_scope(database_url) as other:
            upsert_grids(other, [sparse_grid("p2", SRC2, day + timedelta(days=1), {60: 9.0})])
        plan.write(s)
    with database.session_scope(database_url) as s:
        assert s.scalar(select(func.count()).select_from(SourceRow)) == 1
        first, second = stored_grids(s, "p2", day, day + timedelta(days=1))
        assert first.same_data(planned) and second.total_steps == 9.0


def test_last_sync_only_moves_forward_and_loaded_patients_see_it(database_url: str) -> None:
    add_patient(database_url)
    add_patient(database_url, "p2")
    t = [datetime(2024, 3, d, 12, tzinfo=timezone.utc) for d in (1, 2, 3)]
    with database.session_scope(database_url) as s:
        loaded = s.get(Patient, "p1")
        assert loaded is not None and loaded.last_sync_at is None
        advance_sync(s, {"p1": t[1], "p2": t[0]})
        assert loaded.last_sync_at == t[1]  # the object in the session is not stale
        advance_sync(s, {"p1": t[0], "p2": t[2]})
        record_sync(s, "p1", t[0])
        record_sync(s, "nobody", t[2])
    with database.session_scope(database_url) as s:
        assert {p.id: p.last_sync_at for p in s.scalars(select(Patient))} == {"p1": t[1],
                                                                              "p2": t[2]}


def test_migration_0006_keeps_grids_and_stops_compressing_arrays_again(database_url: str) -> None:
    """Down to 0005 and up again keeps the stored grids; on PostgreSQL the arrays (compressed
    by us already) are stored as they come and rows stay in the page up to 8,160 bytes."""
    from alembic import command
    from sqlalchemy import inspect, text

    add_patient(database_url)
    grid = grid_with(date(2024, 6, 1), "Europe/London", {i: i % 97 for i in range(1440)}, sed=True)
    with database.session_scope(database_url) as s:
        upsert_grids(s, [grid])
    command.downgrade(database.alembic_config(database_url), "0005")
    database.upgrade(database_url)
    engine = database.engine(database_url)
    indexed = {tuple(ix["column_names"]) for table in ("day_grids", "daily_summaries")
               for ix in inspect(engine).get_indexes(table)}
    assert ("patient_id",) not in indexed and ("local_date",) not in indexed
    with database.session_scope(database_url) as s:
        (back,) = stored_grids(s, "p1", grid.local_date, grid.local_date)
        assert back.same_data(grid)
        if s.get_bind().dialect.name != "postgresql":
            return
        storage = dict(s.execute(text(
            "SELECT attname, attstorage FROM pg_attribute WHERE attrelid = 'day_grids'::regclass "
            "AND attname IN ('steps', 'worn', 'sedentary_s', 'upright_s', 'stepping_s')")).all())
        options = s.scalar(text("SELECT reloptions FROM pg_class WHERE relname = 'day_grids'"))
    assert storage == dict.fromkeys(("steps", "worn", "sedentary_s", "upright_s", "stepping_s"), "e")
    assert options == ["toast_tuple_target=8160"]
