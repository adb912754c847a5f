"""The real embedded broker for the test session, worker subprocesses, and Kafka helpers.

``tests/conftest.py`` imports the fixture: ``from tests.kafka_fixtures import kafka_broker``.

Delivery-mechanics tests run a real worker against the real broker with *recording* handlers
(``python -m tests.kafka_fixtures``): every call is appended to a JSON-lines file the test
reads, so ordering, dead-lettering, timers and partition sharing are checked without a
database. End-to-end tests run the real worker (``python -m rehabwatch.worker worker``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from rehabwatch.broker import EmbeddedBroker, free_port
from schemas.alert_records import Alert, AlertEvent, AlertStatus, Severity
from schemas.daygrid import DayGrid
from schemas.records import DailySummary
from schemas.wire import AlertCheck

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[EmbeddedBroker]:
    """One embedded Tansu broker for the whole test session."""
    with EmbeddedBroker() as broker:
        yield broker


# -- worker subprocesses -----------------------------------------------------------------

def worker_env(broker: EmbeddedBroker, name: str, tmp: Path, **extra: str) -> dict[str, str]:
    """Environment of a worker whose topics and consumer group are private to ``name``,
    with short timeouts so that a killed worker's partitions move on within seconds."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "RW_KAFKA_URL": broker.url,
           "RW_STREAM_APP_ID": f"rw-{name}", "RW_STREAM_DATADIR": str(tmp / "faust"),
           "RW_KAFKA_SESSION_TIMEOUT_S": "6", "RW_STREAM_COMMIT_INTERVAL_S": "0.5",
           "RW_GAUGES_EVERY_S": "1", "RW_LOG_LEVEL": "info", "RW_TOPIC_PARTITIONS": "4"}
    for topic in ("daygrids", "daily", "candidates", "events", "deadletter"):
        env[f"RW_TOPIC_{topic.upper()}"] = f"{name}.{topic}"
    env.update(extra)
    return env


class Worker:
    """A worker subprocess; its output goes to a log file the test can read."""

    def __init__(self, env: dict[str, str], log: Path, module: str = "rehabwatch.worker") -> None:
        self.env = {**env, "RW_WORKER_WEB_PORT": str(free_port())}
        self.log = log
        self.web_port = int(self.env["RW_WORKER_WEB_PORT"])
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", module, "worker"], cwd=REPO,
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def wait_assigned(self, times: int = 1, timeout: float = 40.0) -> None:
        """Until the worker has been given partitions ``times`` times (once per rebalance)."""
        wait_for(lambda: self.log.read_text(errors="replace").count("Worker ready") >= times,
                 timeout, self.tail)

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def kill(self) -> None:
        """SIGKILL: no clean leave, no final commit."""
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(check: Callable[[], Any], timeout: float, message: str = "timed out") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(message() if callable(message) else message)


# -- Kafka helpers -----------------------------------------------------------------------

Record = tuple[str, bytes]  # key, value


def create_topics(broker: EmbeddedBroker, partitions: dict[str, int]) -> None:
    """Create each topic with its partition count."""
    async def run() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, n, 1) for name, n in partitions.items()])
        finally:
            await admin.close()
    asyncio.run(run())


def produce(broker: EmbeddedBroker, topic: str, records: Sequence[Record]) -> None:
    """Publish ``records`` in order and wait until the broker has them all."""
    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)
        await producer.start()
        try:
            for key, value in records:
                await producer.send(topic, value, key=key.encode())
            await producer.flush()
        finally:
            await producer.stop()
    asyncio.run(run())


def consume(broker: EmbeddedBroker, topic: str, n: int, timeout: float = 20.0
            ) -> list[tuple[bytes, bytes, dict[str, bytes]]]:
    """The first ``n`` messages of ``topic`` (key, value, headers), from the beginning."""
    async def run() -> list[tuple[bytes, bytes, dict[str, bytes]]]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        out: list[tuple[bytes, bytes, dict[str, bytes]]] = []
        try:
            deadline = time.monotonic() + timeout
            while len(out) < n and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                out += [(m.key, m.value, dict(m.headers)) for ms in batch.values() for m in ms]
        finally:
            await consumer.stop()
        return out
    return asyncio.run(run())


# -- recording handlers (the fake worker) ------------------------------------------------

def recorded_event(check: AlertCheck) -> AlertEvent:
    """The alert event the recording handlers give for ``check``."""
    rule = "missing_data" if check.trigger == "missing-data" else "underactivity"
    alert = Alert(f"al_{check.patient_id}_{rule}", check.patient_id, rule, "clinician",
                  Severity.WARNING, AlertStatus.OPEN, check.as_of,
                  datetime.combine(check.as_of, datetime.min.time(), timezone.utc), "recorded")
    return AlertEvent("opened", alert, notifies=True)


class Recorder:
    """Handlers that append each call to a JSON-lines file; grids of ``poison*`` patients
    fail, like a database constraint would, and evaluations of ``sick*`` patients fail, like
    a bug in a rule would: each fails the whole batch it is in."""

    def __init__(self, path: Path, silent_ids: Sequence[str]) -> None:
        self.path, self.silent_ids = path, list(silent_ids)
        self.lock = threading.RLock()
        self.busy = 0

    def write(self, lines: list[dict[str, Any]]) -> None:
        with self.lock, open(self.path, "a") as out:
            out.writelines(json.dumps({**line, "worker": os.getpid()}, default=str) + "\n"
                           for line in lines)

    @contextmanager
    def _alone(self) -> Iterator[None]:
        """Record an ``overlap`` call when a handler starts while another one runs: the
        agents hand the handlers one batch at a time."""
        with self.lock:
            if self.busy:
                self.write([{"call": "overlap"}])
            self.busy += 1
        try:
            yield
        finally:
            with self.lock:
                self.busy -= 1

    def summarize(self, grids: Sequence[DayGrid]) -> list[DailySummary]:
        with self._alone():
            return self._summarize(grids)

    def evaluate(self, checks: Sequence[AlertCheck], now: datetime) -> list[AlertEvent]:
        with self._alone():
            return self._evaluate(checks)

    def _summarize(self, grids: Sequence[DayGrid]) -> list[DailySummary]:
        if any(g.patient_id.startswith("poison") for g in grids):
            raise ValueError("poison grid")
        self.write([{"call": "grid", "patient": g.patient_id, "day": g.local_date,
                     "steps": g.total_steps} for g in grids])
        return [DailySummary(g.patient_id, g.local_date, g.total_steps, True, True, 0, 0,
                             "test", g.resolution_s) for g in grids]

    def _evaluate(self, checks: Sequence[AlertCheck]) -> list[AlertEvent]:
        if any(c.patient_id.startswith("sick") for c in checks):
            raise ValueError("sick evaluation")
        self.write([{"call": "check", "patient": c.patient_id, "day": c.as_of,
                     "trigger": c.trigger} for c in checks])
        return [recorded_event(c) for c in checks]

    def silent(self, now: datetime) -> list[tuple[str, date]]:
        return [(pid, now.date()) for pid in self.silent_ids]

    def notify(self, events: Sequence[Any], now: datetime) -> None:
        self.write([{"call": "notify", "patient": e.patient_id, "rule": e.rule,
                     "alert": e.alert_id} for e in events])

    def deliver_due(self, now: datetime) -> None:
        self.write([{"call": "deliver_due", "at": now}])

    def calls(self, kind: str) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        lines = [json.loads(line) for line in self.path.read_text().splitlines() if line]
        return [line for line in lines if line["call"] == kind]


def recorder_handlers(recorder: Recorder) -> Any:
    from processors.sensors import Gauges
    from processors.stream import Handlers

    return Handlers(recorder.summarize, recorder.evaluate, recorder.silent, recorder.notify,
                    recorder.deliver_due,
                    lambda: Gauges({("underactivity", "warning"): 1}, 3,
                                   {("clinician", "failed"): 2}),
                    clock=lambda: datetime.now(timezone.utc))


def main() -> None:
    """``python -m tests.kafka_fixtures worker``: a real worker with recording handlers
    (``RW_TEST_RECORD``: the JSON-lines file; ``RW_TEST_SILENT``: patients the scan finds)."""
    from processors.stream import run_worker
    from rehabwatch.metrics import PrometheusSensors
    from rehabwatch.settings import load

    silent = [p for p in os.environ.get("RW_TEST_SILENT", "").split(",") if p]
    run_worker(load().stream, recorder_handlers(Recorder(Path(os.environ["RW_TEST_RECORD"]),
                                                         silent)), PrometheusSensors())


if __name__ == "__main__":
    main()
