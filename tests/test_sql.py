"""storage.sql.one_of: ``IN`` with the values bound as one parameter, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import (Column, Date, Integer, MetaData, String, Table, create_engine, select,
                        update)
from sqlalchemy.engine import Engine

from storage.sql import one_of

META = MetaData()
T = Table("t", META, Column("id", Integer, primary_key=True), Column("name", String(64)),
          Column("day", Date))
DAY0 = date(2026, 1, 1)
ROWS = [dict(id=i, name=f"n{i}", day=DAY0 + timedelta(days=i % 7)) for i in range(1, 41)]


@pytest.fixture
def eng(database_url: str) -> Engine:
    e = create_engine(database_url)
    META.drop_all(e)
    META.create_all(e)
    with e.begin() as c:
        c.execute(T.insert(), ROWS)
    return e


def _ids(e: Engine, *where: object) -> list[int]:
    with e.connect() as c:
        return sorted(c.scalars(select(T.c.id).where(*where)))


def test_matches_in_for_every_column_type(eng: Engine) -> None:
    names = ["n3", "n4", "n39", "missing", "n3"]
    days = [DAY0, DAY0 + timedelta(days=3)]
    assert _ids(eng, one_of(T.c.name, names)) == _ids(eng, T.c.name.in_(names)) == [3, 4, 39]
    assert _ids(eng, one_of(T.c.day, days)) == _ids(eng, T.c.day.in_(days))
    assert _ids(eng, one_of(T.c.id, {5, 6, 99})) == [5, 6]
    assert _ids(eng, one_of(T.c.name, names), one_of(T.c.day, days)) == [3]
    assert _ids(eng, one_of(T.c.id, [])) == []


def test_in_updates_with_returning(eng: Engine) -> None:
    with eng.begin() as c:
        changed = c.execute(update(T).where(one_of(T.c.id, [1, 2])).values(name="x")
                            .returning(T.c.id)).scalars().all()
    assert sorted(changed) == [1, 2] and _ids(eng, T.c.name == "x") == [1, 2]


def test_statement_text_does_not_depend_on_the_number_of_values(eng: Engine) -> None:
    texts = {str(select(T.c.id).where(one_of(T.c.id, range(n))).compile(eng))
             for n in (1, 10, 1000)}
    assert len(texts) == 1


@settings(max_examples=40, deadline=None)
@given(ids=st.lists(st.integers(-5, 50), max_size=60))
def test_same_rows_as_in_sqlite(ids: list[int]) -> None:
    e = create_engine("sqlite://")
    META.create_all(e)
    with e.begin() as c:
        c.execute(T.insert(), ROWS)
    assert _ids(e, one_of(T.c.id, ids)) == _ids(e, T.c.id.in_(ids))


def test_update_each_sets_per_key_and_forward_only(database_url: str) -> None:
    from storage import database
    from storage.tables import Patient
    from storage.sql import update_each

    table = Patient.__table__
    t0 = datetime(2026, 5, 1, 8, 30, tzinfo=timezone.utc)
    with database.session_scope(database_url) as s:
        s.add_all(Patient(id=f"p{i}", procedure="microdiscectomy", start_date=DAY0, tz="UTC")
                  for i in range(3))
    with database.session_scope(database_url) as s:
        update_each(s, table.c.id, table.c.last_sync_at,
                    {"p0": t0, "p1": t0 + timedelta(hours=1), "nobody": t0}, forward_only=True)
        update_each(s, table.c.id, table.c.evaluated_through, {"p1": DAY0, "p2": DAY0})
    with database.session_scope(database_url) as s:  # earlier times never move a sync back
        update_each(s, table.c.id, table.c.last_sync_at,
                    {"p0": t0 + timedelta(minutes=1), "p1": t0, "p2": t0}, forward_only=True)
        update_each(s, table.c.id, table.c.evaluated_through, {})
    with database.session_scope(database_url) as s:
        got = {p.id: (p.last_sync_at, p.evaluated_through) for p in s.query(Patient)}
    assert got == {"p0": (t0 + timedelta(minutes=1), None),
                   "p1": (t0 + timedelta(hours=1), DAY0), "p2": (t0, DAY0)}
