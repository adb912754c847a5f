"""Commands run at the same time, for real (separate processes), on SQLite and PostgreSQL:
the same file ingested twice at once is stored once; an ingest and a second evaluate go
through while a long evaluate runs; a lock held past the wait is one clear line and the rest
of the folder goes on."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from storage import database
from storage.tables import GridRow, Upload
from tests.conftest import REPO

START = date(2024, 1, 1)


def day_csv(path: Path, day: date, steps: int) -> Path:
    """One local day of minute steps, 08:00-09:59."""
    path.write_text("timestamp,steps\n" + "".join(
        f"{day.isoformat()}T{8 + m // 60:02d}:{m % 60:02d}:00,{steps}\n" for m in range(120)))
    return path


def cli(url: str, *argv: str, wrap: str = "") -> subprocess.Popen[str]:
    """``rehabwatch ARGV`` in a process of its own (``wrap``: Python run first in it)."""
    code = f"{wrap}\nimport sys\nfrom rehabwatch.cli import main\nsys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "RW_DATABASE_URL": url, "PYTHONPATH": str(REPO)}
    env.pop("RW_KAFKA_URL", None)
    return subprocess.Popen([sys.executable, "-c", code, *argv], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_the_same_files_ingested_twice_at_once_are_stored_once(
        rw: Any, tmp_path: Path, database_url: str) -> None:
    import json

    folder = tmp_path / "exports"
    folder.mkdir()
    for k in range(6):
        day_csv(folder / f"day{k}.csv", START + timedelta(days=k), 10 + k)
    both = [cli(database_url, "ingest", str(folder), "--patient", "P1", "--json")
            for _ in range(2)]
    outs = [proc.communicate(timeout=120) for proc in both]
    assert [proc.returncode for proc in both] == [0, 0], [err for _, err in outs]
    assert not any("Traceback" in err for _, err in outs)
    by_file: dict[str, list[str]] = {}
    for out, _ in outs:
        for upload in json.loads(out)["uploads"]:
            by_file.setdefault(Path(upload["file"]).name, []).append(upload["status"])
    assert {name: sorted(s) for name, s in by_file.items()} == {
        f"day{k}.csv": ["duplicate", "stored"] for k in range(6)}
    with database.session_scope(database_url) as s:
        assert Counter(s.scalars(select(Upload.status))) == {"stored": 6, "duplicate": 6}
        assert s.scalar(select(func.count()).select_from(GridRow)) == 6
        assert s.scalar(select(func.sum(GridRow.total_steps))) == 120 * sum(
            10 + k for k in range(6))


#: Run first in the long evaluate's process: every chunk of summaries covers 10 days and
#: takes 0.25 s longer to write, holding the write lock (SQLite) or the patient's row
#: (PostgreSQL) meanwhile; a file marks when the first one began.
SLOW = """
import time
from pathlib import Path
import rehabwatch.service as service
service.SUMMARIZE_CHUNK_DAYS = 10
_write = service.write_rebuilt
def slow(*args):
    Path({marker!r}).touch()
    time.sleep(0.25)
    _write(*args)
service.write_rebuilt = slow
"""


def test_an_ingest_and_a_second_evaluate_go_through_during_a_long_evaluate(
        rw: Any, tmp_path: Path, database_url: str) -> None:
    """The long evaluate holds the write lock (SQLite) or the patient's row (PostgreSQL) for
    0.25 s at a time over ~5 s; an ingest for another patient finishes long before it does,
    and a second evaluate succeeds."""
    history = tmp_path / "history.csv"
    history.write_text("timestamp,steps,duration_s\n" + "".join(
        f"{START + timedelta(days=k)}T00:00:00,{4000 + k},86400\n" for k in range(200)))
    assert rw("ingest", str(history), "--patient", "P1")[0] == 0
    assert rw("patient", "add", "P2", "--procedure", "microdiscectomy", "--start-date",
              START.isoformat(), "--tz", "Europe/London")[0] == 0
    marker = tmp_path / "evaluating"
    long = cli(database_url, "evaluate", wrap=SLOW.format(marker=str(marker)))
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert long.poll() is None and time.monotonic() < deadline, long.communicate()
        time.sleep(0.05)
    started = time.monotonic()
    code, out = rw("ingest", str(day_csv(tmp_path / "p2.csv", START, 30)), "--patient", "P2")
    ingest_s = time.monotonic() - started
    assert code == 0 and out.startswith("stored"), out
    assert long.poll() is None, "the long evaluate ended before the ingest: not a race"
    assert ingest_s < 2.0, f"the ingest waited {ingest_s:.2f} s"
    code, out = rw("evaluate", "--json")
    assert code == 0 and out["days"] == 201, out
    _, err = long.communicate(timeout=120)
    assert long.returncode == 0, err


def hold_lock(url: str, seconds: float, held: threading.Event,
              release: threading.Event | None = None) -> None:
    """Hold what an ingest for P1 needs, SQLite's write lock or P1's row on PostgreSQL, for
    ``seconds`` (or until ``release``)."""
    eng = create_engine(url.split("?")[0])
    with eng.connect() as conn:
        if eng.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        conn.execute(text("SELECT id FROM patients WHERE id = 'P1' FOR UPDATE")
                     if eng.dialect.name == "postgresql" else text("SELECT 1"))
        held.set()
        (release or threading.Event()).wait(seconds)
        conn.rollback()
    eng.dispose()


def short_wait(url: str, seconds: float) -> str:
    if url.startswith("sqlite"):
        return f"{url}?timeout={seconds}"
    return f"{url}?options=-c%20lock_timeout%3D{int(seconds * 1000)}"


def test_a_lock_past_the_wait_fails_one_file_and_the_folder_goes_on(
        rw: Any, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The lock is held 3 s; each file waits 2 s: the first file fails with one retryable
    line, the second gets the lock when it is released, and the exit code says one failed."""
    from rehabwatch.cli import main

    folder = tmp_path / "exports"
    folder.mkdir()
    day_csv(folder / "a.csv", START, 10)
    day_csv(folder / "b.csv", START + timedelta(days=1), 20)
    monkeypatch.setenv("RW_DATABASE_URL", short_wait(database_url, 2.0))
    held = threading.Event()
    holder = threading.Thread(target=hold_lock, args=(database_url, 3.0, held))
    holder.start()
    held.wait(10)
    code = main(["ingest", str(folder), "--patient", "P1"])
    holder.join()
    out = capsys.readouterr()
    assert code == 1
    (failed,) = out.err.strip().splitlines()
    assert failed.startswith(f"failed {folder / 'a.csv'}: ") and "try again" in failed
    assert out.out.startswith(f"stored {folder / 'b.csv'}")
    with database.session_scope(database_url) as s:
        assert list(s.scalars(select(Upload.filename))) == ["b.csv"]


def test_a_lock_past_the_wait_is_one_line_without_a_traceback(
        rw: Any, tmp_path: Path, database_url: str) -> None:
    """Another process holds the lock longer than the wait of ``evaluate``."""
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_lock, args=(database_url, 60.0, held, release))
    holder.start()
    held.wait(10)
    proc = cli(short_wait(database_url, 0.5), "evaluate")
    _, err = proc.communicate(timeout=60)
    release.set()
    holder.join()
    assert proc.returncode == 1
    assert err.count("\n") == 1 and err.startswith("rehabwatch: ") and "try again" in err, err


def test_summaries_rebuilt_while_an_ingest_writes_are_rebuilt_again(
        rw: Any, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """evaluate computes a chunk of summaries outside the write lock; an ingest that writes
    the patient's summaries in between makes it compute them again, never store stale ones."""
    import rehabwatch.service as service
    from rehabwatch.settings import load

    def daily(name: str, steps: list[int]) -> Path:
        path = tmp_path / name
        path.write_text("timestamp,steps,duration_s\n" + "".join(
            f"{START + timedelta(days=k)}T00:00:00,{n},86400\n" for k, n in enumerate(steps)))
        return path

    assert rw("ingest", str(daily("first.csv", [1000, 2000, 3000])), "--patient", "P1")[0] == 0
    computed = service.rebuilt_days

    def racing(session: Any, patient_id: str, days: Any) -> Any:
        found = computed(session, patient_id, days)
        if not racing.done:  # type: ignore[attr-defined]
            racing.done = True  # type: ignore[attr-defined]
            assert rw("ingest", str(daily("later.csv", [1500])), "--patient", "P1")[0] == 0
        return found
    racing.done = False  # type: ignore[attr-defined]
    monkeypatch.setattr(service, "rebuilt_days", racing)
    service.Service(load())._rebuild("P1", [START + timedelta(days=k) for k in range(3)])
    code, doc = rw("summary", "P1", "--json")
    assert [d["steps"] for d in doc["days"]] == [1500, 2000, 3000]


def test_reading_commands_never_wait_for_a_writer(
        rw: Any, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """While another process holds the write lock (SQLite) or the patient's row
    (PostgreSQL), commands that only read answer at once (a 0.5 s wait would fail them)."""
    monkeypatch.setenv("RW_DATABASE_URL", short_wait(database_url, 0.5))
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_lock, args=(database_url, 60.0, held, release))
    holder.start()
    held.wait(10)
    try:
        assert rw("summary", "P1", "--json")[0] == 0
        assert rw("alerts", "--patient", "P1", "--json")[0] == 0
        assert rw("patient", "show", "P1", "--json")[0] == 0
        code, err = rw("evaluate")  # a writer does wait, and says so
        assert code == 1 and "try again" in err
    finally:
        release.set()
        holder.join()
