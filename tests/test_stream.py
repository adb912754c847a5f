"""Stream delivery mechanics against the real embedded broker and real worker processes.

The worker here runs with recording handlers (see ``tests/kafka_fixtures.py``), so these tests
prove ordering, dead-lettering, the no-traffic timer and partition sharing on their own.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer

from processors.faust_app import FETCH_MAX_WAIT_S, cap_fetch_wait
from processors.stream import copartition_problem
from processors.topics import ensure_topics
from rehabwatch.broker import EmbeddedBroker
from schemas.daygrid import MINUTE, DayGrid, Source
from tests.factories import empty_grid
from processors.stream_settings import TopicConfig
from schemas.wire import HEADER_DLQ_REASON, HEADER_DLQ_SOURCE, encode_grid
from tests.kafka_fixtures import (Recorder, Worker, consume, create_topics, produce, wait_for,
                                  worker_env)

pytestmark = pytest.mark.kafka
FAKE_WORKER = "tests.kafka_fixtures"
DAY0 = date(2024, 6, 1)


def grid(patient: str, day: date, steps: float) -> DayGrid:
    g = empty_grid(patient, Source("csv", "test"), day, "UTC", MINUTE)
    values = np.full(g.n_slots, np.nan)
    values[600] = steps
    return DayGrid(patient, g.source, day, "UTC", MINUTE, steps=values, worn=g.worn)


def grids(patients: list[str], days: int) -> list[tuple[str, bytes]]:
    """Day-ordered grids, interleaved across patients as a cohort's uploads would be."""
    return [(p, encode_grid(grid(p, DAY0 + timedelta(days=d), 100 + d)))
            for d in range(days) for p in patients]


@pytest.fixture(scope="module")
def one_worker(kafka_broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[Worker, Recorder]]:
    tmp = tmp_path_factory.mktemp("one")
    env = worker_env(kafka_broker, "one", tmp, RW_TEST_RECORD=str(tmp / "calls.jsonl"),
                     RW_TEST_SILENT="quiet-1", RW_MISSING_DATA_SCAN_S="1",
                     RW_NOTIFY_RETRY_S="1",
                     RW_STREAM_BATCH_MAX="8")  # many batches: the next is taken while one runs
    worker = Worker(env, tmp / "worker.log", module=FAKE_WORKER)
    try:
        worker.wait_assigned()
        yield worker, Recorder(tmp / "calls.jsonl", [])
    finally:
        worker.stop()


def test_timer_raises_missing_data_with_no_traffic(one_worker: tuple[Worker, Recorder]) -> None:
    worker, calls = one_worker
    assert not calls.calls("grid")  # nothing was ever published to this worker's topics
    notified = wait_for(lambda: calls.calls("notify"), 20, worker.tail)
    assert notified[0]["patient"] == "quiet-1" and notified[0]["rule"] == "missing_data"
    assert notified[0]["alert"] == "al_quiet-1_missing_data"  # the agent passes the alert id
    assert calls.calls("check")[0]["trigger"] == "missing-data"
    assert wait_for(lambda: calls.calls("deliver_due"), 10, worker.tail)  # the retry timer


def test_order_per_patient_dead_letters_and_metrics(
        kafka_broker: EmbeddedBroker, one_worker: tuple[Worker, Recorder]) -> None:
    worker, calls = one_worker
    patients = [f"p{i}" for i in range(6)]
    records = grids(patients, 20)
    records.insert(30, ("garbage", b"not a day grid"))
    records.insert(61, ("poison-1", encode_grid(grid("poison-1", DAY0, 5))))
    records.insert(90, ("sick-1", encode_grid(grid("sick-1", DAY0, 7))))
    produce(kafka_broker, "one.daygrids", records)
    produce(kafka_broker, "one.candidates", [("garbage-check", b'{"v": 1, "type": "Nope"}')])

    done = wait_for(lambda: len(calls.calls("grid")) >= 121 and calls.calls("grid"), 60,
                    worker.tail)
    days: dict[str, list[str]] = defaultdict(list)
    for call in done:
        days[call["patient"]].append(call["day"])
    assert set(days) == {*patients, "sick-1"}  # nothing lost after the poison messages
    # in order, once each: a failed evaluation stores nothing twice
    assert all(d == sorted(d) and len(d) == 20 for p, d in days.items() if p in patients)
    assert days["sick-1"] == [DAY0.isoformat()]
    assert not calls.calls("overlap")  # one batch at a time reaches the handlers

    dead = {k: h for k, _, h in consume(kafka_broker, "one.deadletter", 4)}
    assert sorted(dead) == [b"garbage", b"garbage-check", b"poison-1", b"sick-1"]
    assert dead[b"sick-1"][HEADER_DLQ_REASON].startswith(b"evaluate: ValueError: sick")
    assert dead[b"garbage"][HEADER_DLQ_REASON].startswith(b"decode: WireError")
    assert dead[b"garbage-check"][HEADER_DLQ_REASON].startswith(b"decode: WireError")
    assert dead[b"garbage-check"][HEADER_DLQ_SOURCE].startswith(b"one.candidates/")
    assert b"poison grid" in dead[b"poison-1"][HEADER_DLQ_REASON]
    # the failed batch evaluation is logged for operators, without naming the patient
    retried = [line for line in worker.log.read_text(errors="replace").splitlines()
               if "evaluating each alone" in line]
    assert retried and not any("sick" in line for line in retried)

    wait_for(lambda: {c["patient"] for c in calls.calls("check")} >= set(patients), 20)
    wait_for(lambda: _scrape(worker, 'rehabwatch_open_alerts{'), 10)
    # counted once the batch is acknowledged, a moment after the handler saw it
    text = wait_for(lambda: _scrape(
        worker, 'rehabwatch_messages_processed_total{topic="one.daygrids"} 120.0'), 10)
    assert 'rehabwatch_messages_failed_total{stage="decode",topic="one.daygrids"} 1.0' in text
    assert 'rehabwatch_messages_failed_total{stage="decode",topic="one.candidates"} 1.0' in text
    assert 'rehabwatch_processing_seconds_count{agent="process"}' in text
    assert 'rehabwatch_alerts_raised_total{rule="underactivity"}' in text
    assert 'rehabwatch_notifications_undelivered{route="clinician",state="failed"} 2.0' in text
    assert "rehabwatch_event_time_lag_seconds_count" in text
    assert "p0" not in text  # no patient identifier in any label


def _scrape(worker: Worker, needle: str) -> str | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return text if needle in text else None


def test_two_workers_share_partitions_each_patient_once(
        kafka_broker: EmbeddedBroker, tmp_path: Path) -> None:
    env = worker_env(kafka_broker, "two", tmp_path, RW_TEST_RECORD=str(tmp_path / "c.jsonl"))
    first = Worker(env, tmp_path / "w1.log", module=FAKE_WORKER)
    second = None
    try:
        first.wait_assigned()
        second = Worker(env, tmp_path / "w2.log", module=FAKE_WORKER)
        second.wait_assigned()
        first.wait_assigned(times=2)  # the rebalance that gave the second its share
        patients = [f"q{i}" for i in range(40)]
        produce(kafka_broker, "two.daygrids", grids(patients, 5))
        calls = Recorder(tmp_path / "c.jsonl", [])
        done = wait_for(lambda: len(calls.calls("grid")) >= 200 and calls.calls("grid"), 60,
                        first.tail)
    finally:
        first.stop()
        if second is not None:
            second.stop()
    owners: dict[str, set[int]] = defaultdict(set)
    for call in done:
        owners[call["patient"]].add(call["worker"])
    assert len(done) == 200  # every grid exactly once
    assert all(len(w) == 1 for w in owners.values())  # one worker per patient
    assert {first.proc.pid, second.proc.pid} == set().union(*owners.values())


def test_a_worker_refuses_input_topics_of_different_sizes(kafka_broker: EmbeddedBroker,
                                                          tmp_path: Path) -> None:
    """A patient's grids and missing-data checks must reach the same worker."""
    create_topics(kafka_broker, {"skew.daygrids": 2, "skew.candidates": 4})
    env = worker_env(kafka_broker, "skew", tmp_path, RW_TEST_RECORD=str(tmp_path / "c.jsonl"))
    worker = Worker(env, tmp_path / "w.log", module=FAKE_WORKER)
    try:
        assert worker.proc.wait(60) != 0
    finally:
        worker.stop()
    log = worker.log.read_text(errors="replace")
    assert "skew.daygrids and skew.candidates as one stream" in log
    assert "they have 2 and 4" in log


def test_only_known_different_partition_counts_are_a_problem() -> None:
    assert copartition_problem("d", 8, "c", 8) is None
    assert copartition_problem("d", 8, "c", None) is None  # no metadata yet: not a reason to stop
    assert copartition_problem("d", None, "c", 4) is None
    assert "they have 8 and 4" in copartition_problem("d", 8, "c", 4)


@pytest.mark.kafka
def test_the_fetch_wait_cap_reaches_the_fetcher(kafka_broker: EmbeddedBroker) -> None:
    """The cap sets a private aiokafka attribute: if aiokafka renames it, this fails instead
    of every topic hop silently waiting up to Faust's 1.5 s again."""
    async def fetcher_wait_ms() -> int:
        consumer = cap_fetch_wait(AIOKafkaConsumer("fetch-cap-probe",
                                                   bootstrap_servers=kafka_broker.bootstrap))
        await consumer.start()
        try:
            return consumer._fetcher._fetch_max_wait_ms
        finally:
            await consumer.stop()

    assert asyncio.run(fetcher_wait_ms()) == FETCH_MAX_WAIT_S * 1000


@pytest.mark.kafka
def test_missing_topics_are_created_at_the_configured_size_and_existing_ones_kept(
        kafka_broker: EmbeddedBroker) -> None:
    """Not the broker's own default size for topics it creates on first sight."""
    create_topics(kafka_broker, {"sized.kept": 2})
    names = ["sized.kept", "sized.new", "sized.new"]

    async def partitions() -> dict[str, int | None]:
        await ensure_topics([kafka_broker.bootstrap], TopicConfig(partitions=3), names)
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_broker.bootstrap)
        await consumer.start()
        try:
            await consumer.topics()  # refreshes the cluster metadata
            return {name: len(consumer.partitions_for_topic(name) or ()) for name in names}
        finally:
            await consumer.stop()

    assert asyncio.run(partitions()) == {"sized.kept": 2, "sized.new": 3}
