"""The worker's summary cache: never stale against the database, on any interleaving of its
own writes, other writers' writes and reads; and on SQLite and PostgreSQL, reads through it
see what another session wrote."""

from datetime import date, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from storage import summaries
from storage import database
from storage.summary_cache import SummaryCache
from storage.tables import Patient
from schemas.records import DailySummary
from tests.test_evaluate import days_csv, span

DAY0 = date(2024, 6, 1)


def summary(day: int, steps: float, patient: str = "P") -> DailySummary:
    return DailySummary(patient, DAY0 + timedelta(days=day), steps, True, True, 900, 800,
                        "device", 60)


class Database:
    """What the cache stands in front of: one patient's stored days and summaries_rev."""

    def __init__(self) -> None:
        self.rev = 0
        self.days: dict[date, DailySummary] = {}

    def write(self, written: list[DailySummary]) -> int:
        self.days.update((s.local_date, s) for s in written)
        self.rev += 1
        return self.rev

    def read(self, lo: int, hi: int) -> list[DailySummary]:
        first, last = DAY0 + timedelta(days=lo), DAY0 + timedelta(days=hi)
        return [self.days[d] for d in sorted(self.days) if first <= d <= last]


write = st.tuples(st.just("write"), st.booleans(),
                  st.lists(st.tuples(st.integers(0, 30), st.integers(0, 9000)), max_size=3))
read = st.tuples(st.just("read"), st.integers(0, 30), st.integers(0, 10))


@given(st.lists(st.one_of(write, read), max_size=40))
def test_reads_through_the_cache_always_equal_the_database(steps: list[tuple]) -> None:
    """Writes are the worker's own (reported to the cache once committed) or another
    writer's (not reported); a read takes the revision first, as evaluation does, and
    fills the cache on a miss."""
    store, cache = Database(), SummaryCache()
    for op, *args in steps:
        if op == "write":
            own, days = args
            written = [summary(d, steps) for d, steps in days]
            rev = store.write(written)
            if own:
                cache.wrote({"P": rev}, written)
        else:
            lo, length = args
            hi = lo + length
            rev = store.rev
            spans = [(DAY0 + timedelta(days=lo), DAY0 + timedelta(days=hi))]
            found = cache.get("P", rev, spans)
            if found is None:
                found = store.read(lo, hi)
                cache.put("P", rev, spans, found)
            assert found == store.read(lo, hi)


def test_a_write_landing_between_the_revision_and_the_read_is_reloaded_next_time() -> None:
    """Data read after another writer committed, under the older revision, is newer than its
    label: the next read sees a revision it was not cached under and reloads."""
    cache = SummaryCache()
    spans = [(DAY0, DAY0 + timedelta(days=5))]
    cache.put("P", 3, spans, [summary(0, 4000)])  # read at rev 3, includes rev 4's write
    assert cache.get("P", 4, spans) is None
    cache.put("P", 4, spans, [summary(0, 4000)])
    cache.wrote({"P": 6}, [summary(1, 5000)])  # our write is 6: someone wrote 5 meanwhile
    assert cache.get("P", 6, spans) is None


def test_only_covered_days_are_served_and_the_oldest_patient_goes_first() -> None:
    cache = SummaryCache(max_patients=2)
    week = [(DAY0, DAY0 + timedelta(days=6))]
    cache.put("A", 1, week, [summary(0, 1000, "A")])
    assert cache.get("A", 1, [(DAY0, DAY0 + timedelta(days=7))]) is None  # day 7 unknown
    cache.wrote({"A": 2}, [summary(7, 2000, "A")])
    assert [s.steps for s in cache.get("A", 2, [(DAY0, DAY0 + timedelta(days=7))])] == [1000,
                                                                                       2000]
    cache.put("B", 1, week, [])
    cache.put("C", 1, week, [])
    assert len(cache) == 2 and cache.get("A", 2, week) is None and cache.get("B", 1, week) == []


def test_stored_summaries_through_the_cache_see_another_sessions_write(
        rw, tmp_path: Path, database_url: str) -> None:
    f = days_csv(tmp_path / "p1.csv", span(DAY0, DAY0 + timedelta(days=9), 4000))
    assert rw("ingest", str(f), "--patient", "P1")[0] == 0
    assert rw("evaluate", "--as-of", "2024-06-10")[0] == 0  # stores the summaries
    windows = {"P1": [(DAY0, DAY0 + timedelta(days=9))]}
    cache = SummaryCache()

    def read() -> list[int]:
        with database.session_scope(database_url) as session:
            rev = {"P1": session.scalar(select(Patient.summaries_rev).where(
                Patient.id == "P1"))}
            return [round(s.steps) for s in
                    summaries.stored_summaries(session, windows, cache, rev)["P1"]]

    assert read() == [4000] * 10 and len(cache) == 1
    with database.session_scope(database_url) as session:  # another writer changes day 3
        summaries.upsert_summaries(session, [summary(3, 9999, "P1")])
    assert read() == [4000] * 3 + [9999] + [4000] * 6
    with database.session_scope(database_url) as session:  # the worker's own write, reported
        cache.wrote(summaries.upsert_summaries(session, [summary(4, 7777, "P1")]),
                    [summary(4, 7777, "P1")])
    assert read() == [4000] * 3 + [9999, 7777] + [4000] * 5
