"""The stream end to end: real embedded broker, real ``rehabwatch.worker`` subprocesses, real
database (SQLite, and PostgreSQL for the crash/replay/late-data story).

The story tests of one database run in order on one module-scoped stream: a worker killed
mid-stream and restarted, then a replay of every topic by a fresh consumer group, then late
data, then the stream's final state against the batch path over the same grids.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import select, text

from processors.summary import summarize_grids
from rehabwatch.service import Service
from rehabwatch.settings import Settings
from storage import database
from rehabwatch.broker import EmbeddedBroker, free_port
from rehabwatch.publish import publish_grids
from schemas.daygrid import MINUTE, WEAR_UNKNOWN, WORN, DayGrid, Source
from storage.tables import AlertRow, DailySummaryRow, GridRow, NotificationRow, Patient
from schemas.records_json import to_json
from processors.stream_settings import TopicConfig
from schemas.wire import encode_grid
from tests.factories import upsert_grids
from tests.kafka_fixtures import REPO, Worker, consume, produce, wait_for, worker_env
from tests.receivers import SECRET, Hook, webhook_server

pytestmark = pytest.mark.kafka
LAST = datetime.now(UTC).date() - timedelta(days=1)  # yesterday: the newest complete day
FIRST = LAST - timedelta(days=9)
START = FIRST + timedelta(days=3)  # programme start; the first three days are the baseline
LATE_DAY = LAST - timedelta(days=1)  # the "late" patient's day that arrives last
STEADY = [f"s{i}" for i in range(6)]


# -- data --------------------------------------------------------------------------------

def day_grid(patient: str, day: date, level: float, worn_minutes: int = 840,
             source: str = "band") -> DayGrid:
    """A UTC minute grid: worn from 07:00 for ``worn_minutes``, a 15-minute walk every hour."""
    steps = np.full(1440, np.nan)
    worn = np.full(1440, WEAR_UNKNOWN, np.int8)
    steps[420:420 + worn_minutes] = 0.0
    worn[420:420 + worn_minutes] = WORN
    for walk in range(450, 420 + worn_minutes - 15, 60):
        steps[walk:walk + 15] = level + (day.toordinal() % 7)
    return DayGrid(patient, Source("csv", source), day, "UTC", MINUTE, steps=steps, worn=worn)


def halves(grid: DayGrid) -> list[DayGrid]:
    """The grid as two syncs of the same source (morning, then the rest): they overlay."""
    out = []
    for part in (slice(0, 720), slice(720, 1440)):
        steps, worn = np.full(1440, np.nan), np.full(1440, WEAR_UNKNOWN, np.int8)
        steps[part], worn[part] = grid.steps[part], grid.worn[part]
        out.append(DayGrid(grid.patient_id, grid.source, grid.local_date, "UTC", MINUTE,
                           steps=steps, worn=worn))
    return out


def backlog() -> list[DayGrid]:
    """Day-ordered syncs: steady patients (one with a second, overlapping source), an
    underactive one, and ``late`` whose device stopped after LAST-4 save one short day."""
    out: list[DayGrid] = []
    for d in range(10):
        day = FIRST + timedelta(days=d)
        for i, p in enumerate(STEADY):
            out += halves(day_grid(p, day, 60 + 5 * i))
        out.append(day_grid("s0", day, 40, worn_minutes=600, source="phone"))
        out.append(day_grid("low", day, 3))
        if day <= LAST - timedelta(days=4):
            out.append(day_grid("late", day, 70))
    out.append(day_grid("late", LAST, 70, worn_minutes=120))  # worn too little: not valid
    return out


LATE = day_grid("late", LATE_DAY, 70)
PATIENTS = [*STEADY, "low", "late"]


def records(grids: list[DayGrid]) -> list[tuple[str, bytes]]:
    return [(g.patient_id, encode_grid(g)) for g in grids]


# -- database views ----------------------------------------------------------------------

def new_database(url: str) -> None:
    if url.startswith("postgresql"):
        with database.engine(url).begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    database.upgrade(url)
    with database.session_scope(url) as session:
        session.add_all(Patient(id=p, procedure="microdiscectomy", start_date=START, tz="UTC")
                        for p in PATIENTS)


def summaries(url: str) -> dict[tuple[str, date], dict[str, Any]]:
    with database.session_scope(url) as session:
        return {(r.patient_id, r.local_date): r.payload
                for r in session.scalars(select(DailySummaryRow))}


def batch_summaries(grids: list[DayGrid]) -> dict[tuple[str, date], dict[str, Any]]:
    """What the batch path computes from the same grids (overlaid per key, then merged)."""
    stored: dict[tuple[str, str, date], DayGrid] = {}
    for g in grids:
        key = (g.patient_id, g.source.key, g.local_date)
        stored[key] = stored[key].overlay(g) if key in stored else g
    out = {}
    for p in {g.patient_id for g in grids}:
        for s in summarize_grids([g for g in stored.values() if g.patient_id == p]):
            out[(p, s.local_date)] = json.loads(to_json(s))  # as the payload reads back
    return out


def active_alerts(url: str) -> set[tuple[str, str, str, str]]:
    with database.session_scope(url) as session:
        return {(r.patient_id, r.rule, r.audience, r.severity) for r in session.scalars(
            select(AlertRow).where(AlertRow.episode_open.is_(True)))}


def snapshot(url: str) -> dict[str, Any]:
    """Everything a reprocessing could change: grids, summaries, alerts and transitions."""
    with database.session_scope(url) as session:
        grids = sorted((r.patient_id, r.source_id, r.local_date, r.steps, r.worn)
                       for r in session.scalars(select(GridRow)))
        alerts = sorted((r.id, r.status, r.severity, r.last_seen_on, len(r.transitions))
                        for r in session.scalars(select(AlertRow)))
    return {"grids": grids, "summaries": summaries(url), "alerts": alerts}


def settled(url: str, quiet_s: float = 2.0, timeout: float = 20.0) -> dict[str, Any]:
    """The database state once it has not changed for ``quiet_s`` (downstream agents done)."""
    last, deadline = snapshot(url), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = snapshot(url)
        if now == last:
            return now
        last = now
    raise AssertionError("database did not settle")


def processed(worker: Worker, topic: str) -> float:
    """Messages of ``topic`` the worker processed (its ``/metrics``; 0 until it serves)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics",
                                    timeout=5) as r:
            body = r.read().decode()
    except OSError:
        return 0.0
    found = re.search(rf'rehabwatch_messages_processed_total{{topic="{re.escape(topic)}"}} (\S+)',
                      body)
    return float(found.group(1)) if found else 0.0


# -- the story on one database -------------------------------------------------------------

@dataclass
class Stream:
    broker: EmbeddedBroker
    url: str
    env: dict[str, str]
    tmp: Path
    hook: Hook = field(default_factory=Hook)
    workers: list[Worker] = field(default_factory=list)
    published: list[DayGrid] = field(default_factory=list)

    def start(self, name: str, **extra: str) -> Worker:
        worker = Worker({**self.env, **extra}, self.tmp / f"{name}.log")
        self.workers.append(worker)
        return worker

    def publish(self, grids: list[DayGrid]) -> None:
        produce(self.broker, self.env["RW_TOPIC_DAYGRIDS"], records(grids))
        self.published += grids


@pytest.fixture(scope="module", params=["sqlite",
                                        pytest.param("postgresql", marks=pytest.mark.postgres)])
def stream(request: pytest.FixtureRequest, kafka_broker: EmbeddedBroker,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stream]:
    tmp = tmp_path_factory.mktemp(f"e2e-{request.param}")
    url = (f"sqlite:///{tmp / 'rw.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    new_database(url)
    with webhook_server() as hook:
        env = worker_env(kafka_broker, f"e2e-{request.param}", tmp, RW_DATABASE_URL=url,
                         RW_STREAM_BATCH_MAX="10", RW_NOTIFY_WEBHOOK_URL=hook.url,
                         RW_NOTIFY_WEBHOOK_SECRET=SECRET, RW_NOTIFY_RETRY_S="2",
                         RW_NOTIFY_WEBHOOK_ROUTES="clinician,patient,monitoring")
        s = Stream(kafka_broker, url, env, tmp, hook)
        try:
            yield s
        finally:
            for worker in s.workers:
                worker.stop()
            database.engine(url).dispose()


def test_sigkill_mid_stream_loses_no_day_and_counts_no_step_twice(stream: Stream) -> None:
    grids = backlog()
    first = stream.start("w1")
    first.wait_assigned()
    stream.publish(grids[:len(grids) // 2])
    wait_for(lambda: len(summaries(stream.url)) >= 5, 20, first.tail)
    first.kill()  # mid-stream: uncommitted offsets, the second half not even published
    stream.publish(grids[len(grids) // 2:])
    second = stream.start("w2")
    expected = batch_summaries(grids)
    wait_for(lambda: summaries(stream.url) == expected, 25, second.tail)
    state = settled(stream.url)
    assert ("late", "missing_data", "clinician", "warning") in active_alerts(stream.url)
    assert len(state["grids"]) == len({(g.patient_id, g.source, g.local_date) for g in grids})


def test_replaying_every_topic_from_the_beginning_changes_nothing(stream: Stream) -> None:
    before = settled(stream.url)
    replay = stream.start("replay", RW_STREAM_APP_ID=stream.env["RW_STREAM_APP_ID"] + "-replay")
    replay.wait_assigned()
    topic = stream.env["RW_TOPIC_DAYGRIDS"]
    wait_for(lambda: processed(replay, topic) >= len(stream.published), 25, replay.tail)
    assert settled(stream.url) == before
    replay.stop()


def test_late_data_recomputes_its_day_and_resolves_missing_data(stream: Stream) -> None:
    stream.publish([LATE])
    expected = batch_summaries(stream.published)
    wait_for(lambda: summaries(stream.url).get(("late", LATE_DAY)) == expected[("late", LATE_DAY)],
             20, stream.workers[1].tail)
    wait_for(lambda: not any(a[:2] == ("late", "missing_data") and a[2] == "clinician"
                             for a in active_alerts(stream.url)), 20, stream.workers[1].tail)
    with database.session_scope(stream.url) as session:
        resolved = session.scalars(select(AlertRow).where(
            AlertRow.patient_id == "late", AlertRow.rule == "missing_data",
            AlertRow.audience == "clinician")).all()
    assert [r.status for r in resolved] == ["resolved"]


def test_stream_and_batch_give_identical_summaries_and_alerts(stream: Stream,
                                                              tmp_path: Path) -> None:
    final = settled(stream.url)
    batch_url = f"sqlite:///{tmp_path / 'batch.db'}"
    new_database(batch_url)
    with database.session_scope(batch_url) as session:
        for grid in stream.published:
            upsert_grids(session, [grid])
    Service(Settings(database_url=batch_url)).evaluate_all(LAST)
    assert final["summaries"] == summaries(batch_url)
    assert active_alerts(stream.url) == active_alerts(batch_url)
    assert active_alerts(stream.url)  # the comparison is not vacuous
    assert not consume(stream.broker, stream.env["RW_TOPIC_DEADLETTER"], 1, timeout=2)
    database.engine(batch_url).dispose()


def test_the_alerts_raised_reach_the_care_team_webhook_signed(stream: Stream) -> None:
    def outbox() -> dict[str, NotificationRow]:
        with database.session_scope(stream.url) as session:
            return {r.id: r for r in session.scalars(select(NotificationRow))}

    def sent() -> bool:
        rows = outbox().values()
        return bool(rows) and all(r.delivered_at or r.route == "digest" for r in rows)

    wait_for(sent, 20, stream.workers[-1].tail)
    rows = outbox()
    payloads = {p["data"]["id"]: p["data"] for p in stream.hook.verified()}
    assert set(stream.hook.accepted_ids()) == {i for i, r in rows.items() if r.delivered_at}
    assert ("late", "missing_data", "clinician") in {(r.patient_id, r.rule, r.route)
                                                     for r in rows.values()}
    assert {r.route for r in rows.values() if r.delivered_at} == {"clinician", "patient"}
    assert all(payloads[i]["patient_id"] == r.patient_id for i, r in rows.items()
               if r.delivered_at)
    # no channel serves the digest here: said, not left waiting
    assert all(r.last_error == "no channel configured for route digest"
               for r in rows.values() if r.route == "digest")


# -- scale-out -----------------------------------------------------------------------------

def test_two_workers_share_partitions_and_store_each_day_once(
        kafka_broker: EmbeddedBroker, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rw.db'}"
    new_database(url)
    env = worker_env(kafka_broker, "e2e-two", tmp_path, RW_DATABASE_URL=url,
                     RW_STREAM_BATCH_MAX="10")
    stream = Stream(kafka_broker, url, env, tmp_path)
    try:
        one = stream.start("w1")
        one.wait_assigned()
        two = stream.start("w2")
        two.wait_assigned()
        one.wait_assigned(times=2)  # the rebalance that shared the partitions
        grids = backlog()
        stream.publish(grids)
        wait_for(lambda: summaries(url) == batch_summaries(grids), 25, one.tail)
        topic = env["RW_TOPIC_DAYGRIDS"]
        counts = [processed(w, topic) for w in (one, two)]
    finally:
        for worker in stream.workers:
            worker.stop()
        database.engine(url).dispose()
    assert all(n > 0 for n in counts) and sum(counts) == len(grids)  # shared, each once
    with database.session_scope(url) as session:
        keys = session.execute(select(DailySummaryRow.patient_id, DailySummaryRow.local_date)
                               ).all()
    assert len(keys) == len(set(keys)) == len(batch_summaries(grids))


# -- rehabwatch up ---------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    return [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
            for c in (t / "children").read_text().split()]


def test_up_runs_broker_and_worker_and_stops_them_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rw.db'}"
    env = {k: v for k, v in os.environ.items() if k != "RW_KAFKA_URL"}
    env.update(PYTHONPATH=str(REPO), RW_DATABASE_URL=url, RW_WORKER_WEB_PORT=str(free_port()),
               RW_STREAM_DATADIR=str(tmp_path / "faust"), RW_API_PORT="0")
    up = subprocess.Popen([sys.executable, "-c", "import sys; from rehabwatch.stack import "
                           "run_up; from rehabwatch.settings import load; "
                           "sys.exit(run_up(load()))"], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = up.stdout.readline().strip()
        assert line.startswith("RW_KAFKA_URL=kafka://127.0.0.1:")
        api_url = up.stdout.readline().strip().removeprefix("RW_API_URL=")
        assert httpx.get(f"{api_url}/readyz").json() == {"status": "ready"}
        children = _children(up.pid)
        assert len(children) == 2  # broker and worker
        with database.session_scope(url) as session:
            session.add(Patient(id="s0", procedure="microdiscectomy", start_date=START, tz="UTC"))
        grid = day_grid("s0", LAST, 60)
        assert publish_grids(line.removeprefix("RW_KAFKA_URL="), [grid], TopicConfig()) == 1
        wait_for(lambda: summaries(url).get(("s0", LAST)) == batch_summaries([grid])[("s0", LAST)],
                 25)
        up.send_signal(signal.SIGTERM)
        assert up.wait(30) == 0
    finally:
        if up.poll() is None:
            up.kill()
        database.engine(url).dispose()
    assert not [c for c in children if Path(f"/proc/{c}").exists()]
